"""Pure feature functions over numpy arrays: tempo, key, energy and cue points.

Every function takes samples (mono float32 unless stated) and a sample rate and
returns plain numbers; no I/O happens here, so each can be tested on signals whose
answer is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import numpy.typing as npt

from segue.models import FloatArray

HOP = 512

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Krumhansl–Kessler key profiles (probe-tone ratings), tonic first.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@dataclass(frozen=True)
class TempoEstimate:
    """Tempo in BPM, its 0–1 confidence and the beat grid in seconds."""

    bpm: float
    confidence: float
    beat_times_s: tuple[float, ...]


@dataclass(frozen=True)
class KeyEstimate:
    """Tonic pitch class (0 = C), mode, display name, Camelot code and confidence."""

    tonic: int
    mode: str
    name: str
    camelot: str
    confidence: float


@dataclass(frozen=True)
class Cues:
    """Cue points in seconds of the track."""

    first_sound_s: float
    last_sound_s: float
    intro_end_s: float
    outro_start_s: float


def onset_envelope(y: FloatArray, sr: int) -> npt.NDArray[np.float64]:
    """Onset strength (spectral flux of a log-mel spectrogram), one value per ``HOP``."""
    env: npt.NDArray[np.float64] = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)
    return env


def estimate_tempo(
    y: FloatArray, sr: int, *, onset_env: npt.NDArray[np.float64] | None = None
) -> TempoEstimate:
    """Estimate tempo and beat grid with librosa's dynamic-programming beat tracker.

    The confidence is the normalised autocorrelation of the onset envelope at the
    beat period: close to 1 when onsets repeat strongly at that period, near 0 for
    music without a steady pulse.
    """
    env = onset_envelope(y, sr) if onset_env is None else onset_env
    if len(env) < 8 or not np.any(env > 0):
        return TempoEstimate(bpm=0.0, confidence=0.0, beat_times_s=())
    tempo, beats = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=HOP)
    bpm = float(np.atleast_1d(tempo)[0])
    times = librosa.frames_to_time(beats, sr=sr, hop_length=HOP)
    centered = env - env.mean()
    ac = librosa.autocorrelate(centered)
    confidence = 0.0
    if bpm > 0 and ac[0] > 0:
        lag = round(60.0 / bpm * sr / HOP)
        if 0 < lag < len(ac):
            lo, hi = max(1, lag - 1), min(len(ac), lag + 2)
            confidence = float(np.clip(ac[lo:hi].max() / ac[0], 0.0, 1.0))
    return TempoEstimate(
        bpm=round(bpm, 2), confidence=round(confidence, 3), beat_times_s=tuple(map(float, times))
    )


def camelot_code(tonic: int, mode: str) -> str:
    """Camelot wheel code of a key: C major → ``"8B"``, A minor → ``"8A"``."""
    major_tonic = tonic if mode == "major" else (tonic + 3) % 12
    number = ((major_tonic * 7) % 12 + 7) % 12 + 1
    return f"{number}{'B' if mode == 'major' else 'A'}"


def estimate_key(y: FloatArray, sr: int, *, temperature: float = 0.02) -> KeyEstimate:
    """Estimate key and mode by matching the mean chroma to Krumhansl–Kessler profiles.

    The confidence is the softmax probability of the best of the 24 keys, with the
    Pearson correlations scaled by ``1/temperature``: 1 when one key clearly wins,
    about 0.5 when two keys tie.
    """
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=HOP * 4, n_chroma=12)
    profile = chroma.mean(axis=1)
    if not np.any(profile > 0):
        return KeyEstimate(0, "major", "C major", camelot_code(0, "major"), 0.0)
    scores = np.empty(24)
    for tonic in range(12):
        scores[tonic] = np.corrcoef(profile, np.roll(_MAJOR_PROFILE, tonic))[0, 1]
        scores[12 + tonic] = np.corrcoef(profile, np.roll(_MINOR_PROFILE, tonic))[0, 1]
    scores = np.nan_to_num(scores, nan=-1.0)
    best = int(np.argmax(scores))
    weights = np.exp((scores - scores[best]) / temperature)
    confidence = float(1.0 / weights.sum())
    tonic, mode = best % 12, ("major" if best < 12 else "minor")
    return KeyEstimate(
        tonic=tonic,
        mode=mode,
        name=f"{PITCH_CLASSES[tonic]} {mode}",
        camelot=camelot_code(tonic, mode),
        confidence=round(confidence, 3),
    )


def frame_db(y: FloatArray, *, frame: int = 2048, hop: int = HOP) -> npt.NDArray[np.float64]:
    """RMS level of each frame in dBFS (floored at −120 dB)."""
    rms = librosa.feature.rms(y=y, frame_length=frame, hop_length=hop, center=True)[0]
    db: npt.NDArray[np.float64] = 20.0 * np.log10(np.maximum(rms, 1e-6))
    return db


def timbre_summary(y: FloatArray, sr: int, *, n_mfcc: int = 13) -> tuple[float, ...]:
    """Mean MFCCs over the track: where its sound sits (dark/bright, dense/sparse).

    Coefficient 0 follows loudness; the rest describe the spectral envelope, so
    distances between these vectors approximate how different two tracks sound.
    """
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, hop_length=HOP * 4)
    return tuple(round(float(v), 3) for v in mfcc.mean(axis=1))


def energy_score(lufs: float, onset_env: npt.NDArray[np.float64], y: FloatArray, sr: int) -> float:
    """A 0–1 scalar for how energetic a track feels.

    A weighted mean of three terms, each mapped linearly onto 0–1 and clipped:
    loudness (integrated LUFS from −30 to −6; weight 0.45), onset density (mean
    onset strength from 0.2 to 2.0, i.e. how busy the rhythm is; weight 0.35) and
    brightness (mean spectral centroid from 500 Hz to 3500 Hz; weight 0.2).
    """
    loud = np.clip((lufs + 30.0) / 24.0, 0.0, 1.0) if np.isfinite(lufs) else 0.0
    busy = np.clip((float(np.mean(onset_env)) - 0.2) / 1.8, 0.0, 1.0) if len(onset_env) else 0.0
    centroid = librosa.feature.spectral_centroid(y=y, sr=sr, hop_length=HOP * 4)[0]
    bright = np.clip((float(np.mean(centroid)) - 500.0) / 3000.0, 0.0, 1.0)
    return round(float(0.45 * loud + 0.35 * busy + 0.2 * bright), 3)


def find_cues(
    y: FloatArray,
    sr: int,
    beat_times_s: tuple[float, ...] = (),
    *,
    silence_db: float = -60.0,
    arrival_drop_db: float = 3.0,
    smooth_s: float = 1.0,
) -> Cues:
    """Find first/last sound, intro end and outro start.

    The level curve (frame RMS, power-averaged over ``smooth_s``, centred) is
    compared with the body level of the song, the 60th percentile of that curve
    between first and last sound. The intro ends at the first moment the curve
    comes within ``arrival_drop_db`` of the body level; the outro starts at the
    last such moment. Both are snapped to the nearest beat, and kept in the first
    and last half of the track respectively.
    """
    db = frame_db(y)
    times = librosa.frames_to_time(np.arange(len(db)), sr=sr, hop_length=HOP)
    duration = len(y) / sr
    audible = np.flatnonzero(db > silence_db)
    if len(audible) == 0:
        return Cues(0.0, duration, 0.0, duration)
    first, last = float(times[audible[0]]), min(duration, float(times[audible[-1]]))
    width = max(1, round(smooth_s * sr / HOP))
    power = 10.0 ** (db / 10.0)
    smooth = 10.0 * np.log10(
        np.maximum(np.convolve(power, np.ones(width) / width, mode="same"), 1e-12)
    )
    body_region = smooth[audible[0] : audible[-1] + 1]
    body = float(np.percentile(body_region, 60))
    arrived = np.flatnonzero(smooth >= body - arrival_drop_db)
    middle = first + (last - first) / 2.0
    intro_end = float(times[arrived[0]]) if len(arrived) else first
    outro_start = float(times[arrived[-1]]) if len(arrived) else last
    intro_end = _snap(min(max(intro_end, first), middle), beat_times_s)
    outro_start = _snap(max(min(outro_start, last), middle), beat_times_s)
    return Cues(
        first_sound_s=round(first, 3),
        last_sound_s=round(last, 3),
        intro_end_s=round(max(first, min(intro_end, middle)), 3),
        outro_start_s=round(min(last, max(outro_start, middle)), 3),
    )


def _snap(t: float, grid: tuple[float, ...]) -> float:
    """The grid point nearest to ``t`` (``t`` itself when the grid is empty)."""
    if not grid:
        return t
    arr = np.asarray(grid)
    return float(arr[np.argmin(np.abs(arr - t))])
