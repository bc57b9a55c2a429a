"""Cue points: first and last sound, intro end, outro start and vocal onset.

Two kinds of evidence locate where a song "arrives" and where its ending begins:

- **level**: the frame level smoothed over 1 s against the body level of the song
  (the 60th percentile between first and last sound). A soft intro ends where the
  level first comes within 3 dB of the body; an outro starts where it last does.
- **novelty**: Foote's checkerboard novelty on a self-similarity matrix of
  bar-long log-mel summaries: a peak is a point where the sound changes (drums
  enter, the riff changes, the chorus starts).

The intro ends at the candidate (novelty peaks in the first 40 %, and the level
arrival; at least 2 bars and 4 s in) after which the next 8 bars (at least 10 s)
are loudest relative to everything before it,
if that step is at least 1.5 dB; without such a step, at the first novelty peak.
The outro start mirrors this at the end. Every cue is snapped to the nearest
downbeat (or beat when there are no downbeats), and kept inside the first
(intro) or last (outro) half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from segue.analysis.spectral import Frames

F64 = npt.NDArray[np.float64]

SILENCE_DB = -60.0
ARRIVAL_DROP_DB = 3.0
#: A novelty peak counts as a boundary above this (the novelty is scaled to 0–1).
NOVELTY_THRESHOLD = 0.3
#: A boundary where the level steps up (intro) or down (outro) at least this much wins.
MIN_ARRIVAL_GAIN_DB = 1.5


@dataclass(frozen=True)
class Cues:
    """Cue points in seconds of the track; ``vocal_onset_s`` is ``None`` when unknown."""

    first_sound_s: float
    last_sound_s: float
    intro_end_s: float
    outro_start_s: float
    vocal_onset_s: float | None = None
    vocal_confidence: float = 0.0


def snap(t: float, grid: tuple[float, ...] | F64) -> float:
    """The grid point nearest to ``t`` (``t`` itself when the grid is empty)."""
    arr = np.asarray(grid, dtype=np.float64)
    if arr.size == 0:
        return t
    return float(arr[np.argmin(np.abs(arr - t))])


def smoothed_level_db(rms_db: npt.NDArray[np.float32], fps: float, smooth_s: float = 1.0) -> F64:
    """Frame levels power-averaged over ``smooth_s`` (centred), in dB."""
    width = max(1, round(smooth_s * fps))
    power = 10.0 ** (rms_db.astype(np.float64) / 10.0)
    mean = np.convolve(power, np.ones(width) / width, mode="same")
    out: F64 = 10.0 * np.log10(np.maximum(mean, 1e-12))
    return out


def novelty(frames: Frames, bar_s: float) -> tuple[F64, F64]:
    """Foote novelty over half-bar summaries of the log-mel spectrum and level.

    Returns the times (s) of the half-bar boundaries and the novelty at each, scaled
    so the largest peak is 1. The checkerboard kernel spans 4 bars each side.
    """
    fps = frames.fps
    step = max(1, round(bar_s / 2 * fps))
    n = len(frames.mel_db) // step
    if n < 8:
        return np.zeros(0), np.zeros(0)
    mel = frames.mel_db[: n * step].reshape(n, step, -1).mean(axis=1).astype(np.float64)
    feats = mel - mel.mean(axis=1, keepdims=True)
    feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-9)
    level = mel.mean(axis=1, keepdims=True) / 20.0  # loudness changes matter too
    feats = np.concatenate([feats, level], axis=1)
    half = min(8, n // 4)
    sign = np.concatenate([-np.ones(half), np.ones(half)])
    kernel = np.outer(sign, sign) * -1.0  # cross-blocks count positive
    taper = np.hanning(2 * half + 2)[1:-1]
    kernel *= np.outer(taper, taper)
    # Only the band of the self-similarity matrix under the kernel is needed.
    padded = np.pad(feats, ((half, half), (0, 0)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half, axis=0)[:n]
    windows = windows.transpose(0, 2, 1)  # (n, 2*half, dims)
    sq = (windows**2).sum(axis=2)
    gram = np.einsum("nid,njd->nij", windows, windows)
    dist = np.sqrt(np.maximum(sq[:, :, None] + sq[:, None, :] - 2.0 * gram, 0.0))
    nov = (dist * kernel).sum(axis=(1, 2))
    nov = np.maximum(nov, 0.0)
    times: F64 = np.arange(n) * step / fps
    # The step from silence into the song (and out of it) is no structural change:
    # scale by the largest peak between one bar after the first and before the last sound.
    audible = np.flatnonzero(frames.rms_db > SILENCE_DB)
    if len(audible):
        first, last = audible[0] / fps, audible[-1] / fps
        nov[(times < first + bar_s) | (times > last - bar_s)] = 0.0
    if nov.max() > 0:
        nov /= nov.max()
    return times, nov


def _peaks(values: F64, threshold: float) -> npt.NDArray[np.intp]:
    inner = (values[1:-1] >= values[:-2]) & (values[1:-1] > values[2:]) & (
        values[1:-1] >= threshold
    )
    out: npt.NDArray[np.intp] = np.flatnonzero(inner) + 1
    return out


def vocal_onset(frames: Frames, first_s: float, last_s: float) -> tuple[float | None, float]:
    """Where a voice probably enters, and a 0–1 confidence (``None``, 0 when unsure).

    A heuristic without a model: a voice adds sustained, harmonic energy in the
    300–3000 Hz band. The log-mel spectrum is smoothed along time (a 0.5 s median
    keeps sustained tones, drops drum hits); the band's excess over the rest of the
    spectrum is compared with its level over the first 10 % of the song. The onset
    is the first moment, at least 2 s in, that the excess rises 4 dB above the intro
    level and holds for 4 s; the confidence grows with the rise (4 dB: 0.2, 10 dB or
    more: 0.6): without a voice model it never claims certainty.
    """
    fps = frames.fps
    mel = frames.mel_db.astype(np.float64)
    if len(mel) < 10 * fps:
        return None, 0.0
    # Mel band centres: recompute from the same layout as the front end.
    n_mels = mel.shape[1]
    edges = np.linspace(2595 * np.log10(1 + 30 / 700), 2595 * np.log10(1 + 5000 / 700), n_mels + 2)
    centres = 700 * (10 ** (edges[1:-1] / 2595) - 1)
    band = (centres >= 300) & (centres <= 3000)
    step = max(1, round(0.25 * fps))
    n = len(mel) // step
    coarse = mel[: n * step].reshape(n, step, n_mels)
    sustained = np.median(coarse, axis=1)  # drums are short: the median ignores them
    excess = sustained[:, band].mean(axis=1) - sustained[:, ~band].mean(axis=1)
    times = np.arange(n) * step / fps
    inside = (times >= first_s) & (times <= last_s)
    if inside.sum() < 20:
        return None, 0.0
    idx = np.flatnonzero(inside)
    intro = idx[: max(4, len(idx) // 10)]
    base = float(np.median(excess[intro]))
    hold = max(1, round(4.0 / (step / fps)))
    above = (excess[idx] > base + 4.0) & (times[idx] >= first_s + 2.0)
    run = np.convolve(above.astype(float), np.ones(hold), mode="valid") >= hold
    if not run.any():
        return None, 0.0
    k = idx[int(np.argmax(run))]
    rise = float(np.median(excess[k : k + hold]) - base)
    confidence = float(np.clip(0.2 + (rise - 4.0) * 0.066, 0.0, 0.6))
    return round(float(times[k]), 3), round(confidence, 2)


def find_cues(
    frames: Frames,
    duration_s: float,
    *,
    beat_times_s: tuple[float, ...] = (),
    downbeat_times_s: tuple[float, ...] = (),
    bpm: float = 0.0,
) -> Cues:
    """Find first/last sound, intro end, outro start and the vocal onset.

    Parameters
    ----------
    frames : the per-frame features of the track.
    duration_s : length of the track.
    beat_times_s, downbeat_times_s : the grid the cues snap to.
    bpm : tempo; sets the bar length of the novelty analysis (4 s bars when 0).

    """
    fps = frames.fps
    times = frames.times_s
    audible = np.flatnonzero(frames.rms_db > SILENCE_DB)
    if len(audible) == 0:
        return Cues(0.0, duration_s, 0.0, duration_s)
    first = float(times[audible[0]])
    last = float(min(duration_s, times[audible[-1]]))
    grid = downbeat_times_s if len(downbeat_times_s) >= 4 else beat_times_s
    bar_s = 4 * 60.0 / bpm if bpm > 0 else 4.0
    level = smoothed_level_db(frames.rms_db, fps)
    body = float(np.percentile(level[audible[0] : audible[-1] + 1], 60))
    arrived = np.flatnonzero(level >= body - ARRIVAL_DROP_DB)
    middle = first + (last - first) / 2.0
    intro_end = float(times[arrived[0]]) if len(arrived) else first
    outro_start = float(times[arrived[-1]]) if len(arrived) else last
    nov_t, nov = novelty(frames, bar_s)
    peaks = [float(nov_t[p]) for p in _peaks(nov, NOVELTY_THRESHOLD)] if len(nov) else []
    span = max(8 * bar_s, 10.0)
    lead = max(2 * bar_s, 4.0)  # a shorter "before" is too little to compare with

    def mean_db(a: float, b: float) -> float:
        sel = level[(times >= a) & (times < b)]
        return float(10.0 * np.log10(np.mean(10.0 ** (sel / 10.0)))) if len(sel) else -120.0

    # The song arrives at the boundary after which it is loudest relative to before.
    early = [t for t in peaks if first + lead <= t <= first + 0.4 * (last - first)]
    gains = [(mean_db(t, t + span) - mean_db(first, t), t) for t in [*early, intro_end]
             if t >= first + lead]
    best_gain = max((g for g, _ in gains), default=0.0)
    if best_gain >= MIN_ARRIVAL_GAIN_DB:
        intro_end = max(gains)[1]
    elif early:
        intro_end = early[0]  # no step in level: the first clear change in sound
    # The ending begins at the boundary after which it is quietest relative to before.
    late = [t for t in peaks if last - 0.4 * (last - first) <= t <= last - lead]
    drops = [(mean_db(t - span, t) - mean_db(t, last), t) for t in [*late, outro_start]
             if t <= last - lead]
    best_drop = max((g for g, _ in drops), default=0.0)
    if best_drop >= MIN_ARRIVAL_GAIN_DB:
        outro_start = max(drops)[1]
    elif late:
        outro_start = late[-1]
    intro_end = snap(min(max(intro_end, first), middle), grid)
    outro_start = snap(max(min(outro_start, last), middle), grid)
    vocal_s, vocal_conf = vocal_onset(frames, first, last)
    return Cues(
        first_sound_s=round(first, 3),
        last_sound_s=round(last, 3),
        intro_end_s=round(max(first, min(intro_end, middle)), 3),
        outro_start_s=round(min(last, max(outro_start, middle)), 3),
        vocal_onset_s=vocal_s,
        vocal_confidence=vocal_conf,
    )
