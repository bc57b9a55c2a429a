"""``segue serve`` under load, on loopback: first bytes, listeners, sessions, churn, faults.

Runs the real command (``python -m segue serve audio_samples``, analysis cached)
and real clients in a separate process (asyncio sockets). A client counts an
*underrun* when the audio it has received (MP3 at 192 kbit/s: 24 000 bytes a
second) falls behind the wall-clock time since it connected, after a 2 s start
allowance. Everything is bounded in count and time and stays on 127.0.0.1.

    python benchmarks/bench_serve.py                 # every part, 5-minute soaks
    python benchmarks/bench_serve.py --soak-s 60 --only ttfb,broadcast
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BYTES_PER_S = 24_000
ALLOWANCE_S = 2.0


# -- the server ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``segue serve`` in a subprocess, waited on until ready."""

    def __init__(self, music: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "segue", "serve", str(music), "--port", str(self.port),
               "--max-sessions", "16", *extra]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})},
                                     stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/api/health", timeout=2).json().get("ready"):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"segue serve exited: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            time.sleep(0.3)
        self.started = time.monotonic()

    def usage(self) -> dict[str, float]:
        """Resident memory, threads, open files and child processes of the server."""
        children = [c for c in self.ps.children(recursive=True) if c.is_running()]
        return {"rss_mb": self.ps.memory_info().rss / 2**20, "threads": self.ps.num_threads(),
                "fds": self.ps.num_fds(), "children": len(children)}  # fmt: skip

    def cpu_s(self) -> float:
        total = self.ps.cpu_times()
        cpu = total.user + total.system
        for child in self.ps.children(recursive=True):
            try:
                t = child.cpu_times()
                cpu += t.user + t.system
            except psutil.Error:
                pass
        return cpu

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- clients (asyncio, in this process) -----------------------------------------


async def listen(url_path: str, port: int, duration_s: float, stats: dict[str, Any],
                 stuck: bool = False) -> None:  # fmt: skip
    """One listener: counts bytes and underruns (or, ``stuck``, never reads)."""
    began = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {url_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    if stuck:
        await asyncio.sleep(duration_s)
        writer.close()
        return
    head = await reader.readuntil(b"\r\n\r\n")
    first = None
    received = 0
    underrun = False
    worst = float("inf")
    try:
        while (now := time.monotonic()) - began < duration_s:
            data = await asyncio.wait_for(reader.read(65536), timeout=5)
            if not data:
                break
            if first is None:
                first = now - began
            received += len(data)
            elapsed = time.monotonic() - began
            if elapsed > ALLOWANCE_S:
                worst = min(worst, received / BYTES_PER_S - elapsed)
                underrun = underrun or received / BYTES_PER_S < elapsed
    except (asyncio.TimeoutError, OSError):
        underrun = True
    finally:
        writer.close()
    elapsed = time.monotonic() - began
    if elapsed > ALLOWANCE_S and received / BYTES_PER_S < min(elapsed, duration_s) - 0.5:
        underrun = True
    stats["ttfb"].append(first if first is not None else float("nan"))
    stats["worst_margin_s"] = min(stats.get("worst_margin_s", float("inf")), worst)
    stats["underruns"] += underrun
    stats["clients"] += 1
    stats["ok_status"] += head.startswith(b"HTTP/1.1 200")


def run_listeners(port: int, paths: list[str], duration_s: float, *, stuck: int = 0,
                  ramp_s: float = 10.0) -> dict[str, Any]:  # fmt: skip
    """``paths`` listeners (ramped up over ``ramp_s``), each for ``duration_s``."""
    stats: dict[str, Any] = {"ttfb": [], "underruns": 0, "clients": 0, "ok_status": 0}

    async def main() -> None:
        tasks = []
        for path in paths:
            tasks.append(asyncio.ensure_future(listen(path, port, duration_s, stats)))
            await asyncio.sleep(ramp_s / max(1, len(paths)))
        for _ in range(stuck):
            tasks.append(asyncio.ensure_future(listen("/stream.mp3", port, duration_s, stats,
                                                      stuck=True)))
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    stats["clients"] -= 0
    return stats


def first_body_byte(port: int, path: str) -> float:
    """Seconds from connecting to the first byte of the answer's body (a raw socket)."""
    began = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while True:
            data += sock.recv(65536)
            _, sep, body = data.partition(b"\r\n\r\n")
            # chunked: the first chunk's size line, then its bytes
            if sep and b"\r\n" in body and len(body.split(b"\r\n", 1)[1]) > 0:
                return time.perf_counter() - began


# -- the parts --------------------------------------------------------------------


def part_ttfb(music: Path) -> dict[str, Any]:
    server = Server(music)
    try:
        time.sleep(3.0)
        broadcast = sorted(first_body_byte(server.port, "/stream.mp3") for _ in range(10))
        sessions = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.get("/api/health")
            for _ in range(5):
                began = time.perf_counter()
                made = client.post("/api/sessions", json={}).json()
                first_body_byte(server.port, made["stream_url"])
                sessions.append(time.perf_counter() - began)
                client.delete(f"/api/sessions/{made['id']}")
            httpx.delete(server.url + f"/api/sessions/{made['id']}", timeout=30)
        return {"broadcast_ttfb_s_median": broadcast[len(broadcast) // 2],
                "broadcast_ttfb_s_worst": broadcast[-1],
                "session_ttfb_s_median": sorted(sessions)[len(sessions) // 2],
                "session_ttfb_s_worst": max(sessions)}  # fmt: skip
    finally:
        server.stop()


def part_broadcast(music: Path, listeners: int, soak_s: float) -> dict[str, Any]:
    server = Server(music)
    try:
        time.sleep(2.0)
        idle_cpu0, idle_t0 = server.cpu_s(), time.monotonic()
        time.sleep(10.0)
        idle_cpu = (server.cpu_s() - idle_cpu0) / (time.monotonic() - idle_t0)
        idle = server.usage()
        cpu0, t0 = server.cpu_s(), time.monotonic()
        peak: dict[str, float] = {}

        def sample() -> None:
            while time.monotonic() - t0 < soak_s:
                try:
                    for k, v in server.usage().items():
                        peak[k] = max(peak.get(k, 0), v)
                except psutil.Error:  # a child (an encoder) went away while counted
                    pass
                time.sleep(2.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stats = run_listeners(server.port, ["/stream.mp3"] * listeners, soak_s, ramp_s=20.0)
        cpu = (server.cpu_s() - cpu0) / (time.monotonic() - t0)
        late_s = httpx.get(server.url + "/api/health", timeout=10).json()["late_s"]
        return {"listeners": listeners, "soak_s": soak_s, "underruns": stats["underruns"],
                "worst_margin_s": stats.get("worst_margin_s"), "server_late_s": late_s,
                "clients_done": stats["clients"], "ok_status": stats["ok_status"],
                "ttfb_s_worst": max(stats["ttfb"]),
                "server_cpu_idle_pct": 100 * idle_cpu, "server_cpu_pct": 100 * cpu,
                "cpu_pct_per_listener": 100 * (cpu - idle_cpu) / listeners,
                "rss_mb_idle": idle["rss_mb"], "rss_mb_peak": peak.get("rss_mb", 0),
                "rss_kb_per_listener": 1024 * (peak.get("rss_mb", 0) - idle["rss_mb"]) / listeners}
    finally:
        server.stop()


def part_sessions(music: Path, sessions: int, soak_s: float) -> dict[str, Any]:
    server = Server(music, env={"SEGUE_ALIGN_BY_EAR": "1"})
    try:
        paths, ids = [], []
        for i in range(sessions):
            made = httpx.post(server.url + "/api/sessions",
                              json={"listener": {"name": f"Listener {i}", "talk": "normal"}},
                              timeout=60).json()  # fmt: skip
            paths.append(made["stream_url"])
            ids.append(made["id"])
        cpu0, t0 = server.cpu_s(), time.monotonic()
        stats = run_listeners(server.port, paths, soak_s, ramp_s=5.0)
        cpu = (server.cpu_s() - cpu0) / (time.monotonic() - t0)
        health = httpx.get(server.url + "/api/health", timeout=10).json()
        late = [httpx.get(server.url + f"/api/sessions/{i}", timeout=30).json().get("late_s")
                for i in ids]  # fmt: skip
        return {"sessions": sessions, "soak_s": soak_s, "underruns": stats["underruns"],
                "worst_margin_s": stats.get("worst_margin_s"), "sessions_late_s": late,
                "clients_done": stats["clients"], "server_cpu_pct": 100 * cpu,
                "late_s_broadcast": health["late_s"], "rss_mb": server.usage()["rss_mb"]}
    finally:
        server.stop()


def part_cycles(music: Path, cycles: int, settle_s: float = 65.0) -> dict[str, Any]:
    server = Server(music)
    try:
        def one(path: str) -> None:
            with httpx.stream("GET", server.url + path, timeout=30) as res:
                got = 0
                for chunk in res.iter_bytes():
                    got += len(chunk)
                    if got >= 16_384 or path.endswith("events"):  # events: the snapshot
                        break

        kinds = ("/stream.mp3", "/stream.ogg", "/stream.opus", "/api/events")

        def settled() -> dict[str, float]:
            time.sleep(settle_s)  # encoders without listeners stop after their linger (60 s)
            return server.usage()

        for i in range(40):  # warm-up: every kind of answer has been given once
            one(kinds[i % 4])
        marks = [settled()]
        # A control: the show plays on as long as the cycles take, with no client at all,
        # so what the show itself grows by (new tracks decoded) is not put on the clients.
        began = time.monotonic()
        for i in range(cycles // 2):
            one(kinds[i % 4])
        half_s = time.monotonic() - began
        marks.append(settled())
        time.sleep(half_s)
        marks.append(settled())
        for i in range(cycles - cycles // 2):
            one(kinds[i % 4])
        marks.append(settled())
        m0, m1, m2, m3 = marks
        return {"cycles": cycles, "marks": marks,
                "growth_over_cycles": {k: (m1[k] - m0[k]) + (m3[k] - m2[k]) for k in m0},
                "growth_without_clients": {k: m2[k] - m1[k] for k in m0},
                "growth_second_half": {k: m3[k] - m2[k] for k in m0}}
    finally:
        server.stop()


def _hanging_llm() -> tuple[int, threading.Event]:
    """A server that accepts connections and never answers (a hung LLM)."""
    stop = threading.Event()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []

    def serve() -> None:
        sock.settimeout(0.5)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except TimeoutError:
                continue
        for s in held:
            s.close()
        sock.close()

    threading.Thread(target=serve, daemon=True).start()
    return sock.getsockname()[1], stop


def part_faults(music: Path, soak_s: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    port, stop = _hanging_llm()
    try:
        server = Server(music, "--narrator", "openai", "--llm-base-url",
                        f"http://127.0.0.1:{port}/v1", "--llm-model", "x",
                        env={"OPENAI_API_KEY": "bench"})  # fmt: skip
        try:
            stats = run_listeners(server.port, ["/stream.mp3"] * 10, soak_s, ramp_s=2.0)
            results["llm_hangs"] = {"underruns": stats["underruns"], "clients": stats["clients"]}
        finally:
            server.stop()
    finally:
        stop.set()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "music"
        shutil.copytree(music, copy)
        server = Server(copy)
        try:
            from segue.library import track_id

            by_id = {track_id(f): f for f in copy.glob("*.ogg")}

            def sabotage() -> None:
                time.sleep(5)
                now = httpx.get(server.url + "/api/nowplaying", timeout=10).json()
                for entry in (now["now_playing"], now["playing_next"]):
                    if entry and entry.get("song"):  # the playing and the next track vanish
                        by_id[entry["song"]["id"]].unlink(missing_ok=True)
                for child in server.ps.children(recursive=True):
                    if "ffmpeg" not in child.name():
                        child.kill()  # the voice worker crashes
            threading.Thread(target=sabotage, daemon=True).start()
            stats = run_listeners(server.port, ["/stream.mp3"] * 10, soak_s, stuck=20,
                                  ramp_s=2.0)  # fmt: skip
            health = httpx.get(server.url + "/api/health", timeout=10).json()
            results["tracks_deleted_voice_killed_20_stuck_readers"] = {
                "underruns": stats["underruns"], "clients": stats["clients"],
                "problems_reported": len(health["problems"]), "rss_mb": server.usage()["rss_mb"]}
        finally:
            server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, default=ROOT / "audio_samples")
    parser.add_argument("--soak-s", type=float, default=300.0)
    parser.add_argument("--listeners", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--fault-s", type=float, default=60.0)
    parser.add_argument("--settle-s", type=float, default=65.0,
                        help="pause before each memory count of the cycles (60 s: encoders "
                             "left without listeners have stopped)")
    parser.add_argument("--only", default="ttfb,broadcast,sessions,cycles,faults")
    args = parser.parse_args()
    parts = args.only.split(",")
    out: dict[str, Any] = {"machine": {"cores": os.cpu_count(),
                                       "load_1min_at_start": os.getloadavg()[0]}}
    if "ttfb" in parts:
        out["ttfb"] = part_ttfb(args.music)
        print("first bytes:", json.dumps(out["ttfb"]), flush=True)
    if "broadcast" in parts:
        out["broadcast"] = part_broadcast(args.music, args.listeners, args.soak_s)
        print("broadcast:", json.dumps(out["broadcast"]), flush=True)
    if "sessions" in parts:
        out["sessions"] = part_sessions(args.music, args.sessions, args.soak_s)
        print("sessions:", json.dumps(out["sessions"]), flush=True)
    if "cycles" in parts:
        out["cycles"] = part_cycles(args.music, args.cycles, args.settle_s)
        print("cycles:", json.dumps(out["cycles"]), flush=True)
    if "faults" in parts:
        out["faults"] = part_faults(args.music, args.fault_s)
        print("faults:", json.dumps(out["faults"]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_serve.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
