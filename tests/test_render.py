"""End to end: synthetic tracks become a narrated mix whose artifacts agree with it."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from segue.config import Settings
from segue.listener import load_listener
from segue.mixing.render import render_blocks
from segue.models import Timeline
from segue.pipeline import RenderResult, render_set

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rendered(synth_set: dict[str, Path], listener_file: Path,
             tmp_path_factory: pytest.TempPathFactory) -> RenderResult:
    out = tmp_path_factory.mktemp("out") / "set.mp3"
    return render_set(list(synth_set.values()), out, listener=load_listener(listener_file),
                      settings=Settings(talk_cadence="every"), keep_speech=True)


def _pcm(result: RenderResult | Timeline, *, voice: bool) -> np.ndarray:
    timeline = result.timeline if isinstance(result, RenderResult) else result
    blocks = list(render_blocks(timeline, Settings(), voice=voice))
    return np.concatenate(blocks, axis=1)


def _ffprobe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def test_outputs_exist_and_duration_matches_the_timeline(rendered: RenderResult) -> None:
    data = json.loads(rendered.artifacts["timeline"].read_text())
    assert rendered.problems == []
    assert _ffprobe_duration(rendered.out) == pytest.approx(data["duration_s"], abs=0.15)
    # An opening, a link before each later track and the closing after the last.
    assert len(data["tracks"]) == 3 and len(data["links"]) == 4
    for key in ("duration_s", "target_lufs", "tracks", "links"):
        assert key in data
    for tr in data["tracks"]:
        assert {"path", "title", "artist", "start_s", "end_s"} <= tr.keys()
    for lk in data["links"]:
        assert {"text", "start_s", "end_s", "before_track", "backend"} <= lk.keys()
        assert lk["backend"] == "template"
    # No gap: every track starts before the previous one ends.
    for a, b in zip(data["tracks"], data["tracks"][1:], strict=False):
        assert b["start_s"] < a["end_s"]
    assert "Robin" in data["links"][0]["text"]


def test_speech_is_heard_where_the_timeline_puts_it_and_nowhere_else(
    rendered: RenderResult,
) -> None:
    sr = rendered.timeline.sr
    mix, music = _pcm(rendered, voice=True), _pcm(rendered, voice=False)
    assert mix.shape == music.shape
    hop = int(0.05 * sr)
    n = mix.shape[1] // hop
    speech_db = np.empty(n)
    music_db = np.empty(n)
    for i in range(n):
        t, m = mix[:, i * hop : (i + 1) * hop], music[:, i * hop : (i + 1) * hop]
        # The mix is ducked music plus speech: remove the best-fitting scaled music.
        g = float(np.sum(t * m) / max(np.sum(m * m), 1e-12))
        speech_db[i] = 10 * np.log10(np.mean((t - g * m) ** 2) + 1e-12)
        music_db[i] = 10 * np.log10(np.mean((g * m) ** 2) + 1e-12)
    times = (np.arange(n) + 0.5) * hop / sr
    inside = np.zeros(n, bool)
    near = np.zeros(n, bool)
    for lk in rendered.timeline.links:
        inside |= (times >= lk.start_s + 0.1) & (times <= lk.end_s - 0.1)
        near |= (times >= lk.start_s - 0.3) & (times <= lk.end_s + 0.7)
        window = (times >= lk.start_s + 0.1) & (times <= lk.end_s - 0.1)
        # Speech is present through most of its window, well above the ducked music.
        assert np.mean(speech_db[window] > -40) > 0.6, lk.text
        talking = window & (speech_db > -40)
        assert np.median(speech_db[talking] - music_db[talking]) > 6, lk.text
    assert np.max(speech_db[~near]) < -60  # no voice anywhere else


def test_each_track_is_near_the_target_loudness_in_the_mix(rendered: RenderResult) -> None:
    sr = rendered.timeline.sr
    meter = pyloudnorm.Meter(sr)
    for tr in rendered.timeline.tracks:
        # The track alone, exactly as the mix plays it (gain, bed, stretch), without fades.
        solo = dataclasses.replace(
            rendered.timeline, tracks=(dataclasses.replace(tr, fade_in_s=0.0, fade_out_s=0.0),),
            links=(), speech=())
        audio = _pcm(solo, voice=False)
        a, b = round(tr.start_s * sr), round(tr.end_s * sr)
        loudness = meter.integrated_loudness(audio[:, a:b].T.astype(np.float64))
        assert loudness == pytest.approx(rendered.timeline.target_lufs, abs=1.0), tr.title
    music = _pcm(rendered, voice=False)
    assert np.max(np.abs(music)) <= 10 ** (-1 / 20) + 1e-6


def test_transcript_matches_the_timeline(rendered: RenderResult) -> None:
    vtt = rendered.artifacts["transcript"].read_text()
    assert vtt.startswith("WEBVTT")
    cues = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(.+)", vtt)

    def secs(ts: str) -> float:
        h, m, s = ts.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    assert len(cues) == len(rendered.timeline.links)
    for (start, end, text), link in zip(cues, rendered.timeline.links, strict=True):
        assert text == link.text
        assert secs(start) == pytest.approx(link.start_s, abs=0.001)
        assert secs(end) == pytest.approx(link.end_s, abs=0.001)


def test_talk_off_renders_music_only(synth_set: dict[str, Path], tmp_path: Path) -> None:
    from segue.models import Listener

    out = tmp_path / "quiet.wav"
    result = render_set([synth_set["alpha"], synth_set["charlie"]], out,
                        listener=Listener(talk_level="off"), settings=Settings())
    assert result.timeline.links == ()
    assert json.loads(out.with_suffix(".json").read_text())["links"] == []
    assert out.with_suffix(".vtt").read_text().strip() == "WEBVTT"


def test_outputs_get_ordinary_file_permissions(rendered: RenderResult) -> None:
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    for path in rendered.artifacts.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
