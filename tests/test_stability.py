"""The same recording at another tempo gives the same cues (scaled), tempo and key.

Copies are made with ffmpeg's ``atempo`` (and ``rubberband`` when this ffmpeg has it),
which keep the pitch: cue points must move by the stretch factor, within one bar.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from segue.analysis import analyze_file
from segue.models import TrackAnalysis
from synthetic import SynthSpec, synthesize

SAMPLES = Path(__file__).resolve().parent.parent / "audio_samples"
FACTORS = (0.85, 1.15)


def _has_rubberband() -> bool:
    out = subprocess.run(["ffmpeg", "-hide_banner", "-filters"], capture_output=True,
                         text=True, check=False).stdout
    return " rubberband " in out


ENGINES = ["atempo", pytest.param("rubberband", marks=pytest.mark.skipif(
    not _has_rubberband(), reason="ffmpeg without the rubberband filter"))]


def _stretch(src: Path, dst: Path, factor: float, engine: str) -> Path:
    graph = f"atempo={factor}" if engine == "atempo" else f"rubberband=tempo={factor}"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-af", graph,
                    "-c:a", "flac", str(dst)], check=True)
    return dst


def _assert_scaled(orig: TrackAnalysis, copy: TrackAnalysis, factor: float) -> None:
    bar = 240.0 / orig.bpm
    for cue in ("first_sound_s", "last_sound_s", "intro_end_s", "outro_start_s"):
        was, now = getattr(orig, cue), getattr(copy, cue) * factor
        assert abs(now - was) <= bar, f"{cue}: {was:.2f} s, stretched {now:.2f} s (scaled)"
    assert copy.bpm == pytest.approx(orig.bpm * factor, rel=0.02)
    assert copy.key == orig.key


@pytest.fixture(scope="module")
def synthetic_track(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stretch") / "synthetic.flac"
    spec = SynthSpec(bpm=124, tonic=2, mode="minor", intro_bars=8, body_bars=16, outro_bars=8,
                     style="rock")
    sf.write(path, synthesize(spec), spec.sr)
    return path


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("factor", FACTORS)
def test_synthetic_track_stretched(synthetic_track: Path, tmp_path: Path, factor: float,
                                   engine: str) -> None:
    orig = analyze_file(synthetic_track).analysis
    copy = analyze_file(_stretch(synthetic_track, tmp_path / "copy.flac", factor, engine))
    _assert_scaled(orig, copy.analysis, factor)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("name", ["mccracken-nebula", "mccracken-awakening",
                                  "muldjord-internal-degeneration"])
def test_real_song_stretched(name: str, factor: float, engine: str, tmp_path: Path) -> None:
    """Excerpts of a soft-intro groove, a pad track tuned 42 cents sharp (its key flipped
    by a semitone before the chroma followed the tuning) and a metal song."""
    src = SAMPLES / f"{name}.ogg"
    orig = analyze_file(src).analysis
    copy = analyze_file(_stretch(src, tmp_path / "copy.flac", factor, engine)).analysis
    _assert_scaled(orig, copy, factor)
