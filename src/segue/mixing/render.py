"""The block renderer: walks the mix clock and yields limited PCM blocks.

Only the tracks that sound in the current block are decoded and held; a track
is dropped once the clock passes its end, so memory depends on the tracks around
the current transition, not on the length of the mix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np

from segue.analysis.decode import decode
from segue.config import Settings
from segue.mixing.dsp import PeakLimiter, duck_gain_db, fade_in_gain, fade_out_gain
from segue.models import FloatArray, Timeline, TimelineTrack

log = logging.getLogger(__name__)

Decoder = Callable[[str, int], FloatArray]


def _decode_stereo(path: str, sr: int) -> FloatArray:
    return decode(path, sr=sr, channels=2)


def render_blocks(
    timeline: Timeline,
    settings: Settings,
    *,
    block_s: float = 0.5,
    decoder: Decoder = _decode_stereo,
    voice: bool = True,
) -> Iterator[FloatArray]:
    """Yield the mix as float32 blocks of shape ``(2, n)``, in order.

    Parameters
    ----------
    timeline : where every track and link sits.
    settings : levels (ducking, ceiling) and the sample rate.
    block_s : block length in seconds (the last block is shorter).
    decoder : ``(path, sr) -> (2, n)`` samples; replaceable for tests.
    voice : ``False`` renders the music bus alone, with no ducking (for analysis).

    """
    sr = timeline.sr
    total = round(timeline.duration_s * sr)
    block = max(1, round(block_s * sr))
    limiter = PeakLimiter(ceiling_dbfs=settings.ceiling_dbfs, sr=sr)
    loaded: dict[int, FloatArray] = {}
    windows = [(lk.start_s, lk.end_s) for lk in timeline.links] if voice else []
    speech = [(round(lk.start_s * sr), s.samples) for lk, s in zip(
        timeline.links, timeline.speech, strict=True)] if voice else []  # fmt: skip
    for b0 in range(0, total, block):
        n = min(block, total - b0)
        music = np.zeros((2, n), dtype=np.float32)
        for idx, tr in enumerate(timeline.tracks):
            t0, t1 = round(tr.start_s * sr), round(tr.end_s * sr)
            if t1 <= b0:
                loaded.pop(idx, None)  # its last sample has played
                continue
            if t0 >= b0 + n:
                continue
            if idx not in loaded:
                log.debug("decoding %s", tr.path)
                loaded[idx] = decoder(tr.path, sr)
            _mix_track(music, loaded[idx], tr, b0, sr)
        if windows:
            times = (b0 + np.arange(n)) / sr
            gain_db = duck_gain_db(times, windows, duck_db=settings.duck_db,
                                   down_s=settings.duck_down_s, up_s=settings.duck_up_s)
            music *= (10 ** (gain_db / 20)).astype(np.float32)
        for v0, samples in speech:
            lo, hi = max(b0, v0), min(b0 + n, v0 + len(samples))
            if lo < hi:
                music[:, lo - b0 : hi - b0] += samples[lo - v0 : hi - v0][None, :]
        out = limiter.process(music)
        if out.shape[1]:
            yield out
    tail = limiter.flush()
    if tail.shape[1]:
        yield tail


def _mix_track(out: FloatArray, source: FloatArray, tr: TimelineTrack, b0: int, sr: int) -> None:
    """Add the part of ``tr`` that falls in the block starting at sample ``b0``."""
    n = out.shape[1]
    t0, t1 = round(tr.start_s * sr), round(tr.end_s * sr)
    lo, hi = max(b0, t0), min(b0 + n, t1)
    src0 = round(tr.source_in_s * sr) + (lo - t0)
    avail = max(0, min(hi - lo, source.shape[1] - src0))
    if avail == 0:
        return
    seg = source[:, src0 : src0 + avail].astype(np.float64)
    t = (np.arange(lo, lo + avail) - t0) / sr
    gain = np.full(avail, 10 ** (tr.gain_db / 20))
    if tr.fade_in_s > 0:
        gain *= fade_in_gain(t / tr.fade_in_s)
    if tr.fade_out_s > 0:
        length = (t1 - t0) / sr
        gain *= fade_out_gain((t - (length - tr.fade_out_s)) / tr.fade_out_s)
    out[:, lo - b0 : lo - b0 + avail] += (seg * gain[None, :]).astype(np.float32)
