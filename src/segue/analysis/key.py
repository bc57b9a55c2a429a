"""Key and mode from the chromagram, and the Camelot wheel.

The time-averaged chroma (magnitudes folded to pitch classes, see
:func:`segue.analysis.spectral.chromagram`) is correlated with a major and a minor
key profile rotated to all 12 tonics; the best of the 24 correlations names the
key. The profiles are Temperley's (Kostka–Payne corpus), which weigh the scale
degrees of common-practice harmony.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

#: Key profiles, tonic first: Krumhansl–Kessler probe-tone ratings and Temperley (2005).
PROFILES: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {
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


def key_scores(profile: npt.NDArray[np.float64], *, profiles: str = DEFAULT_PROFILE
               ) -> npt.NDArray[np.float64]:
    """Pearson correlation of a 12-bin pitch-class profile with all 24 keys.

    Index ``t`` is the major key on tonic ``t``, ``12 + t`` the minor key.
    """
    major, minor = PROFILES[profiles]
    scores = np.empty(24)
    for tonic in range(12):
        scores[tonic] = np.corrcoef(profile, np.roll(major, tonic))[0, 1]
        scores[12 + tonic] = np.corrcoef(profile, np.roll(minor, tonic))[0, 1]
    out: npt.NDArray[np.float64] = np.nan_to_num(scores, nan=-1.0)
    return out


def estimate_key(chroma: npt.NDArray[np.float32], *, temperature: float = 0.02,
                 profiles: str = DEFAULT_PROFILE) -> KeyEstimate:
    """Key and mode of a chromagram of shape ``(frames, 12)``.

    Frames are averaged with weights that favour tonal frames (a peaked chroma
    rather than a flat, noisy one). The confidence is the softmax probability of
    the best of the 24 keys with correlations scaled by ``1/temperature``: near 1
    when one key clearly wins, about 0.5 when two keys tie (e.g. relative keys).
    """
    if len(chroma) == 0 or not np.any(chroma > 0):
        return KeyEstimate(0, "major", "C major", camelot_code(0, "major"), 0.0)
    peakedness = np.maximum(chroma.max(axis=1) - 1.0 / 12.0, 0.0)
    profile = (chroma * peakedness[:, None]).sum(axis=0)
    if not np.any(profile > 0):
        profile = chroma.mean(axis=0)
    scores = key_scores(profile.astype(np.float64), profiles=profiles)
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
