"""The broadcast relayed to a real Icecast 2 server: a listener decodes it, titles arrive,
and the relay comes back when the server restarts."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from icecast_server import ICECAST, free_port, icecast
from segue.service.icecast import parse_icecast_url
from segue.service.icy import parse_icy
from service_harness import tone_service

pytestmark = pytest.mark.slow


def _wait(condition, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_the_url_is_read_and_the_password_never_shown() -> None:
    target = parse_icecast_url("icecast://source:p%40ss@127.0.0.1:8123/live.ogg")
    assert (target.host, target.port, target.mount, target.password) == \
        ("127.0.0.1", 8123, "/live.ogg", "p@ss")
    assert target.format == "ogg" and "p@ss" not in repr(target)
    for bad in ("http://127.0.0.1/x", "icecast://source@host/x", "icecast://source:pw@host"):
        with pytest.raises(Exception, match="--icecast") as info:
            parse_icecast_url(bad.replace("http:", "ftp:"))
        assert "pw" not in str(info.value)


def test_broadcast_through_icecast_decodes_carries_titles_and_survives_a_restart() -> None:
    if not Path(ICECAST).exists():
        pytest.skip("icecast2 is not installed (make test installs it)")
    port = free_port()
    url = f"icecast://source:test-source-pw@127.0.0.1:{port}/segue.mp3"
    mount = f"http://127.0.0.1:{port}/segue.mp3"
    with tone_service(duration_s=3.0, icecast_url=url) as (_, station):
        with icecast(port):
            assert _wait(lambda: station.relay is not None and station.relay.stats.connected, 20)
            time.sleep(1.0)
            res = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-t", "8", "-i", mount,
                                  "-f", "null", "-"], capture_output=True, text=True,
                                 timeout=60)  # fmt: skip
            assert res.returncode == 0 and not res.stderr.strip(), res.stderr
            raw = bytearray()
            with httpx.stream("GET", mount, headers={"Icy-MetaData": "1"}, timeout=20) as r:
                metaint = int(r.headers["icy-metaint"])
                for chunk in r.iter_bytes():
                    raw += chunk
                    if len(raw) > 24_000 * 8:
                        break
            _, titles = parse_icy(bytes(raw), metaint)
            assert any(t.startswith("Band ") for t in titles), titles
            assert station.relay.stats.titles_sent >= 2
            first_connections = station.relay.stats.connections
        # The server went away and comes back on the same port: the relay reconnects.
        assert _wait(lambda: not station.relay.stats.connected, 20)
        with icecast(port):
            assert _wait(lambda: station.relay.stats.connections > first_connections, 30)
            res = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-t", "3", "-i", mount,
                                  "-f", "null", "-"], capture_output=True, text=True,
                                 timeout=60)  # fmt: skip
            assert res.returncode == 0, res.stderr
