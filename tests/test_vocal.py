"""A voice that enters is heard: sung and spoken voices laid into music at a known time
are found within 1 s, and instrumentals get no vocal onset."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from segue.analysis import analyze_file, analyze_samples
from synthetic import SynthSpec, lay_voice, sung_voice, synthesize

SR = 44100
SAMPLES = Path(__file__).resolve().parent.parent / "audio_samples"
HIT_S = 1.0


def _music(seconds: float = 80.0) -> np.ndarray:
    spec = SynthSpec(bpm=120, tonic=9, mode="minor", intro_bars=4, body_bars=36, outro_bars=4)
    return synthesize(spec)[: round(seconds * SR)]


def _speech(tmp: Path, seconds: float) -> np.ndarray:
    text = ("The river ran quietly past the old mill, and nobody in the village could say "
            "when the wheel had last turned. Some said it was the winter of the great storm. ")
    wav = tmp / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text * 4], check=True, capture_output=True)
    y, sr = sf.read(wav, dtype="float64")
    y = signal.resample_poly(y, SR // 10, sr // 10) if sr != SR else y
    return np.tile(y, int(np.ceil(seconds * SR / len(y))))[: round(seconds * SR)]


def test_a_sung_voice_over_a_synthetic_track_is_found() -> None:
    music = _music()
    mixed = lay_voice(music, sung_voice(80.0, seed=3), 30.0, -3.0)
    a = analyze_samples(mixed.T.astype(np.float32), SR)
    assert a.vocal_onset_s is not None
    assert abs(a.vocal_onset_s - 30.0) <= HIT_S
    assert a.vocal_confidence >= 0.5


def test_speech_over_a_synthetic_track_is_found(tmp_path: Path) -> None:
    music = _music()
    mixed = lay_voice(music, _speech(tmp_path, 80.0), 25.0, -3.0)
    a = analyze_samples(mixed.T.astype(np.float32), SR)
    assert a.vocal_onset_s is not None and abs(a.vocal_onset_s - 25.0) <= HIT_S


def test_the_instrumental_alone_has_no_voice() -> None:
    a = analyze_samples(_music().T.astype(np.float32), SR)
    assert a.vocal_onset_s is None and a.vocal_confidence == 0.0


@pytest.mark.parametrize("f0_midi", [50, 64], ids=["low voice", "high voice"])
def test_a_voice_over_a_real_instrumental_is_found(tmp_path: Path, f0_midi: int) -> None:
    """A case the detector gets right (benchmarks/bench_analysis.py measures how often it
    does: about 7 voices in 10 over real instrumentals; it misses more over metal)."""
    data, sr = sf.read(SAMPLES / "mccracken-aberrations.ogg", always_2d=True)
    mixed = lay_voice(data, sung_voice(len(data) / sr, seed=5, f0_midi=f0_midi), 22.0, -3.0, sr)
    path = tmp_path / "voiced.flac"
    sf.write(path, mixed, sr)
    a = analyze_file(path).analysis
    assert a.vocal_onset_s is not None and abs(a.vocal_onset_s - 22.0) <= HIT_S


@pytest.mark.slow
def test_real_instrumentals_have_no_voice() -> None:
    """The eight excerpts in audio_samples/ (ambient electronic and metal with lead
    guitar) are instrumentals."""
    found = {f.name: analyze_file(f).analysis.vocal_onset_s for f in SAMPLES.glob("*.ogg")}
    assert all(v is None for v in found.values()), found
