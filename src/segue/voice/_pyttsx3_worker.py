"""Child process that owns the pyttsx3 engine (run as ``python -m``).

pyttsx3's espeak driver is neither thread-safe nor re-entrant, prints to stdout
and, on Linux, can return from ``runAndWait()`` before the WAV file is complete.
Keeping the engine alone in its own process, answering one request at a time,
isolates all of that: the parent gets an answer only once the file is complete.

Protocol: one JSON object per line on stdin (``text``, ``path``, ``rate``,
``voice``); one JSON object per line on the original stdout (``ok`` and either
``frames`` or ``error``). Everything the engine prints goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
import wave
from typing import Any, TextIO


def _complete_frames(path: str, timeout_s: float) -> int:
    """Wait until ``path`` is a complete WAV file (header matches size, size stable)."""
    deadline = time.monotonic() + timeout_s
    last_size = -1
    while time.monotonic() < deadline:
        try:
            size = os.path.getsize(path)
            with wave.open(path, "rb") as w:
                frames = w.getnframes()
                expected = frames * w.getsampwidth() * w.getnchannels()
            # A complete file has all the frames its header promises, and stopped growing.
            if frames > 0 and size >= expected + 44 and size == last_size:
                return frames
            last_size = size
        except (OSError, EOFError, wave.Error):
            pass
        time.sleep(0.02)
    raise TimeoutError(f"speech file {path} not complete after {timeout_s:.0f} s")


def _serve(proto: TextIO) -> None:
    import pyttsx3

    engine = pyttsx3.init()
    default_voice = engine.getProperty("voice")
    for line in sys.stdin:
        if not line.strip():
            continue
        reply: dict[str, Any]
        try:
            req = json.loads(line)
            engine.setProperty("rate", int(req.get("rate", 165)))
            engine.setProperty("voice", req.get("voice") or default_voice)
            path = req["path"]
            engine.save_to_file(req["text"], path)
            engine.runAndWait()
            frames = _complete_frames(path, timeout_s=float(req.get("timeout_s", 30)))
            reply = {"ok": True, "frames": frames}
        except Exception as exc:  # report every failure to the parent, keep serving
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        proto.write(json.dumps(reply) + "\n")
        proto.flush()


def main() -> None:
    """Serve synthesis requests until stdin closes."""
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything printed by pyttsx3 or espeak goes to stderr
    sys.stdout = sys.stderr
    _serve(proto)


if __name__ == "__main__":
    main()
