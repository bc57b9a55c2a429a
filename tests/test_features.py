"""Analysis features on synthetic signals whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from segue.analysis import analyze_samples
from segue.analysis.features import camelot_code, estimate_key, estimate_tempo, find_cues
from segue.errors import AnalysisError
from synthetic import SynthSpec, synthesize

SR = 22050


def _mono(spec: SynthSpec) -> np.ndarray:
    return synthesize(spec).mean(axis=1).astype(np.float32)


@pytest.mark.parametrize("bpm", [96, 110, 120, 128])
def test_tempo_within_four_percent(bpm: float) -> None:
    est = estimate_tempo(_mono(SynthSpec(bpm=bpm, sr=SR, intro_bars=1, outro_bars=1)), SR)
    assert est.bpm == pytest.approx(bpm, rel=0.04)
    assert 0.0 < est.confidence <= 1.0
    # The beat grid follows the tempo: median interval = one beat.
    assert np.median(np.diff(est.beat_times_s)) == pytest.approx(60 / bpm, rel=0.04)


def test_tempo_of_silence_is_zero_with_no_confidence() -> None:
    est = estimate_tempo(np.zeros(SR * 5, dtype=np.float32), SR)
    assert est.bpm == 0.0 and est.confidence == 0.0 and est.beat_times_s == ()


@pytest.mark.parametrize(
    ("tonic", "mode", "name", "camelot"),
    [(9, "minor", "A minor", "8A"), (0, "major", "C major", "8B"), (7, "major", "G major", "9B"),
     (2, "minor", "D minor", "7A"), (6, "major", "F# major", "2B"), (4, "minor", "E minor", "9A")],
)
def test_key_of_a_clear_cadence(tonic: int, mode: str, name: str, camelot: str) -> None:
    key = estimate_key(_mono(SynthSpec(tonic=tonic, mode=mode, sr=SR)), SR)
    assert key.name == name
    assert key.camelot == camelot
    assert key.confidence > 0.5


def test_camelot_wheel() -> None:
    wheel = {(0, "major"): "8B", (9, "minor"): "8A", (7, "major"): "9B", (5, "major"): "7B",
             (11, "major"): "1B", (8, "minor"): "1A", (3, "minor"): "2A", (10, "major"): "6B"}
    for (tonic, mode), code in wheel.items():
        assert camelot_code(tonic, mode) == code


@pytest.mark.parametrize("spec", [
    SynthSpec(bpm=120, intro_bars=4, body_bars=8, outro_bars=4, sr=SR),
    SynthSpec(bpm=100, intro_bars=2, body_bars=8, outro_bars=2, sr=SR),
    SynthSpec(bpm=128, intro_bars=8, body_bars=8, outro_bars=4, sr=SR),
])
def test_intro_end_and_outro_start_within_one_bar(spec: SynthSpec) -> None:
    y = _mono(spec)
    tempo = estimate_tempo(y, SR)
    cues = find_cues(y, SR, tempo.beat_times_s)
    assert abs(cues.intro_end_s - spec.intro_end_s) <= spec.bar_s
    assert abs(cues.outro_start_s - spec.outro_start_s) <= spec.bar_s


def test_first_and_last_sound_skip_padding() -> None:
    spec = SynthSpec(sr=SR, intro_bars=1, body_bars=4, outro_bars=1)
    y = _mono(spec)
    padded = np.concatenate([np.zeros(2 * SR), y, np.zeros(3 * SR)]).astype(np.float32)
    cues = find_cues(padded, SR)
    assert cues.first_sound_s == pytest.approx(2.0, abs=0.1)
    assert cues.last_sound_s == pytest.approx(2.0 + spec.duration_s, abs=0.3)


def test_analysis_orders_energy_and_measures_loudness() -> None:
    loud = synthesize(SynthSpec(sr=SR, intro_bars=0, body_bars=8, outro_bars=0)).T
    quiet = loud * 10 ** (-12 / 20)
    a_loud = analyze_samples(loud, SR)
    a_quiet = analyze_samples(quiet, SR)
    assert a_loud.lufs - a_quiet.lufs == pytest.approx(12.0, abs=0.2)
    assert 0.0 <= a_quiet.energy < a_loud.energy <= 1.0


def test_too_short_and_silent_audio_are_refused_by_name() -> None:
    with pytest.raises(AnalysisError, match=r"clip\.wav: too short"):
        analyze_samples(np.zeros((2, SR), dtype=np.float32), SR, name="clip.wav")
    with pytest.raises(AnalysisError, match=r"quiet\.wav: silent"):
        analyze_samples(np.zeros((2, SR * 10), dtype=np.float32), SR, name="quiet.wav")
