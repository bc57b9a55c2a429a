"""Key and mode from the chromagram, and the Camelot wheel.

A track is summed up in three pitch-class descriptions (:func:`key_features`): the
time-averaged chroma (what sounds), the bass chroma (what the bass dwells on) and a
histogram of the triad each frame matches best (which chords sound). Each of the 24
keys scores the features rotated to its tonic with a weight vector of its mode
(:func:`key_logits`); the best score names the key and a softmax over the 24 scores
gives the confidence.

Why not a key profile alone: a minor key and its relative major share their scale,
so a time-averaged chroma tells them apart only by small differences (the tonic
triad, the harmonic-minor leading tone), and a progression that visits III, VI and
VII tips it to the relative major. The bass and the chords weigh where the music
rests: the root the bass returns to, and whether the tonic triad and a major
dominant are the ones heard most.

The model's probability alone is no confidence: it was fitted on music that has a
key, and on a sine, a drone, noise or speech it still picks one, often surely (a
drone's harmonics spell a major triad). So the confidence is that probability times
the evidence that there is a key at all (:func:`tonal_evidence`): the pitch content
must change over time (a held tone or drone has no key, only a pitch), and the
partials must keep to one semitone grid (noise and speech, whose pitch glides, do not),
and the time-averaged chroma must look like the chosen key's scale (Temperley's
profile of that key correlates with it).

The weights are a multinomial logistic regression over the 24 keys (one weight
vector per mode, shared by all tonics), fitted by ``benchmarks/fit_key.py`` on the
plain FluidSynth key set and the development variant of the hard key set, regularised
toward Temperley's profile; the hard key set itself is held out for testing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from segue.analysis.spectral import Chromagram

F64 = npt.NDArray[np.float64]

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

#: Key profiles, tonic first: Krumhansl–Kessler probe-tone ratings and Temperley (2005).
PROFILES: dict[str, tuple[F64, F64]] = {
    "krumhansl": (
        np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
        np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
    ),
    "temperley": (
        np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057,
                  0.400]),
        np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133,
                  0.330]),
    ),
}
DEFAULT_PROFILE = "temperley"

#: :func:`tonal_evidence`: the 90th percentile of how far a frame's chroma departs from
#: the track's mean (1 − correlation) is below the first figure for a held tone (a sine
#: 0.00, a drone 0.02) and above the second for music (ambient pads 0.29, most 0.7–1.1).
CHANGE_NONE = 0.05
CHANGE_FULL = 0.2
#: :func:`tonal_evidence`: the chromagram's tuning strength (0–1) from no evidence to
#: full: noise 0.01, espeak-ng speech 0.04, music 0.1–0.7 (distorted metal 0.03–0.2).
TUNING_NONE = 0.02
TUNING_FULL = 0.10
#: :func:`tonal_evidence`: Temperley-profile correlation of the averaged chroma with the
#: chosen key that counts fully; noise reads 0.06–0.11, speech < 0, most music 0.3–0.9.
PROFILE_FULL = 0.25

#: Length of :func:`key_features`: chroma (12), bass chroma (12), triad histogram (24).
N_FEATURES = 48


def _triad_templates() -> F64:
    """Major triads on C..B then minor triads on C..B, shape ``(24, 12)``, zero-mean rows."""
    t = np.zeros((24, 12))
    for root in range(12):
        t[root, [root, (root + 4) % 12, (root + 7) % 12]] = 1.0
        t[12 + root, [root, (root + 3) % 12, (root + 7) % 12]] = 1.0
    out: F64 = t - t.mean(axis=1, keepdims=True)
    return out


TRIADS = _triad_templates()

#: Fitted weights, tonic first: chroma (12), bass (12), major triads on each degree (12),
#: minor triads on each degree (12). Printed by ``benchmarks/fit_key.py`` (plain key set
#: + hard key set, development variant; L2 toward Temperley, lambda 3e-5).
MAJOR_WEIGHTS: F64 = np.array([
    9.59, -7.23, -2.38, -5.95, 7.40, 4.21, -7.30, 5.57, 1.04, 3.42, -10.41, 4.27,
    5.27, -1.25, -6.92, -2.49, 0.90, 5.47, -3.50, 10.30, 3.89, -7.06, -4.87, 2.50,
    12.61, -3.90, -1.80, -6.12, -1.38, 7.10, -0.52, 8.58, 5.88, -0.66, -4.79, -1.27,
    -3.19, -1.44, -0.34, -2.90, 7.36, 5.61, -1.45, -9.43, 2.38, 1.37, -2.66, -6.80,
])
MINOR_WEIGHTS: F64 = np.array([
    9.94, -10.13, 2.98, 1.31, -9.28, 1.26, -3.40, 10.82, 3.43, -10.25, 2.57, -1.50,
    9.35, -7.38, -4.65, -1.71, -2.62, 4.65, -3.22, 10.36, 1.31, -4.31, -2.11, -1.93,
    -0.98, -9.01, -5.38, -0.21, -3.00, -1.29, -2.19, 9.04, 2.57, -4.04, 4.22, -3.44,
    13.54, -2.41, 9.10, 2.87, -2.44, 11.94, -0.66, -5.67, -2.97, -6.56, -4.69, -0.56,
])


@dataclass(frozen=True)
class KeyEstimate:
    """Tonic pitch class (0 = C), mode, display name, Camelot code and confidence."""

    tonic: int
    mode: str
    name: str
    camelot: str
    confidence: float


def camelot_code(tonic: int, mode: str) -> str:
    """Camelot wheel code of a key: C major → ``"8B"``, A minor → ``"8A"``."""
    major_tonic = tonic if mode == "major" else (tonic + 3) % 12
    number = ((major_tonic * 7) % 12 + 7) % 12 + 1
    return f"{number}{'B' if mode == 'major' else 'A'}"


def key_scores(profile: F64, *, profiles: str = DEFAULT_PROFILE) -> F64:
    """Pearson correlation of a 12-bin pitch-class profile with all 24 keys.

    Index ``t`` is the major key on tonic ``t``, ``12 + t`` the minor key.
    """
    major, minor = PROFILES[profiles]
    scores = np.empty(24)
    for tonic in range(12):
        scores[tonic] = np.corrcoef(profile, np.roll(major, tonic))[0, 1]
        scores[12 + tonic] = np.corrcoef(profile, np.roll(minor, tonic))[0, 1]
    out: F64 = np.nan_to_num(scores, nan=-1.0)
    return out


def _unit_sum(v: F64) -> F64:
    total = float(v.sum())
    out: F64 = v / total if total > 0 else np.zeros_like(v)
    return out


def key_features(chroma: Chromagram) -> F64:
    """Pitch-class summary of a chromagram, shape ``(48,)``, pitch classes from C.

    - ``[0:12]`` the time-averaged chroma, frames weighted by how peaked they are
      (a tonal frame rather than a flat, noisy one), summing to 1;
    - ``[12:24]`` the bass chroma summed over time (louder frames weigh more),
      summing to 1;
    - ``[24:36]``, ``[36:48]`` the share of tonal frames whose best-matching triad
      (correlation with :data:`TRIADS`) is the major, resp. minor, triad on each root.

    All zeros where there is nothing tonal.
    """
    pitch = chroma.pitch.astype(np.float64)
    out = np.zeros(N_FEATURES)
    if len(pitch) == 0:
        return out
    peakedness = np.maximum(pitch.max(axis=1) - 1.0 / 12.0, 0.0)
    out[0:12] = _unit_sum((pitch * peakedness[:, None]).sum(axis=0))
    out[12:24] = _unit_sum(chroma.bass.astype(np.float64).sum(axis=0))
    tonal = pitch.max(axis=1) > 0
    if np.any(tonal):
        best = (pitch[tonal] @ TRIADS.T).argmax(axis=1)
        out[24:48] = _unit_sum(np.bincount(best, minlength=24).astype(np.float64))
    return out


def rotate_features(features: F64, tonic: int) -> F64:
    """:func:`key_features` re-indexed so that pitch class ``tonic`` comes first."""
    blocks = features.reshape(4, 12)
    out: F64 = np.roll(blocks, -tonic, axis=1).reshape(-1)
    return out


def key_logits(features: F64, *, major_weights: F64 = MAJOR_WEIGHTS,
               minor_weights: F64 = MINOR_WEIGHTS) -> F64:
    """Score of each key, shape ``(24,)``: index ``t`` major on tonic ``t``, ``12 + t`` minor.

    The score of a key is its mode's weights dotted with the features rotated to its
    tonic; the softmax of the scores is the model's probability of each key.
    """
    rotated = np.stack([rotate_features(features, t) for t in range(12)])
    out: F64 = np.concatenate([rotated @ major_weights, rotated @ minor_weights])
    return out


def pitch_change(chroma: Chromagram) -> float:
    """How much the pitch content moves over time (0 for one held sound).

    The 90th percentile of 1 − correlation between each tonal frame's chroma and the
    mean chroma.
    """
    pitch = chroma.pitch.astype(np.float64)
    pitch = pitch[pitch.max(axis=1) > 0] if len(pitch) else pitch
    if len(pitch) < 2:
        return 0.0
    centred = pitch - pitch.mean(axis=1, keepdims=True)
    mean = centred.mean(axis=0)
    norms = np.linalg.norm(centred, axis=1) * np.linalg.norm(mean)
    corr = np.where(norms > 1e-12, centred @ mean / np.maximum(norms, 1e-12), 1.0)
    return float(np.percentile(1.0 - corr, 90))


def tonal_evidence(chroma: Chromagram, features: F64, best: int) -> float:
    """0–1 evidence that there is a key to find, for the key with index ``best``.

    The product of three ramps: :func:`pitch_change` from :data:`CHANGE_NONE` to
    :data:`CHANGE_FULL` (a held tone, a drone: 0); the chromagram's tuning strength from
    :data:`TUNING_NONE` to :data:`TUNING_FULL` (noise, speech: 0); and the Pearson
    correlation of the averaged chroma (``features[0:12]``) with Temperley's profile of
    the key, from 0 to :data:`PROFILE_FULL`.
    """
    change = (pitch_change(chroma) - CHANGE_NONE) / (CHANGE_FULL - CHANGE_NONE)
    tuning = (chroma.tuning_strength - TUNING_NONE) / (TUNING_FULL - TUNING_NONE)
    profile = key_scores(features[0:12])[best] / PROFILE_FULL
    return float(np.prod(np.clip([change, tuning, profile], 0.0, 1.0)))


def estimate_key(chroma: Chromagram) -> KeyEstimate:
    """Key and mode of a chromagram (see :func:`key_features`, :func:`key_logits`).

    The confidence is the softmax probability of the best of the 24 keys (near 1
    when one key clearly wins, about 0.5 when two keys tie, e.g. relative keys) times
    :func:`tonal_evidence`; 0 when there is nothing tonal to go by (then the answer is
    C major).
    """
    features = key_features(chroma)
    if not np.any(features[0:12] > 0):
        return KeyEstimate(0, "major", "C major", camelot_code(0, "major"), 0.0)
    logits = key_logits(features)
    best = int(np.argmax(logits))
    weights = np.exp(logits - logits[best])
    confidence = float(1.0 / weights.sum()) * tonal_evidence(chroma, features, best)
    tonic, mode = best % 12, ("major" if best < 12 else "minor")
    return KeyEstimate(
        tonic=tonic,
        mode=mode,
        name=f"{PITCH_CLASSES[tonic]} {mode}",
        camelot=camelot_code(tonic, mode),
        confidence=round(confidence, 3),
    )
