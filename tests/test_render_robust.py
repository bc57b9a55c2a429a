"""Rendering under odd inputs and faults: layouts, a failing voice, interruption, bad outputs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segue.config import Settings
from segue.models import Listener
from segue.pipeline import render_set
from segue.voice.engines import OpenAISpeechEngine
from speech_server import SpeechServer
from synthetic import SynthSpec, synthesize

pytestmark = pytest.mark.slow

SPEC = SynthSpec(bpm=120, intro_bars=3, body_bars=5, outro_bars=2)


def _write(path: Path, sr: int, channels: int, spec: SynthSpec = SPEC) -> Path:
    stereo = synthesize(SynthSpec(**{**spec.__dict__, "sr": sr}))
    data = stereo[:, :1] if channels == 1 else np.tile(stereo, (1, channels // 2))
    sf.write(path, data, sr)
    return path


def test_mono_8k_96k_and_multichannel_inputs_render(tmp_path: Path) -> None:
    files = [_write(tmp_path / "mono8k.wav", 8000, 1), _write(tmp_path / "hi96k.flac", 96000, 2),
             _write(tmp_path / "six.wav", 48000, 6)]
    out = tmp_path / "mix.flac"
    result = render_set(files, out, listener=Listener(talk_level="off"), settings=Settings())
    assert result.problems == []
    info = sf.info(out)
    assert (info.samplerate, info.channels) == (44100, 2)
    assert info.duration == pytest.approx(result.timeline.duration_s, abs=0.05)
    audio, _ = sf.read(out)
    assert np.sqrt(np.mean(audio**2)) > 0.05  # every part is audible, none silent


def test_a_hidden_track_after_a_long_silence_is_no_dead_air(tmp_path: Path) -> None:
    song = synthesize(SPEC)
    hidden = synthesize(SynthSpec(**{**SPEC.__dict__, "bpm": 100, "seed": 4}))[: 8 * 44100]
    sf.write(tmp_path / "album.flac", np.concatenate([song, np.zeros((30 * 44100, 2)), hidden]),
             44100)  # fmt: skip
    files = [tmp_path / "album.flac", _write(tmp_path / "next.flac", 44100, 2)]
    out = tmp_path / "mix.wav"
    render_set(files, out, listener=Listener(talk_level="off"), settings=Settings())
    audio, sr = sf.read(out)
    level = np.sqrt(np.mean(audio[: len(audio) // sr * sr].reshape(-1, sr // 10, 2) ** 2,
                            axis=(1, 2)))  # fmt: skip
    quiet = np.flatnonzero(level < 10 ** (-50 / 20))
    runs = np.split(quiet, np.flatnonzero(np.diff(quiet) > 1) + 1) if len(quiet) else []
    inner = [r for r in runs if r[0] > 0 and r[-1] < len(level) - 30]  # not the final fade
    assert max((len(r) / 10 for r in inner), default=0.0) < 1.0


def test_a_failed_line_is_dropped_and_the_music_plays_on(tmp_path: Path) -> None:
    files = [_write(tmp_path / f"{i}.wav", 44100, 2, SynthSpec(**{**SPEC.__dict__, "seed": i}))
             for i in range(3)]
    out = tmp_path / "mix.wav"
    with SpeechServer() as server:
        server.script.extend(["ok", "garbage", "ok"])
        engine = OpenAISpeechEngine(model="m", voice="v", base_url=server.base_url, retries=0)
        result = render_set(files, out, listener=Listener(), engine=engine,
                            settings=Settings(talk_cadence="every"))
    data = json.loads(out.with_suffix(".json").read_text())
    assert [lk["before_track"] for lk in data["links"]] == [0, 2, 3]  # 3: the closing
    assert data["dropped_links"][0]["before_track"] == 1
    assert "no readable audio" in data["dropped_links"][0]["reason"]
    assert any("not spoken" in p for p in result.problems)
    assert len(data["tracks"]) == 3


def test_interrupted_render_leaves_nothing_under_the_output_name(tmp_path: Path) -> None:
    long = SynthSpec(bpm=120, intro_bars=4, body_bars=60, outro_bars=4)
    files = [_write(tmp_path / f"{i}.wav", 44100, 2, SynthSpec(**{**long.__dict__, "seed": i}))
             for i in range(2)]
    out = tmp_path / "out" / "mix.mp3"
    proc = subprocess.Popen([sys.executable, "-m", "segue", "render", *map(str, files),
                             "-o", str(out)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # Wait until the encoder is writing its temporary file, then interrupt.
    while time.monotonic() < deadline and not list(out.parent.glob(".mix.*partial*")):
        time.sleep(0.05)
    assert list(out.parent.glob(".mix.*partial*")), "render never started mixing"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no partial files left behind either


def test_output_folder_that_cannot_exist_is_refused_before_work(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    track = _write(tmp_path / "t.wav", 44100, 2)
    proc = subprocess.run([sys.executable, "-m", "segue", "render", str(track), "-o",
                           str(blocker / "mix.mp3")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"{blocker} is a file, not a folder" in proc.stderr and "mix.mp3" in proc.stderr


def test_settings_reject_a_bad_environment_value() -> None:
    from segue.errors import SegueError

    with pytest.raises(SegueError, match="SEGUE_TARGET_LUFS='loud'"):
        Settings.from_env({"SEGUE_TARGET_LUFS": "loud"})
