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


def _voice_for(voices: list[tuple[str, list[str]]], language: str) -> str | None:
    """The espeak voice for a language code (``de``, ``en-us``): exact match first."""
    lang = language.lower()
    if not lang:
        return None
    for voice_id, codes in voices:
        if lang in codes:
            return voice_id
    for voice_id, codes in voices:
        if any(c.startswith(lang + "-") for c in codes):
            return voice_id
    return None


def _serve(proto: TextIO) -> None:
    import pyttsx3

    engine = pyttsx3.init()
    default_voice = engine.getProperty("voice")
    voices = [(v.id, [str(lang).lower() for lang in (v.languages or [])])
              for v in engine.getProperty("voices")]
    current: dict[str, Any] = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        reply: dict[str, Any]
        fatal = False
        try:
            req = json.loads(line)
            voice = req.get("voice") or _voice_for(voices, str(req.get("language") or ""))
            wanted = {"rate": int(req.get("rate", 165)), "voice": voice or default_voice}
            for key, value in wanted.items():
                if current.get(key) != value:  # queueing no-op changes only adds races
                    engine.setProperty(key, value)
                    current[key] = value
            path = req["path"]
            # espeak is ~50x real time: a few seconds cover any sane line.
            wait_s = min(float(req.get("timeout_s", 30)), 3.0 + 0.3 * len(req["text"].split()))
            frames = 0
            for _attempt in range(2):
                engine.save_to_file(req["text"], path)
                engine.runAndWait()
                try:
                    frames = _complete_frames(path, timeout_s=wait_s)
                    break
                except TimeoutError:
                    continue  # the engine returned without writing: ask once more
            if frames:
                reply = {"ok": True, "frames": frames}
            else:
                # An engine that twice failed to write is in a bad state: let the
                # parent start a fresh process.
                reply = {"ok": False, "restart": True, "error": f"no complete file at {path}"}
                fatal = True
        except Exception as exc:  # report every failure to the parent, keep serving
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        proto.write(json.dumps(reply) + "\n")
        proto.flush()
        if fatal:
            return


def main() -> None:
    """Serve synthesis requests until stdin closes."""
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything printed by pyttsx3 or espeak goes to stderr
    sys.stdout = sys.stderr
    _serve(proto)


if __name__ == "__main__":
    main()
