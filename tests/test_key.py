"""Key finding on synthetic progressions whose key is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from segue.analysis.key import (
    PITCH_CLASSES,
    estimate_key,
    key_features,
    key_scores,
    rotate_features,
)
from segue.analysis.spectral import Chromagram, chromagram

SR = 11025  # the analysis rate (a quarter of 44.1 kHz)

#: Chords as (semitones above the tonic, intervals above the chord's root).
MAJ, MIN, DOM7 = (0, 4, 7), (0, 3, 7), (0, 4, 7, 10)
#: i III VII iv VI III V7 i: five of its eight chords are the relative major's I, V, ii
#: and IV, and only the harmonic-minor dominant (its raised seventh) and the tonic
#: chord at both ends say "minor".
MINOR_VIA_RELATIVE = ((0, MIN), (3, MAJ), (10, MAJ), (5, MIN), (8, MAJ), (3, MAJ), (7, DOM7),
                      (0, MIN))
#: I vi ii V7 I in major, with the relative minor's tonic chord on the way.
MAJOR_VIA_RELATIVE = ((0, MAJ), (9, MIN), (2, MIN), (7, DOM7), (0, MAJ))


def _tone(midi: int, n: int, harmonics: int = 4) -> np.ndarray:
    t = np.arange(n) / SR
    f = 440.0 * 2 ** ((midi - 69) / 12)
    return sum((np.sin(2 * np.pi * f * h * t) / h for h in range(1, harmonics + 1)
                if f * h < SR / 2), np.zeros(n))


def _progression(tonic: int, chords: tuple[tuple[int, tuple[int, ...]], ...],
                 *, bar_s: float = 2.0, repeats: int = 3) -> np.ndarray:
    """Chords around C4 and their roots in the bass (around C2), one chord a bar."""
    n = int(bar_s * SR)
    fade = np.minimum(1.0, np.minimum(np.arange(n), n - np.arange(n)) / (0.02 * SR))
    bars = []
    for _ in range(repeats):
        for offset, intervals in chords:
            root = 60 + (tonic + offset) % 12
            bar = sum((_tone(root + iv, n) for iv in intervals), np.zeros(n)) / len(intervals)
            bar += 0.8 * _tone(root - 24, n, harmonics=3)
            bars.append(bar * fade)
    y = np.concatenate(bars)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize("tonic", [9, 2, 6, 0, 4])
def test_minor_key_visiting_its_relative_major_is_read_as_minor(tonic: int) -> None:
    key = estimate_key(chromagram(_progression(tonic, MINOR_VIA_RELATIVE), SR))
    assert key.name == f"{PITCH_CLASSES[tonic]} minor"
    assert 0.5 < key.confidence <= 1.0


@pytest.mark.parametrize("tonic", [0, 7, 10])
def test_major_key_visiting_its_relative_minor_is_read_as_major(tonic: int) -> None:
    key = estimate_key(chromagram(_progression(tonic, MAJOR_VIA_RELATIVE), SR))
    assert key.name == f"{PITCH_CLASSES[tonic]} major"
    assert 0.5 < key.confidence <= 1.0


@pytest.mark.parametrize("tonic", [9, 2, 6, 0, 4])
def test_time_averaged_profile_alone_takes_the_relative_major(tonic: int) -> None:
    """Why the bass and chord features exist: Temperley's profile misreads these."""
    feats = key_features(chromagram(_progression(tonic, MINOR_VIA_RELATIVE), SR))
    best = int(np.argmax(key_scores(feats[:12])))
    assert (best % 12, best < 12) == ((tonic + 3) % 12, True)


def test_bass_chroma_follows_the_bass_line() -> None:
    feats = key_features(chromagram(_progression(9, ((0, MIN),)), SR))
    assert int(np.argmax(feats[12:24])) == 9  # A in the bass
    assert int(np.argmax(feats[36:48])) == 9  # the A minor triad wins the frames


def test_rotation_puts_the_tonic_first() -> None:
    feats = np.arange(48, dtype=np.float64)
    rot = rotate_features(feats, 3)
    assert rot[0] == 3 and rot[12] == 15 and rot[24] == 27 and rot[36] == 39


def test_silence_and_empty_input_have_no_confidence() -> None:
    assert estimate_key(chromagram(np.zeros(SR * 5, np.float32), SR)).confidence == 0.0
    empty = Chromagram(pitch=np.zeros((0, 12), np.float32), bass=np.zeros((0, 12), np.float32))
    assert estimate_key(empty).confidence == 0.0
