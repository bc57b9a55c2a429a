"""The block renderer: walks the mix clock and yields limited PCM blocks.

For each block it sums the segments of the tracks that sound in it (each read
from its own streaming decoder), applies each track's gain and fades, ducks the
music under the voice, adds the speech and passes the sum through the
true-peak limiter. Decoders open when their segment starts and close when it
ends, so memory stays flat however long the mix is.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import numpy as np
from scipy.signal import butter, sosfilt, sosfilt_zi

from segue.analysis.loudness import HIGH_PASS_HZ
from segue.config import Settings
from segue.mixing.dsp import PeakLimiter, duck_gain_db, fade_in_gain, fade_out_gain
from segue.mixing.source import SegmentReader
from segue.models import FloatArray, Timeline, TimelineLink, TimelineTrack

log = logging.getLogger(__name__)

#: Ramp at joins between segments of one track (bed loops, end of a stretch).
JOIN_RAMP_S = 0.005
#: Every track is high-passed at HIGH_PASS_HZ: real files carry DC offsets (one of
#: Debian's singularity pieces sits at +0.4) and rumble that eat headroom, thump at
#: the edges of a fade and fool the ducking, while nobody hears them. The loudness
#: meter models the limiter on the same filtered signal.


class Renderer:
    """The mix clock, rendered block by block from tracks and links put on it as the show goes.

    The show engine :meth:`put_track` s each track shortly before it is heard (and
    again when its fade-out is decided, or when a skip cuts it short) and
    :meth:`put_link` s each link with its speech; :meth:`render` then mixes the next
    samples. A track or link whose end has been rendered is dropped with its
    decoders, so memory is what sounds now, however long the show runs.

    Parameters
    ----------
    settings : levels (ducking, ceiling).
    sr : sample rate of the mix.
    voice : ``False`` renders without speech and without ducking.
    music : ``False`` renders the speech alone.
    ceiling_dbfs : true-peak ceiling of the limiter (default: the settings').
    """

    def __init__(
        self, settings: Settings, *, sr: int, voice: bool = True, music: bool = True,
        ceiling_dbfs: float | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.sr = sr
        self.voice = voice
        self.music = music
        ceiling = settings.ceiling_dbfs if ceiling_dbfs is None else ceiling_dbfs
        self.limiter = PeakLimiter(ceiling_dbfs=ceiling, sr=sr)
        #: Samples mixed so far (the limiter hands them out :attr:`PeakLimiter.delay` later).
        self.position = 0
        self._tracks: dict[int, TimelineTrack] = {}
        self._links: dict[int, tuple[TimelineLink, FloatArray]] = {}
        self._readers: dict[tuple[int, int], SegmentReader] = {}
        self._filters: dict[int, FloatArray] = {}
        self._reported: set[tuple[int, int]] = set()
        self._join = max(1, round(JOIN_RAMP_S * sr))
        self._high_pass = butter(2, HIGH_PASS_HZ, btype="highpass", fs=sr, output="sos")

    def put_track(self, key: int, track: TimelineTrack) -> None:
        """Add track ``key``, or replace it (a decided fade-out, a cut); its decoders stay."""
        self._tracks[key] = track

    def remove_track(self, key: int) -> None:
        """Take back track ``key`` (not yet heard), closing any decoder it opened."""
        self._tracks.pop(key, None)
        self._filters.pop(key, None)
        for rk in [rk for rk in self._readers if rk[0] == key]:
            self._readers.pop(rk).close()

    def put_link(self, key: int, link: TimelineLink, samples: FloatArray) -> None:
        """Add the speech of link ``key`` at ``link.start_s`` (ducking the music under it)."""
        if self.voice:
            self._links[key] = (link, samples)

    def remove_link(self, key: int) -> None:
        """Take back link ``key`` (not yet heard)."""
        self._links.pop(key, None)

    def render(self, n: int) -> FloatArray:
        """Mix the next ``n`` samples; return the limited output that is ready (may be shorter)."""
        b0, sr = self.position, self.sr
        bus = np.zeros((2, n), dtype=np.float32)
        if self.music:
            for key, tr in list(self._tracks.items()):
                _mix_track(bus, tr, key, b0, sr, self._readers, self._join, self._high_pass,
                           self._filters)  # fmt: skip
        self._duck_and_speak(bus, b0)
        self.position += n
        self._drop_finished()
        return self.limiter.process(bus)

    def _duck_and_speak(self, bus: FloatArray, b0: int) -> None:
        s, sr, n = self.settings, self.sr, bus.shape[1]
        lo_s, hi_s = b0 / sr, (b0 + n) / sr
        near = [(lk.start_s, lk.end_s, lk.duck_db) for lk, _ in self._links.values()
                if lk.start_s - s.duck_down_s < hi_s and lk.end_s + s.duck_up_s > lo_s]
        if near:
            times = (b0 + np.arange(n)) / sr
            gain_db = duck_gain_db(times, near, down_s=s.duck_down_s, up_s=s.duck_up_s)
            bus *= (10 ** (gain_db / 20)).astype(np.float32)
        for link, samples in self._links.values():
            v0 = round(link.start_s * sr)
            lo, hi = max(b0, v0), min(b0 + n, v0 + len(samples))
            if lo < hi:
                bus[:, lo - b0 : hi - b0] += samples[lo - v0 : hi - v0][None, :]

    def _drop_finished(self) -> None:
        now_s = self.position / self.sr
        for key in [k for k, tr in self._tracks.items() if tr.end_s < now_s]:
            self.remove_track(key)
        tail = self.settings.duck_up_s
        for key in [k for k, (lk, _) in self._links.items() if lk.end_s + tail < now_s]:
            del self._links[key]

    def take_failed(self) -> list[int]:
        """Keys of tracks whose decoder ran dry more than a second early, each reported once.

        The caller (the show engine) skips such a track and takes it out of play,
        so a file deleted, truncated or damaged mid-show is no long silence.
        """
        failed: set[int] = set()
        for rk, reader in self._readers.items():
            if reader.ran_dry and rk not in self._reported and reader.pos < reader.stop - self.sr:
                self._reported.add(rk)
                failed.add(rk[0])
        return sorted(failed)

    def flush(self) -> FloatArray:
        """The output the limiter still holds back (call once, at the end)."""
        return self.limiter.flush()

    def close(self) -> None:
        """Stop every decoder."""
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()


def render_blocks(
    timeline: Timeline,
    settings: Settings,
    *,
    block_s: float = 0.5,
    voice: bool = True,
    music: bool = True,
    ceiling_dbfs: float | None = None,
) -> Iterator[FloatArray]:
    """Yield a whole timeline as float32 blocks of shape ``(2, n)``, in order.

    Parameters
    ----------
    timeline : where every track segment and link sits.
    settings : levels (ducking, ceiling).
    block_s : block length in seconds (the last block is shorter).
    voice : ``False`` renders without speech and without ducking.
    music : ``False`` renders the speech alone.
    ceiling_dbfs : true-peak ceiling of the limiter (default: the settings').
    """
    sr = timeline.sr
    total = round(timeline.duration_s * sr)
    block = max(1, round(block_s * sr))
    renderer = Renderer(settings, sr=sr, voice=voice, music=music, ceiling_dbfs=ceiling_dbfs)
    for key, tr in enumerate(timeline.tracks):
        renderer.put_track(key, tr)
    if voice:
        for key, (lk, sp) in enumerate(zip(timeline.links, timeline.speech, strict=True)):
            renderer.put_link(key, lk, sp.samples)
    try:
        for b0 in range(0, total, block):
            out = renderer.render(min(block, total - b0))
            if out.shape[1]:
                yield out
        tail = renderer.flush()
        if tail.shape[1]:
            yield tail
    finally:
        renderer.close()


def _mix_track(
    bus: FloatArray,
    tr: TimelineTrack,
    idx: int,
    b0: int,
    sr: int,
    readers: dict[tuple[int, int], SegmentReader],
    join: int,
    high_pass: FloatArray,
    filters: dict[int, FloatArray],
) -> None:
    """Add the part of track ``tr`` that sounds in the block starting at sample ``b0``.

    ``filters`` keeps each track's high-pass state from block to block.
    """
    n = bus.shape[1]
    t0, t1 = round(tr.start_s * sr), round(tr.end_s * sr)
    if t1 <= b0 or t0 >= b0 + n:
        return
    lo, hi = max(b0, t0), min(b0 + n, t1)
    buf = _read_segments(tr, idx, lo, hi, t1, sr, readers, join)
    state = filters.get(idx)
    if state is None:  # start settled on the first sample, so a DC offset does not thump
        state = sosfilt_zi(high_pass)[:, None, :] * buf[None, :, :1]
    filtered, filters[idx] = sosfilt(high_pass, buf, axis=1, zi=state)
    if hi >= t1:
        filters.pop(idx, None)
    gain = _track_gain(tr, lo, hi, t0, t1, sr)
    bus[:, lo - b0 : hi - b0] += filtered.astype(np.float32) * gain


def _read_segments(
    tr: TimelineTrack, idx: int, lo: int, hi: int, t1: int, sr: int,
    readers: dict[tuple[int, int], SegmentReader], join: int,
) -> FloatArray:  # fmt: skip
    """The track's samples for mix positions ``[lo, hi)``, from its segments' decoders.

    A decoder opens when its segment starts and closes when it ends; internal joins
    (bed loops, the end of a stretch) get :data:`JOIN_RAMP_S` ramps so they do not click.
    """
    buf = np.zeros((2, hi - lo), dtype=np.float32)
    last = len(tr.segments) - 1
    for j, seg in enumerate(tr.segments):
        key = (idx, j)
        s0, s1 = round(seg.mix_start_s * sr), round(seg.mix_end_s * sr)
        if j == last:
            s1 = max(s1, t1)
        if s1 <= lo:
            if key in readers:
                readers.pop(key).close()
            continue
        if s0 >= hi:
            break
        reader = readers.get(key)
        if reader is None:
            reader = readers[key] = SegmentReader(tr.path, seg, sr)
            if reader.pos < lo:  # a reader opened late (first block) catches up
                reader.read(reader.pos, lo)
        a, b = max(lo, s0), min(hi, s1)
        samples = reader.read(a, b)
        pos = np.arange(a, b)
        if j > 0:  # fade in at an internal join
            samples *= np.clip((pos - s0) / join, 0.0, 1.0).astype(np.float32)
        if j < last:
            samples *= np.clip((s1 - pos) / join, 0.0, 1.0).astype(np.float32)
        buf[:, a - lo : b - lo] += samples
        if b >= s1:
            readers.pop(key).close()
    return buf


def _track_gain(tr: TimelineTrack, lo: int, hi: int, t0: int, t1: int, sr: int
                ) -> FloatArray | float:  # fmt: skip
    """The track's gain over ``[lo, hi)``: its level, times its fades where they run."""
    level = math.pow(10.0, tr.gain_db / 20.0)
    t_lo, t_hi = (lo - t0) / sr, (hi - t0) / sr
    length = (t1 - t0) / sr
    fading_in = tr.fade_in_s > 0 and t_lo < tr.fade_in_s
    fading_out = tr.fade_out_s > 0 and t_hi > length - tr.fade_out_s
    if not (fading_in or fading_out):  # most blocks: a constant gain
        return level
    t = (np.arange(lo, hi) - t0) / sr
    gain = np.full(hi - lo, level, dtype=np.float64)
    if fading_in:
        gain *= fade_in_gain(t / tr.fade_in_s)
    if fading_out:
        gain *= fade_out_gain((t - (length - tr.fade_out_s)) / tr.fade_out_s)
    out: FloatArray = gain.astype(np.float32)[None, :]
    return out
