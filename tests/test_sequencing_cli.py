"""``segue plan`` and ``segue feedback`` on the command line, with good and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from segue.cli import app
from segue.sequencing import cost_matrix
from segue.sequencing.costs import TERMS
from segue.sequencing.features_file import read_features_file

runner = CliRunner()


def entry(path: str, **fields: Any) -> dict[str, Any]:
    base = {"path": path, "status": "ok", "error": None, "title": path.split(".")[0].title(),
            "artist": f"Band {path[0]}", "album": None, "year": 2001, "genre": None,
            "duration_s": 200.0, "bpm": 120.0, "bpm_confidence": 0.9, "key": "A minor",
            "camelot": "8A", "key_confidence": 0.9, "lufs": -9.0, "loudness_range_lu": 6.0,
            "true_peak_dbtp": -1.0, "energy": 0.5, "first_sound_s": 0.0, "last_sound_s": 200.0,
            "intro_end_s": 16.0, "outro_start_s": 184.0, "vocal_onset_s": None}  # fmt: skip
    return {**base, **fields}


@pytest.fixture
def features(tmp_path: Path) -> Path:
    entries = [
        entry("a.ogg", bpm=120.0, energy=0.3),
        entry("b.ogg", bpm=124.0, camelot="9A", energy=0.5),
        {"path": "broken.ogg", "status": "failed", "error": "broken.ogg: not audio"},
        entry("c.ogg", bpm=128.0, camelot="10A", energy=0.7, timbre=[1.0] * 13),
        entry("d.ogg", bpm=131.0, camelot="10A", energy=0.9),
    ]
    path = tmp_path / "features.json"
    path.write_text(json.dumps(entries))
    return path


def plan(*args: str | Path) -> Any:
    return runner.invoke(app, ["plan", *map(str, args)])


def test_json_has_exactly_the_documented_shape(features: Path) -> None:
    result = plan("--features", features, "--json", "--arc", "rise")
    assert result.exit_code == 1, result.output  # the failed entry was skipped
    assert result.stderr.count("broken.ogg") == 1 and "not audio" in result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"order", "transitions", "total_cost"}
    assert [o["path"] for o in data["order"]] == ["a.ogg", "b.ogg", "c.ogg", "d.ogg"]
    for o in data["order"]:
        assert set(o) == {"index", "path", "title", "artist", "bpm", "camelot", "energy"}
    assert [o["index"] for o in data["order"]] == [0, 1, 2, 3]  # input positions, failed skipped
    assert len(data["transitions"]) == 3
    for k, t in enumerate(data["transitions"]):
        assert set(t) == {"from", "to", "cost", "terms", "reason"}
        assert (t["from"], t["to"]) == (k, k + 1)
        assert set(t["terms"]) == set(TERMS)
        assert t["cost"] == pytest.approx(sum(t["terms"].values()), abs=1e-3)
    assert data["transitions"][0]["reason"] == "compatible keys 8A→9A, +3 % tempo, " \
        "energy rising as planned"
    assert data["total_cost"] == pytest.approx(sum(t["cost"] for t in data["transitions"]))


def test_matrix_and_pins(features: Path) -> None:
    result = plan("--features", features, "--json", "--matrix", "--first", "d.ogg",
                  "--last", "a.ogg", "--arc", "flat")  # fmt: skip
    data = json.loads(result.stdout)
    assert data["order"][0]["path"] == "d.ogg" and data["order"][-1]["path"] == "a.ogg"
    tracks, _ = read_features_file(features)
    m, _ = cost_matrix(tracks)
    matrix = data["matrix"]
    assert len(matrix) == 4 and all(len(row) == 4 for row in matrix)
    for i in range(4):
        for j in range(4):
            assert matrix[i][j] is None if i == j else matrix[i][j] == pytest.approx(m[i, j],
                                                                                     abs=1e-3)
    # On the flat arc each transition costs what the matrix says.
    order = [o["index"] for o in data["order"]]
    for t in data["transitions"]:
        assert t["cost"] == pytest.approx(matrix[order[t["from"]]][order[t["to"]]], abs=1e-3)


def test_table_shows_order_terms_and_reasons(features: Path) -> None:
    result = plan("--features", features, "--arc", "rise")
    assert result.exit_code == 1
    assert "opens the set" in result.stdout and "as planned" in result.stdout
    assert "total cost" in result.stdout


def test_bad_input_is_named_or_planned_sanely(tmp_path: Path, features: Path) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text('[{"path": "x.ogg", "bpm": NaN, "energy": null, "camelot": "H7"},'
                   ' {"path": "x.ogg", "bpm": 120}, {"bpm": 99}, "junk",'
                   ' {"path": "y.ogg", "bpm": "fast", "key_confidence": -3}]')
    result = plan("--features", odd, "--json")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert sum("x.ogg" in ln and "twice" in ln for ln in lines) == 1
    assert sum("entry 3" in ln for ln in lines) == 1 and sum("entry 4" in ln for ln in lines) == 1
    data = json.loads(result.stdout)
    assert [o["path"] for o in data["order"]] in (["x.ogg", "y.ogg"], ["y.ogg", "x.ogg"])
    assert data["order"][0]["bpm"] is None or data["order"][1]["bpm"] is None
    assert "tempo uncertain" in data["transitions"][0]["reason"]

    one = tmp_path / "one.json"
    one.write_text(json.dumps([entry("solo.ogg")]))
    result = plan("--features", one, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["transitions"] == []

    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    for args, culprit in (
        (("--features", empty), "nothing to plan"),
        ((), "nothing to plan"),
        (("--features", tmp_path / "missing.json"), "missing.json"),
        (("--features", features, "--arc", "zigzag"), "flat, rise, peak, wave, fall"),
        (("--features", features, "--first", "a.ogg", "--last", "a.ogg"), "a.ogg"),
        (("--features", features, "--first", "nowhere.ogg"), "nowhere.ogg"),
    ):
        result = plan(*args)
        assert result.exit_code == 2, (args, result.output)
        assert culprit in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_feedback_can_be_added_shown_exported_and_reset(tmp_path: Path, features: Path) -> None:
    profile = tmp_path / "sam.toml"
    profile.write_text('name = "Sam"\n')
    fb = tmp_path / "sam.feedback.jsonl"
    for _ in range(3):
        r = runner.invoke(app, ["feedback", "add", str(profile), "a.ogg", "d.ogg", "--skip-at",
                                "9", "--features", str(features)])  # fmt: skip
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["feedback", "add", str(profile), "a.ogg", "b.ogg", "--like",
                                "--features", str(features)])  # fmt: skip
        assert r.exit_code == 0, r.output
    assert len(fb.read_text().splitlines()) == 6
    r = runner.invoke(app, ["feedback", "add", str(profile), "a.ogg", "b.ogg", "--like",
                            "--full-play", "--features", str(features)])  # fmt: skip
    assert r.exit_code == 2 and "exactly one" in r.stderr
    shown = runner.invoke(app, ["feedback", "show", str(profile)])
    assert shown.exit_code == 0 and "6 events, 6 that count" in shown.stdout
    # Planning with the listener says what the feedback changed.
    r = plan("--features", features, "--listener", profile, "--json")
    assert "personalised from 6 feedback events" in r.stderr
    out = tmp_path / "export.json"
    r = runner.invoke(app, ["feedback", "export", str(profile), "-o", str(out)])
    assert r.exit_code == 0 and len(json.loads(out.read_text())["events"]) == 6
    r = runner.invoke(app, ["feedback", "export", str(profile), "-o", str(out)])
    assert r.exit_code == 2 and "not overwritten" in r.stderr
    r = runner.invoke(app, ["feedback", "reset", str(profile)])
    assert r.exit_code == 2 and "--yes" in r.stderr and fb.exists()
    r = runner.invoke(app, ["feedback", "reset", str(profile), "--yes"])
    assert r.exit_code == 0 and not fb.exists()


@pytest.mark.slow
def test_plan_from_audio_and_from_analyze_json_agree(
    synth_set: dict[str, Path], tmp_path: Path
) -> None:
    files = [str(p) for p in synth_set.values()]

    def segue(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "segue", *args], capture_output=True,
                              text=True, timeout=600, check=False)  # fmt: skip

    analysed = segue("analyze", "--json", *files)
    assert analysed.returncode == 0, analysed.stderr
    features = tmp_path / "f.json"
    features.write_text(analysed.stdout)
    from_json = segue("plan", "--features", str(features), "--json")
    from_audio = segue("plan", *files, "--json")
    assert from_json.returncode == 0 and from_audio.returncode == 0, from_audio.stderr
    a, b = json.loads(from_json.stdout), json.loads(from_audio.stdout)
    assert [o["path"] for o in a["order"]] == [o["path"] for o in b["order"]]
    assert a["total_cost"] == pytest.approx(b["total_cost"], abs=1e-3)
    assert len(a["order"]) == 3
