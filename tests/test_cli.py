"""The command line with bad input: every culprit named, the rest rendered, inputs safe."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def segue(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "segue", *map(str, args)],
                          capture_output=True, text=True, timeout=600, check=False)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bad_inputs_are_named_and_the_rest_still_renders(
    synth_set: dict[str, Path], tmp_path: Path
) -> None:
    music = tmp_path / "music"
    music.mkdir()
    good = [shutil.copy(synth_set["alpha"], music), shutil.copy(synth_set["charlie"], music)]
    (music / "notes.mp3").write_text("definitely not audio\n" * 100)
    (music / "empty.ogg").write_bytes(b"")
    # A file cut in half: its header still promises the full length.
    full = tmp_path / "full.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(synth_set["bravo"]), "-c:a", "libmp3lame",
                    str(full)], check=True)
    data = full.read_bytes()
    (music / "truncated.mp3").write_bytes(data[: len(data) // 2])
    empty_dir = tmp_path / "nothing-here"
    empty_dir.mkdir()
    before = {p.name: _digest(p) for p in music.iterdir()}

    out = tmp_path / "out" / "mix.ogg"
    proc = segue("render", music, empty_dir, tmp_path / "missing.flac", "-o", out)
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    for culprit in ("notes.mp3", "empty.ogg", "truncated.mp3", "nothing-here", "missing.flac"):
        lines = [ln for ln in err.splitlines() if culprit in ln]
        assert len(lines) == 1, (culprit, err)
    assert "5 problem(s)" in err
    timeline = json.loads(out.with_suffix(".json").read_text())
    assert sorted(Path(t["path"]).name for t in timeline["tracks"]) == sorted(
        Path(g).name for g in good)
    assert out.stat().st_size > 10_000
    assert {p.name: _digest(p) for p in music.iterdir()} == before


def test_output_that_is_an_input_is_refused_before_any_work(
    synth_set: dict[str, Path], tmp_path: Path
) -> None:
    track = Path(shutil.copy(synth_set["alpha"], tmp_path / "song.wav"))
    digest = _digest(track)
    proc = segue("render", track, "-o", track)
    assert proc.returncode == 2
    assert "song.wav" in proc.stderr and "is one of the inputs" in proc.stderr
    assert _digest(track) == digest
    assert list(tmp_path.iterdir()) == [track]


def test_unsupported_extension_and_nothing_to_play(
    synth_set: dict[str, Path], tmp_path: Path
) -> None:
    proc = segue("render", synth_set["alpha"], "-o", tmp_path / "mix.xyz")
    assert proc.returncode == 2 and "unsupported output format .xyz" in proc.stderr
    proc = segue("render", synth_set["alpha"], "-o", tmp_path / "mix.mp3", "--voice", "robot")
    assert proc.returncode == 2 and "unknown voice 'robot'" in proc.stderr
    assert not list(tmp_path.iterdir())
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    proc = segue("render", junk, "-o", tmp_path / "mix.wav")
    assert proc.returncode == 2 and "nothing to play" in proc.stderr and "junk.wav" in proc.stderr
    assert not (tmp_path / "mix.wav").exists()


def test_version_and_help() -> None:
    assert segue("--version").stdout.startswith("segue ")
    assert "render" in segue("--help").stdout
