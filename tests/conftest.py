"""Shared fixtures: synthetic tracks with known answers, written once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthetic import SynthSpec, write_track

# Keep the test run's caches out of the user's home.
# Each pytest-xdist worker gets its own, so two workers never write one cache file at once.
os.environ.setdefault("SEGUE_CACHE_DIR", str(Path(__file__).parent / ".cache"
                                             / os.environ.get("PYTEST_XDIST_WORKER", "main")))
# The end-to-end mix tests count on a link before every track; the talk plan's own
# default (mini-sets for a normal listener) is tested with explicit settings in
# tests/test_narration*.py, which never read the environment.
os.environ.setdefault("SEGUE_TALK_CADENCE", "every")

SET_SPECS = {
    "alpha": SynthSpec(bpm=120, tonic=9, mode="minor", intro_bars=4, body_bars=6, outro_bars=3),
    "bravo": SynthSpec(bpm=124, tonic=4, mode="minor", intro_bars=4, body_bars=6, outro_bars=3,
                       seed=1),
    "charlie": SynthSpec(bpm=96, tonic=0, mode="major", intro_bars=3, body_bars=5, outro_bars=2,
                         seed=2),
}


@pytest.fixture(scope="session")
def synth_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three short tagged tracks of different tempo and key, as FLAC files."""
    folder = tmp_path_factory.mktemp("set")
    return {
        name: write_track(folder / f"{name}.flac", spec, title=f"Song {name.title()}",
                          artist=f"Band {name.title()}")
        for name, spec in SET_SPECS.items()
    }


@pytest.fixture(scope="session")
def listener_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A listener profile that likes one of the synthetic bands."""
    path = tmp_path_factory.mktemp("listener") / "listener.toml"
    path.write_text('name = "Robin"\ntalk = "normal"\n[likes]\nartists = ["Band Bravo"]\n'
                    'genres = []\n')
    return path
