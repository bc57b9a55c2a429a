"""``segue serve`` over real HTTP: player, paced stream, now playing, template edits, clean-up."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from segue.cli.serve import bind
from segue.config import Settings
from segue.listener import load_listener
from segue.service import create_app

pytestmark = pytest.mark.slow

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free port of 127.0.0.1; yield its base URL."""
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def service(
    synth_set: dict[str, Path], listener_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The synthetic set served from a copy of the prompts (so a test may edit them)."""
    prompts = tmp_path_factory.mktemp("prompts") / "prompts"
    shutil.copytree(PROMPTS, prompts)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEGUE_PROMPTS_DIR", str(prompts))
        app = create_app(list(synth_set.values()), listener=load_listener(listener_file),
                         settings=Settings())
        with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            first_health = client.get("/healthz")
            deadline = time.monotonic() + 300
            while not client.get("/healthz").json()["ready"]:
                assert time.monotonic() < deadline, "the set was never ready"
                assert client.get("/healthz").json()["state"] != "failed"
                time.sleep(0.2)
            yield {"url": url, "client": client, "prompts": prompts,
                   "first_health": first_health}


def _ffmpeg_descendants() -> set[int]:
    """Process ids of ffmpeg processes started (directly or not) by this test process."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        parents[int(entry.name)] = int(rest.split()[1])
        names[int(entry.name)] = name
    mine = {os.getpid()}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                changed = True
    return {pid for pid in mine if names.get(pid) == "ffmpeg"}


def test_health_and_player_answer_before_the_set_is_ready(service: dict[str, Any]) -> None:
    first = service["first_health"]
    assert first.status_code == 200 and "state" in first.json()
    page = service["client"].get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<audio' in page.text and 'src="/stream.mp3"' in page.text
    assert "/api/now" in page.text and "/api/timeline" in page.text
    # Nothing may load from the internet: no absolute or protocol-relative URL.
    assert not re.search(r"https?://|[\"'(=]\s*//", page.text)


def test_stream_starts_at_once_decodes_and_stops_its_encoder(
    service: dict[str, Any], tmp_path: Path
) -> None:
    client: httpx.Client = service["client"]
    timeline = client.get("/api/timeline").json()
    full_bytes = timeline["duration_s"] * 192_000 / 8
    before = _ffmpeg_descendants()
    data = bytearray()
    t_request = time.perf_counter()
    with client.stream("GET", "/stream.mp3") as res:
        assert res.status_code == 200
        assert res.headers["content-type"] == "audio/mpeg"
        assert "content-length" not in res.headers
        chunks = res.iter_bytes()
        data += next(chunks)
        ttfb_s = time.perf_counter() - t_request
        during = _ffmpeg_descendants() - before
        now = client.get("/api/now").json()
        for chunk in chunks:
            data += chunk
            if len(data) >= 96_000:  # about 4 s of audio
                break
    print(f"time to first byte after readiness: {ttfb_s * 1000:.0f} ms")
    # The first bytes came while the set was still being rendered, not after.
    assert len(data) < full_bytes / 2
    assert now["position_s"] < timeline["duration_s"] / 2
    assert now["track"]["index"] == 0
    assert now["track"]["title"] == timeline["tracks"][0]["title"]
    assert during, "no encoder was running while streaming"
    out = tmp_path / "head.mp3"
    out.write_bytes(bytes(data))
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                            "stream=codec_name,sample_rate,channels", "-of", "csv=p=0", str(out)],
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert probe.stdout.strip().split(",") == ["mp3", str(timeline["sample_rate"]), "2"]
    # The client left: the encoder and the decoders stop.
    deadline = time.monotonic() + 10
    while _ffmpeg_descendants() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _ffmpeg_descendants() - before, "ffmpeg outlived its stream"


def test_ogg_stream_and_now_playing_at_a_given_time(service: dict[str, Any]) -> None:
    client: httpx.Client = service["client"]
    with client.stream("GET", "/stream.ogg") as res:
        assert res.headers["content-type"] == "audio/ogg"
        assert next(res.iter_bytes()).startswith(b"OggS")
    timeline = client.get("/api/timeline").json()
    first, second = timeline["tracks"][0], timeline["tracks"][1]
    assert client.get("/api/now", params={"t": 0}).json()["track"]["title"] == first["title"]
    later = client.get("/api/now", params={"t": second["start_s"] + 0.1}).json()
    assert later["track"]["index"] == 1
    opening = timeline["links"][0]
    spoken = client.get("/api/now", params={"t": opening["start_s"] + 0.1}).json()
    assert spoken["link"]["text"] == opening["text"]


def test_a_new_stream_uses_the_templates_as_they_are_now(service: dict[str, Any]) -> None:
    client: httpx.Client = service["client"]
    before = client.get("/api/timeline").json()
    name = before["links"][0]["template"]
    path = service["prompts"] / f"{name}.j2"
    original = path.read_text()
    front = re.match(r"\A\s*\{#---.*?---#\}\s*\n", original, re.DOTALL)
    assert front is not None
    path.write_text(front.group(0) + "{% block line %}Freshly edited words, live on air."
                    "{% endblock %}\n")
    try:
        # The timeline describes the latest session until a new stream starts.
        assert "Freshly edited" not in client.get("/api/timeline").json()["links"][0]["text"]
        with client.stream("GET", "/stream.mp3") as res:
            next(res.iter_bytes())
        after = client.get("/api/timeline").json()
        assert after["session"] > before["session"]
        assert after["links"][0]["text"] == "Freshly edited words, live on air."
        assert [lk["text"] for lk in after["links"][1:]] == \
            [lk["text"] for lk in before["links"][1:]]
    finally:
        path.write_text(original)


def _segue(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "segue", "serve", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_refuses_a_busy_port_and_no_tracks(
    synth_set: dict[str, Path], tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        res = _segue(synth_set["alpha"], "--port", str(port))
    assert res.returncode == 2
    assert f"127.0.0.1:{port}: cannot listen" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _segue(empty, "--port", "0")
    assert res.returncode == 2
    assert "nothing to play" in res.stderr
