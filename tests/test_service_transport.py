"""``segue serve``'s transport over real HTTP, with a tone show whose signal is exactly known.

Track ``i`` of the tone show is a sine at a known frequency, so what a client
decodes says which track it hears. Real clients: ffmpeg and ffprobe read the
streams, ICY metadata is parsed from the raw bytes, raw sockets play slow and
stuck clients.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from segue.service.icy import METAINT, parse_icy
from service_harness import tone_service

pytestmark = pytest.mark.slow

FREQS = [440.0, 660.0, 880.0]


def decode(data: bytes, tmp_path: Path, name: str) -> np.ndarray:
    """Decode encoded bytes with ffmpeg to mono float32 at 44.1 kHz."""
    src = tmp_path / name
    src.write_bytes(data)
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-ac", "1", "-ar", "44100",
                          "-f", "f32le", "pipe:1"], capture_output=True, check=True)  # fmt: skip
    return np.frombuffer(out.stdout, dtype="<f4")


def dominant_hz(samples: np.ndarray, sr: int = 44100) -> float:
    """The strongest frequency of ``samples`` (Hann window, 1 Hz resolution or better)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)), n=max(len(samples), sr)))
    return float(np.argmax(spectrum) * sr / max(len(samples), sr))


def tones(pcm: np.ndarray, window_s: float = 0.25, sr: int = 44100) -> list[float]:
    """The dominant frequency of each window (rounded to the nearest known tone or 0)."""
    n = int(window_s * sr)
    found = []
    for i in range(0, len(pcm) - n, n):
        hz = dominant_hz(pcm[i : i + n])
        near = min(FREQS, key=lambda f: abs(f - hz))
        found.append(near if abs(near - hz) < 15 else 0.0)
    return found


def read_stream(url: str, n_bytes: int, headers: dict[str, str] | None = None) -> bytes:
    data = bytearray()
    with httpx.stream("GET", url, headers=headers, timeout=20) as res:
        assert res.status_code == 200, res.read()
        for chunk in res.iter_bytes():
            data += chunk
            if len(data) >= n_bytes:
                break
    return bytes(data)


def test_every_stream_url_decodes_as_the_known_tones(tmp_path: Path) -> None:
    with tone_service(freqs=FREQS, duration_s=4.0) as (url, _):
        for path, magic in [("/stream.mp3", b""), ("/stream", b""), ("/stream.ogg", b"OggS"),
                            ("/stream.opus", b"OggS")]:  # fmt: skip
            with httpx.stream("GET", url + path, timeout=20) as res:
                assert res.status_code == 200
                assert res.headers["content-type"] == ("audio/mpeg" if "ogg" not in path
                                                       and "opus" not in path else "audio/ogg")
                assert res.headers["icy-name"] == "segue" and "icy-br" in res.headers
                assert "icy-metaint" not in res.headers  # only when asked for
                data = bytearray()
                for chunk in res.iter_bytes():
                    data += chunk
                    if len(data) > 60_000:
                        break
            assert data.startswith(magic)
            if path == "/stream.opus":
                assert b"OpusHead" in data[:200]
            if path == "/stream.ogg":
                assert b"\x01vorbis" in data[:200]
            heard = tones(decode(bytes(data), tmp_path, path.strip("/") or "s"))
            assert heard and sum(h in FREQS for h in heard) >= 0.9 * len(heard), (path, heard)


def test_ffmpeg_decodes_a_minute_of_every_stream_without_errors() -> None:
    with tone_service(freqs=FREQS, duration_s=8.0) as (url, station):
        session = httpx.post(url + "/api/sessions", json={}, timeout=20).json()["id"]
        paths = [f"{base}.{fmt}" for base in ("/stream", f"/api/sessions/{session}/stream")
                 for fmt in ("mp3", "ogg", "opus")]  # fmt: skip
        clients = {
            path: subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-t", "60", "-i",
                                    url + path, "-f", "null", "-"],
                                   stderr=subprocess.PIPE, text=True)
            for path in paths
        }  # fmt: skip
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                                "stream=codec_name,sample_rate,channels", "-of", "csv=p=0",
                                url + "/stream.opus"], capture_output=True, text=True,
                               timeout=30)  # fmt: skip
        for path, proc in clients.items():
            _, errors = proc.communicate(timeout=120)
            assert proc.returncode == 0 and not errors.strip(), (path, errors)
        assert probe.stdout.strip().split(",") == ["opus", "48000", "2"]
        assert station.broadcast is not None and station.broadcast.stats().late_count == 0


def test_icy_titles_change_where_the_track_changes(tmp_path: Path) -> None:
    with tone_service(freqs=FREQS, duration_s=3.0) as (url, _):
        raw = read_stream(url + "/stream.mp3", 24_000 * 9, {"Icy-MetaData": "1"})
    audio, titles = parse_icy(raw, METAINT)
    assert titles[:2] == ["Band 0 - Tone 440", "Band 1 - Tone 660"] or \
        titles[:2] == ["Band 1 - Tone 660", "Band 2 - Tone 880"], titles
    # Where the title changed, the tone changed (to within one metadata interval).
    pcm = decode(audio, tmp_path, "icy.mp3")
    heard = tones(pcm)
    changes = [i for i in range(1, len(heard)) if heard[i] != heard[i - 1]]
    assert changes, heard
    # The first title change, in seconds of audio, against the first tone change.
    block_index = 0
    offset = 0
    change_audio_bytes = None
    prev = None
    while offset + METAINT < len(raw):
        offset += METAINT
        block_index += 1
        length = raw[offset] * 16
        if length:
            title = raw[offset + 1 : offset + 1 + length].rstrip(b"\x00").decode()
            if prev is not None and title != prev and change_audio_bytes is None:
                change_audio_bytes = block_index * METAINT
            prev = title
        offset += 1 + length
    assert change_audio_bytes is not None
    title_change_s = change_audio_bytes / 24_000  # 192 kbit/s
    tone_change_s = changes[0] * 0.25
    assert abs(title_change_s - tone_change_s) <= METAINT / 24_000 + 0.3, \
        (title_change_s, tone_change_s)


def test_head_on_every_stream_route_and_errors_are_one_line_json() -> None:
    with tone_service() as (url, _), httpx.Client(base_url=url, timeout=10) as client:
        for path in ("/stream", "/stream.mp3", "/stream.ogg", "/stream.opus"):
            res = client.head(path)
            assert res.status_code == 200 and res.content == b""
            assert res.headers["content-type"].startswith("audio/")
        session = client.post("/api/sessions", json={}).json()
        res = client.head(session["stream_url"])
        assert res.status_code == 200 and res.headers["content-type"] == "audio/mpeg"
        cases = [
            ("GET", "/stream.wav", None, 404), ("GET", "/nowhere", None, 404),
            ("DELETE", "/api/nowplaying", None, 405),
            ("POST", "/api/sessions", b"{not json", 422),
            ("POST", "/api/sessions", b'{"arc": "zigzag"}', 422),
            ("POST", "/api/sessions", b'{"tracks": ["nope"]}', 422),
            ("POST", "/api/sessions", b'{"listener": {"feedback": "/etc/passwd"}}', 422),
            ("POST", "/api/sessions", b'{"listener": "nobody"}', 404),
            ("POST", "/api/sessions", b'{"listener": {"name": "' + b"Al" * 30 + b'"}}', 422),
            ("POST", "/api/sessions", b'{"listener": {"likes": {"artists": [3]}}}', 422),
            ("POST", "/api/sessions", b"x" * 70_000, 413),
            ("GET", "/api/sessions/unknown", None, 404),
            ("POST", f"/api/sessions/{session['id']}/reactions", b'{"type": "dance"}', 422),
            ("POST", f"/api/sessions/{session['id']}/reactions", b'{"type": "request"}', 422),
            ("POST", f"/api/sessions/{session['id']}/reactions",
             b'{"type": "request", "text": "\\u0000\\n\\u0007"}', 422),
        ]  # fmt: skip
        for method, path, body, status in cases:
            res = client.request(method, path, content=body,
                                 headers={"content-type": "application/json"})
            assert res.status_code == status, (method, path, res.text)
            error = res.json()["error"]
            assert isinstance(error, str) and "\n" not in error and "Traceback" not in error


def test_no_redirect_is_built_from_the_host_header() -> None:
    with tone_service() as (url, _), httpx.Client(base_url=url, timeout=10) as client:
        for path in ("/api/health/", "/stream.mp3/", "/api/sessions/"):
            res = client.get(path, headers={"Host": "attacker.example"})
            assert res.status_code in (404, 405) and "location" not in res.headers
        m3u = client.get("/listen.m3u", headers={"Host": "evil.example/x?<script>"}).text
        assert "evil" not in m3u and m3u.startswith("#EXTM3U\n")


def test_playlists_point_at_the_stream_and_ffmpeg_opens_the_m3u() -> None:
    with tone_service() as (url, _), httpx.Client(base_url=url, timeout=10) as client:
        m3u = client.get("/listen.m3u")
        assert m3u.headers["content-type"].startswith("audio/x-mpegurl")
        assert f"{url}/stream.mp3" in m3u.text.splitlines()
        pls = client.get("/listen.pls").text
        assert f"File1={url}/stream.mp3" in pls and "NumberOfEntries=1" in pls
        # ffmpeg reads an M3U through its HLS demuxer: an endless entry is one endless segment.
        res = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "hls", "-i",
                              url + "/listen.m3u", "-t", "3", "-f", "null", "-"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert res.returncode == 0 and not res.stderr.strip(), res.stderr


def _closed_by_server(sock: socket.socket, timeout_s: float) -> bool:
    """Whether the server closes ``sock`` (reading everything it sends) within ``timeout_s``."""
    sock.settimeout(timeout_s)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def test_a_connection_that_never_finishes_its_headers_is_closed() -> None:
    with tone_service() as (url, _):
        port = int(url.rsplit(":", 1)[1])
        silent = socket.create_connection(("127.0.0.1", port))
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        began = time.monotonic()
        assert _closed_by_server(silent, 30) and _closed_by_server(slow, 30)
        print(f"closed after {time.monotonic() - began:.1f} s")
        # The server still answers everyone else.
        assert httpx.get(url + "/api/health", timeout=5).status_code == 200


#: ffmpeg processes behind one lossy stream: the encoder, and the codec guard's trial
#: encoder and decoder.
ENCODER_PROCESSES = 3


def _ffmpeg_children() -> int:
    import os

    children = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children += name == "ffmpeg" and ppid == os.getpid()
    return children


def test_readers_that_never_read_are_dropped_and_share_one_encoder() -> None:
    with tone_service(stall_s=2.0) as (url, station):
        port = int(url.rsplit(":", 1)[1])
        stuck = []
        for _ in range(12):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET /stream.mp3 HTTP/1.1\r\nHost: x\r\n\r\n")
            stuck.append(s)
        time.sleep(1.0)
        assert station.broadcast is not None
        assert station.broadcast.listeners == 12
        # One encoder for every listener of the format, plus its codec guard's trial pair.
        assert _ffmpeg_children() == ENCODER_PROCESSES, "listeners of a format share an encoder"
        ring = station.broadcast._encoders["mp3"].ring
        # A reader that never reads: dropped once its socket is full and a write waits 2 s.
        deadline = time.monotonic() + 60
        while station.broadcast.listeners and time.monotonic() < deadline:
            time.sleep(0.2)
        assert station.broadcast.listeners == 0
        assert len(ring._buf) <= ring.capacity  # the hub never buffered more than its ring
        for s in stuck:
            assert _closed_by_server(s, 10)
            s.close()
        # Everyone else still gets the stream.
        assert len(read_stream(url + "/stream.mp3", 50_000)) >= 50_000


def test_a_token_guards_every_api_and_stream_route() -> None:
    with tone_service(token="s3cret-token") as (url, _), \
            httpx.Client(base_url=url, timeout=10) as client:
        for path in ("/api/health", "/api/nowplaying", "/listen.m3u", "/stream.mp3",
                     "/api/sessions/x"):
            res = client.get(path)
            assert res.status_code == 401 and "token" in res.json()["error"], path
        assert client.head("/stream.ogg").status_code == 401
        assert client.post("/api/sessions", json={}).status_code == 401
        bearer = {"Authorization": "Bearer s3cret-token"}
        assert client.get("/api/health", headers=bearer).json()["ready"] is True
        assert client.get("/api/health", params={"token": "wrong"}).status_code == 401
        assert client.head("/stream.mp3", params={"token": "s3cret-token"}).status_code == 200
        # Liveness stays public, but says no more than that.
        assert set(client.get("/healthz").json()) == {"ready", "state"}
        assert "problems" in client.get("/healthz", headers=bearer).json()
        m3u = client.get("/listen.m3u", headers=bearer).text
        assert "/stream.mp3?token=s3cret-token" in m3u
        assert client.get("/").status_code == 200  # the player page itself carries nothing


def test_nowplaying_and_events_follow_the_air_time() -> None:
    with tone_service(freqs=FREQS, duration_s=3.0) as (url, station), \
            httpx.Client(base_url=url, timeout=10) as client:
        events: list[tuple[str, dict, float]] = []
        with client.stream("GET", "/api/events") as res:
            assert res.headers["content-type"].startswith("text/event-stream")
            kind = None
            began = time.monotonic()
            for line in res.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind:
                    import json

                    assert station.broadcast is not None
                    events.append((kind, json.loads(line[6:]), station.broadcast.air_s))
                if sum(k == "track" for k, _, _ in events) >= 2 or time.monotonic() - began > 20:
                    break
        kinds = [k for k, _, _ in events]
        assert kinds[0] == "nowplaying" and "track" in kinds and "link" in kinds
        for kind, data, air_s in events[1:]:
            if kind in ("link", "track"):
                assert data["at_s"] <= air_s + 0.05, (kind, data, air_s)  # never before it airs
        link = next(d for k, d, _ in events if k == "link")
        assert link["text"].startswith("Here is Tone")
        np_ = client.get("/api/nowplaying").json()
        assert set(np_) >= {"station", "now_playing", "playing_next", "song_history", "listeners"}
        assert set(np_["now_playing"]) >= {"elapsed", "remaining", "song", "why", "link"}
        assert set(np_["now_playing"]["song"]) >= {"title", "artist", "album", "year", "genre"}
        assert np_["playing_next"]["song"]["title"].startswith("Tone")
        assert np_["song_history"] and "played_at" in np_["song_history"][0]
        assert "/" not in str(np_["now_playing"]["song"]["id"])


def test_forty_listeners_joining_together_never_fall_behind() -> None:
    """40 listeners arrive at once and stay through track changes: none hears a gap.

    A client counts a gap when the audio it has received (24 000 bytes a second)
    falls behind the wall-clock time since it connected, after a 2 s allowance.
    """
    import asyncio

    async def listen(port: int, duration_s: float) -> float:
        began = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /stream.mp3 HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        received, worst = 0, float("inf")
        while (elapsed := time.monotonic() - began) < duration_s:
            data = await asyncio.wait_for(reader.read(65536), 10)
            assert data, "the server ended the stream"
            received += len(data)
            if elapsed > 2.0:
                worst = min(worst, received / 24_000 - (time.monotonic() - began))
        writer.close()
        return worst

    async def crowd(port: int) -> list[float]:
        return await asyncio.gather(*(listen(port, 20.0) for _ in range(40)))

    with tone_service(freqs=FREQS, duration_s=5.0) as (url, station):
        margins = asyncio.run(crowd(int(url.rsplit(":", 1)[1])))
        assert station.broadcast is not None
        deadline = time.monotonic() + 10
        while station.broadcast.listeners and time.monotonic() < deadline:
            time.sleep(0.1)
        assert station.broadcast.listeners == 0
        assert _ffmpeg_children() <= ENCODER_PROCESSES
    print(f"worst margin {min(margins):.2f} s")
    assert min(margins) > 0, margins


def test_a_warm_encoder_runs_before_the_first_listener_and_after_the_last() -> None:
    from segue.service.channel import Channel
    from show_double import ToneShow

    channel = Channel(ToneShow([440.0, 660.0]), label="warm", lead_s=0.5, linger_s=0.0,
                      warm=("mp3",))
    channel.start()
    try:
        assert channel.stats().encoders == ("mp3",)  # before anyone listens
        for fmt in ("mp3", "ogg"):
            tap = channel.open(fmt)
            deadline = time.monotonic() + 10
            got = b""
            while not got and time.monotonic() < deadline:
                got = tap.read_blocking(1.0)
            assert got, fmt
            tap.close()
        deadline = time.monotonic() + 10
        while "ogg" in channel.stats().encoders and time.monotonic() < deadline:
            time.sleep(0.05)
        assert channel.stats().encoders == ("mp3",)  # the other one retired, mp3 stays
    finally:
        channel.close()
