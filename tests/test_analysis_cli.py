"""``segue analyze`` on good and bad input: one clear outcome per file, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synthetic import SynthSpec, synthesize

pytestmark = pytest.mark.slow

CONTRACT = ("path", "status", "error", "title", "artist", "album", "year", "genre", "duration_s",
            "bpm", "bpm_confidence", "key", "camelot", "key_confidence", "lufs",
            "loudness_range_lu", "true_peak_dbtp", "energy", "first_sound_s", "last_sound_s",
            "intro_end_s", "outro_start_s", "vocal_onset_s")


def segue(*args: str | Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SEGUE_CACHE_DIR": str(cache), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "segue", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    spec = SynthSpec(bpm=120, intro_bars=2, body_bars=6, outro_bars=2)
    music = synthesize(spec)  # (n, 2) at 44.1 kHz
    sf.write(d / "good.flac", music, 44100)
    (d / "notes.mp3").write_text("definitely not audio\n" * 100)
    _ffmpeg("-i", str(d / "good.flac"), "-c:a", "libmp3lame", str(d / "full.mp3"))
    data = (d / "full.mp3").read_bytes()
    (d / "truncated.mp3").write_bytes(data[: len(data) // 2])
    (d / "full.mp3").unlink()
    sf.write(d / "silence.wav", np.zeros((44100 * 10, 2), np.float32), 44100)
    sf.write(d / "one-second.wav", music[:44100], 44100)
    eight = np.concatenate([music] * 4, axis=1)
    sf.write(d / "eight-channels.wav", eight, 44100)
    _ffmpeg("-i", str(d / "good.flac"), "-ar", "8000", str(d / "8khz.wav"))
    _ffmpeg("-i", str(d / "good.flac"), "-ar", "192000", str(d / "192khz.flac"))
    # An hour of a click track (8 kHz mono keeps the file small).
    _ffmpeg("-f", "lavfi", "-i", "aevalsrc=0.5*sin(2*PI*220*t)*exp(-20*mod(t\\,0.5)):s=8000:d=3600",
            "-c:a", "flac", str(d / "hour.flac"))
    return d


def test_every_bad_input_gets_its_own_outcome(bad_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    proc = segue("analyze", bad_folder, "--json", "--jobs", "2", cache=cache)
    assert proc.returncode == 1, proc.stderr
    rows = {Path(r["path"]).name: r for r in json.loads(proc.stdout)}
    assert len(rows) == 9
    for row in rows.values():
        assert all(k in row for k in CONTRACT)
    failed = {name: row["error"] for name, row in rows.items() if row["status"] == "failed"}
    assert set(failed) == {"notes.mp3", "truncated.mp3", "silence.wav", "one-second.wav"}
    assert "not decodable" in failed["notes.mp3"] and "truncated" in failed["truncated.mp3"]
    assert "silent" in failed["silence.wav"] and "too short" in failed["one-second.wav"]
    for name in ("good.flac", "eight-channels.wav", "8khz.wav", "192khz.flac"):
        assert rows[name]["status"] == "ok" and rows[name]["error"] is None
        assert rows[name]["bpm"] == pytest.approx(120, rel=0.04), name
        assert rows[name]["key"] == "A minor", name
    assert rows["hour.flac"]["duration_s"] == pytest.approx(3600, abs=1)
    assert rows["hour.flac"]["bpm"] == pytest.approx(120, rel=0.04)
    # Each failure is named once on stderr; the table lists every file.
    for name in failed:
        assert sum(name in line and "failed" in line for line in proc.stderr.splitlines()) >= 1
    # A second run takes everything from the cache, failures included.
    again = segue("analyze", bad_folder, "--json", cache=cache)
    assert again.returncode == 1
    assert all(r["cached"] for r in json.loads(again.stdout))
    assert "5 analysed, 4 failed (9 from the cache)" in again.stderr


def test_good_input_exits_zero_and_bad_arguments_two(bad_folder: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ok = segue("analyze", bad_folder / "good.flac", cache=cache)
    assert ok.returncode == 0, ok.stderr
    assert "1 analysed" in ok.stderr
    nothing = segue("analyze", tmp_path / "missing.ogg", cache=cache)
    assert nothing.returncode == 2 and "missing.ogg" in nothing.stderr
    wrong = segue("analyze", bad_folder / "good.flac", "--executor", "spark", cache=cache)
    assert wrong.returncode == 2 and "unknown executor" in wrong.stderr
