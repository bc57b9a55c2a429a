"""Analysis says when it does not know: tempo and key confidences on material without a
pulse or a tonal centre stay low, and stay high on music that has them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal
from typer.testing import CliRunner

from segue.analysis import analyze_file, analyze_samples
from segue.cli import app
from synthetic import SynthSpec, synthesize

SR = 44100
SAMPLES = Path(__file__).resolve().parent.parent / "audio_samples"
#: The ceiling the brief sets, and the planner's "uncertain" threshold (sequencing.costs).
HONEST_MAX = 0.3
PLANNER_UNCERTAIN = 0.15


def _stereo(x: np.ndarray) -> np.ndarray:
    y = 0.3 * x / max(float(np.abs(x).max()), 1e-9)
    return np.stack([y, y]).astype(np.float32)


def _sine(seconds: float = 60.0) -> np.ndarray:
    return _stereo(np.sin(2 * np.pi * 220.0 * np.arange(round(seconds * SR)) / SR))


def _white(seconds: float = 60.0, seed: int = 1) -> np.ndarray:
    return _stereo(np.random.default_rng(seed).standard_normal(round(seconds * SR)))


def _pink(seconds: float = 60.0, seed: int = 2) -> np.ndarray:
    """White noise through Kellet's 1/f filter (poles and zeros of -3 dB per octave)."""
    white = np.random.default_rng(seed).standard_normal(round(seconds * SR))
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    return _stereo(signal.lfilter(b, a, white))


def _drone(seconds: float = 60.0) -> np.ndarray:
    """A bowed-fifth drone: sawtooth A1 and E2 (rich harmonics), breathing slowly."""
    t = np.arange(round(seconds * SR)) / SR
    saw = sum(np.sin(2 * np.pi * 55.0 * h * t) / h + 0.7 * np.sin(2 * np.pi * 82.5 * h * t) / h
              for h in range(1, 16))
    return _stereo(saw * (1.0 + 0.2 * np.sin(2 * np.pi * 0.07 * t)))


def _speech(tmp: Path) -> np.ndarray:
    """Forty seconds of espeak-ng reading prose."""
    text = ("The river ran quietly past the old mill, and nobody in the village could say when "
            "the wheel had last turned. Some said it was the winter of the great storm; others "
            "remembered a summer, a wedding, a horse that would not cross the bridge. What "
            "everyone agreed on was the sound: a low wooden groan, once a minute, like a ship. ")
    wav = tmp / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text * 2], check=True, capture_output=True)
    data, sr = sf.read(wav, dtype="float32", always_2d=True)
    return analyze_ready(data.T, sr)


def analyze_ready(x: np.ndarray, sr: int) -> np.ndarray:
    """``x`` (channels, n) resampled to 44.1 kHz stereo."""
    g = int(np.gcd(SR, sr))
    y = signal.resample_poly(x, SR // g, sr // g, axis=1)
    return _stereo(y.mean(axis=0))


@pytest.mark.parametrize("make", [_sine, _white, _pink, _drone], ids=["sine", "white", "pink",
                                                                      "drone"])
def test_no_pulse_and_no_key_read_as_uncertain(make) -> None:  # type: ignore[no-untyped-def]
    a = analyze_samples(make(), SR)
    assert a.bpm_confidence <= PLANNER_UNCERTAIN, a.bpm
    assert a.key_confidence <= PLANNER_UNCERTAIN, a.key


def test_speech_has_neither_a_pulse_nor_a_key(tmp_path: Path) -> None:
    a = analyze_samples(_speech(tmp_path), SR)
    assert a.bpm_confidence <= HONEST_MAX
    assert a.key_confidence <= HONEST_MAX


def test_a_click_track_has_a_pulse_but_no_key() -> None:
    """The two confidences are separate questions: clicks have a beat and no pitch."""
    n = 40 * SR
    x = np.zeros(n)
    click = np.random.default_rng(3).standard_normal(400) * np.exp(-np.arange(400) / 60)
    for start in np.arange(0, n - 400, round(0.5 * SR)):
        x[start : start + 400] += click
    a = analyze_samples(_stereo(x), SR)
    assert a.bpm == pytest.approx(120.0, rel=0.04) and a.bpm_confidence >= 0.7
    assert a.key_confidence <= HONEST_MAX


def test_synthetic_music_stays_confident() -> None:
    a = analyze_samples(synthesize(SynthSpec(bpm=124, tonic=7, mode="major")).T, SR)
    assert a.bpm_confidence >= 0.7 and a.key_confidence >= 0.5


def test_real_music_keeps_a_confident_tempo() -> None:
    """Every excerpt in audio_samples/ has a beat (ambient ones too) and says so."""
    files = sorted(SAMPLES.glob("*.ogg"))
    assert len(files) >= 8
    confidences = {f.name: analyze_file(f).analysis.bpm_confidence for f in files}
    assert min(confidences.values()) >= 0.7, confidences


def test_the_planner_calls_a_sine_uncertain(tmp_path: Path) -> None:
    sine = tmp_path / "sine.wav"
    sf.write(sine, _sine(30.0).T, SR)
    song = tmp_path / "song.wav"
    sf.write(song, synthesize(SynthSpec(bpm=120, intro_bars=2, body_bars=6, outro_bars=2)), SR)
    result = CliRunner().invoke(app, ["plan", str(sine), str(song), "--json"])
    assert result.exit_code == 0, result.output
    reason = json.loads(result.stdout)["transitions"][0]["reason"]
    assert "tempo uncertain" in reason and "key uncertain" in reason, reason
