"""The command line: bad input (every culprit named, the rest rendered, inputs safe), and a
light start-up (``segue --help`` imports no heavy stage)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: Modules a command line that only lists its commands must not import (issue 12, item 8).
HEAVY = ("numba", "librosa", "scipy.signal", "sklearn", "matplotlib")


def segue(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "segue", *map(str, args)],
                          capture_output=True, text=True, timeout=600, check=False)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


def _imported_by(*args: str) -> set[str]:
    """Every module ``python -X importtime -m segue ARGS`` imports."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "segue", *args],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}  # fmt: skip


def test_help_imports_no_heavy_stage() -> None:
    imported = _imported_by("--help")
    assert "segue.cli" in imported
    assert not [m for m in imported if m.split(".")[0] in HEAVY or m in HEAVY]
    assert not [m for m in imported if m.startswith("segue.") and m != "segue.cli"
                and not m.startswith(("segue.cli", "segue.errors", "segue.config",
                                      "segue.text"))]  # fmt: skip


def test_prompts_list_imports_no_heavy_stage() -> None:
    imported = _imported_by("prompts", "list")
    assert not [m for m in imported if m.split(".")[0] in HEAVY or m in HEAVY]


def test_every_command_loads_lazily_with_the_summary_it_shows() -> None:
    import typer

    from segue.cli import COMMANDS, app, load_command

    for name, (_module, summary) in COMMANDS.items():
        command = load_command(name)
        assert (command.help or "").strip().splitlines()[0] == summary, name
    registered = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert set(registered) == set(COMMANDS), "a command is missing from segue.cli.COMMANDS"
