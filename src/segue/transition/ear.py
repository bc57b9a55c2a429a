"""Beatmatching by ear: check and refine a grid-based alignment with the audio itself.

A beat grid fitted to a whole track is exact where the music was made to a click,
but players drift: near the end of a song the real tempo can be 1 % off the
average and the grid tens of milliseconds off the beat, which is exactly where
the next track comes in. Before a beatmatched overlap is fixed, the mixer listens
to both tracks there: :func:`local_beat_s` checks that each one has an audible
beat near the period its grid says (from the autocorrelation of the low-band
onset envelope, eight beats apart), and :func:`beat_phase_s` tracks each one's
beats there at that period (librosa's dynamic-programming beat tracker), so the
incoming track can be moved until its beats fall on the outgoing track's. Where a
track's beats are too irregular to trust, :func:`refine_offset_s` finds the
shift, within a quarter beat, that lines the two tracks' kick and bass onsets up
best.
"""

from __future__ import annotations

import logging

import librosa
import numpy as np

from segue.mixing.source import SegmentReader
from segue.models import FloatArray, Segment

log = logging.getLogger(__name__)

#: Rate and hop of the envelopes: 128 samples at 22.05 kHz is a 5.8 ms grid.
ALIGN_SR = 22050
ALIGN_HOP = 128
#: The best lag must beat the average correlation by this factor to be trusted.
MIN_PEAK_RATIO = 1.5
#: Fewest tracked beats, and least agreement of their phases (the length of their
#: mean phase vector, 0–1), for a beat phase to be trusted.
MIN_PHASE_BEATS = 8
MIN_PHASE_AGREEMENT = 0.6


def _audio(path: str, start_s: float, end_s: float, rate: float) -> FloatArray:
    """Mono samples of ``path`` from ``start_s`` to ``end_s`` (source time), played at ``rate``."""
    seg = Segment(mix_start_s=0.0, source_start_s=max(0.0, start_s), source_end_s=end_s,
                  rate=rate)
    reader = SegmentReader(path, seg, ALIGN_SR)
    try:
        audio = reader.read(reader.start, reader.stop)
    finally:
        reader.close()
    mono: FloatArray = audio.mean(axis=0)
    return mono


def _envelope(y: FloatArray) -> FloatArray:
    env = librosa.onset.onset_strength(y=y, sr=ALIGN_SR, hop_length=ALIGN_HOP, fmax=250, n_mels=32)
    centred: FloatArray = (env - env.mean()).astype(np.float32)
    return centred


def local_beat_s(
    path: str, start_s: float, end_s: float, prior_beat_s: float, *, tolerance: float = 0.04
) -> float | None:
    """The beat period (seconds) of ``path`` between two source times, by ear.

    Parameters
    ----------
    path, start_s, end_s : the file and the stretch to listen to (15–30 s is right).
    prior_beat_s : the beat period the grid says; the answer stays within
        ``tolerance`` (relative) of it, so only tempo drift is corrected, never an
        octave.

    Returns ``None`` when there is no clear periodic pulse near the prior there.
    """
    y = _audio(path, start_s, end_s, 1.0)
    env = _envelope(y)
    frames_per_beat = prior_beat_s * ALIGN_SR / ALIGN_HOP
    for beats in (8, 4):
        centre = beats * frames_per_beat
        lo, hi = int(centre * (1 - tolerance)), int(np.ceil(centre * (1 + tolerance)))
        if hi + 2 >= len(env) // 2:
            continue
        lags = np.arange(max(1, lo - 1), hi + 2)
        ac = np.array([float(np.dot(env[:-k], env[k:])) for k in lags])
        best = int(np.argmax(ac[1:-1])) + 1
        # A real period is a peak inside the window, well above the average: a
        # maximum at its edge means the grid's tempo is not what is heard at all.
        edge = best in (1, len(ac) - 2)
        if edge or ac[best] <= 0 or ac[best] < MIN_PEAK_RATIO * float(np.mean(np.abs(ac))):
            return None
        # A parabola through the peak and its neighbours places it between frames.
        a, b, c = ac[best - 1], ac[best], ac[best + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
        return float((lags[best] + shift) * ALIGN_HOP / ALIGN_SR / beats)
    return None


def beat_phase_s(
    path: str, start_s: float, end_s: float, *, rate: float, beat_s: float
) -> tuple[float, float] | None:
    """Where the beats fall in a stretch of ``path`` played at ``rate``, by ear.

    Parameters
    ----------
    path, start_s, end_s : the file and the stretch (source seconds; 15–30 s is right).
    rate : playback-speed factor (the stretch the mixer plays it at).
    beat_s : the beat period as heard at that rate (mix seconds), from
        :func:`local_beat_s`; the tracker follows this period and only finds the phase.

    Returns
    -------
    ``(phase_s, agreement)``: the first beat's time after the start of the stretch in
    mix seconds, in ``[0, beat_s)``, as the circular mean of every tracked beat's
    phase (sub-frame precise, robust to a beat the tracker misplaces), and how well
    the beats agree on it (1: all on one phase). ``None`` when fewer than
    :data:`MIN_PHASE_BEATS` beats are found or they agree less than
    :data:`MIN_PHASE_AGREEMENT`.
    """
    y = _audio(path, start_s, end_s, rate)
    if len(y) < 4 * beat_s * ALIGN_SR:
        return None
    _, frames = librosa.beat.beat_track(y=y, sr=ALIGN_SR, hop_length=ALIGN_HOP,
                                        bpm=60.0 / beat_s, tightness=400, trim=False)
    times = librosa.frames_to_time(frames, sr=ALIGN_SR, hop_length=ALIGN_HOP)
    if len(times) < MIN_PHASE_BEATS:
        return None
    vector = np.mean(np.exp(2j * np.pi * times / beat_s))
    agreement = float(np.abs(vector))
    if agreement < MIN_PHASE_AGREEMENT:
        return None
    phase = float(np.angle(vector)) / (2 * np.pi) * beat_s % beat_s
    return phase, agreement


def refine_offset_s(
    prev_path: str,
    prev_end_src_s: float,
    next_path: str,
    next_start_src_s: float,
    *,
    overlap_s: float,
    stretch: float,
    beat_s: float,
    context_s: float = 8.0,
) -> float:
    """How much later (seconds, may be negative) the incoming track should start.

    Parameters
    ----------
    prev_path, prev_end_src_s : the outgoing file and where it stops (source time).
    next_path, next_start_src_s : the incoming file and where it starts.
    overlap_s : planned overlap in mix seconds.
    stretch : the incoming track's playback rate during the overlap.
    beat_s : the outgoing beat period; the search spans a quarter beat either way
        (a grid is trusted that far; half a beat would let off-beats win).
    context_s : seconds compared (the overlap, extended to at least this).

    Returns 0.0 when the audio gives no clear answer (no steady low-band pulse).
    """
    span = max(overlap_s, context_s)
    # The outgoing track as heard over the last `span` seconds before it stops...
    out_y = _audio(prev_path, prev_end_src_s - span, prev_end_src_s, 1.0)
    # ...and the incoming track over its first `span` mix seconds (stretched).
    in_y = _audio(next_path, next_start_src_s, next_start_src_s + span * stretch, stretch)
    # Compare where both play: the incoming starts `overlap_s` before the outgoing stops.
    lead = round((span - overlap_s) * ALIGN_SR)
    a = _envelope(out_y[lead:]) if lead < len(out_y) else np.zeros(0, np.float32)
    b = _envelope(in_y)
    half = int(beat_s / 4 * ALIGN_SR / ALIGN_HOP)
    n = min(len(a), len(b))
    if n < 4 * half or half < 2:
        return 0.0
    a, b = a[:n], b[:n]
    scores = np.array([
        float(np.dot(a[max(0, k) : n + min(0, k)], b[max(0, -k) : n + min(0, -k)]))
        for k in range(-half, half + 1)
    ])  # fmt: skip
    best = int(np.argmax(scores))
    spread = float(np.mean(np.abs(scores))) or 1.0
    if scores[best] < MIN_PEAK_RATIO * spread:
        log.debug("no clear beat alignment between %s and %s", prev_path, next_path)
        return 0.0
    # Lag k > 0: the incoming onsets match the outgoing ones k frames later, so the
    # incoming track must start k frames later.
    return (best - half) * ALIGN_HOP / ALIGN_SR
