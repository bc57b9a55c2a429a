"""pyttsx3 (espeak-ng) speech, safe to call from any thread.

All synthesis goes through one worker process (:mod:`segue.voice._pyttsx3_worker`)
guarded by a lock: calls are serialized, each returns only when its audio is
complete, and a crash inside espeak kills the worker, not segue (the next call
starts a new one).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

import numpy as np
import soundfile as sf

from segue.errors import VoiceError
from segue.models import FloatArray

log = logging.getLogger(__name__)


class Pyttsx3Engine:
    """Text-to-speech through pyttsx3 and espeak-ng."""

    name = "pyttsx3"

    def __init__(
        self, *, voice: str = "", rate_wpm: int = 165, language: str = "en", timeout_s: float = 60.0
    ) -> None:
        self.voice = voice
        self.language = language
        self.rate_wpm = rate_wpm
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="segue-tts-")
        self._count = 0

    @property
    def voice_id(self) -> str:
        """A stable description of the voice, for caches and the timeline."""
        return f"pyttsx3:{self.voice or self.language or 'default'}@{self.rate_wpm}"

    def synthesize(self, text: str) -> tuple[FloatArray, int]:
        """Speak ``text``; return mono float32 samples and their sample rate.

        Raises
        ------
        VoiceError
            When the engine fails or produces no audio; the message quotes the text.

        """
        if not text.strip():
            raise VoiceError("nothing to say (empty text)")
        with self._lock:
            self._count += 1
            path = Path(self._tmp.name) / f"speech-{self._count}.wav"
            reply = self._request({"text": text, "path": str(path), "rate": self.rate_wpm,
                                   "voice": self.voice, "language": self.language,
                                   "timeout_s": self.timeout_s / 2})
            if not reply.get("ok"):
                raise VoiceError(f"pyttsx3 failed on {text[:40]!r}: {reply.get('error')}")
            try:
                data, sr = sf.read(path, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise VoiceError(f"pyttsx3 wrote an unreadable file for {text[:40]!r}") from exc
            finally:
                path.unlink(missing_ok=True)
        mono: FloatArray = data.mean(axis=1).astype(np.float32)
        if len(mono) == 0 or not np.any(np.abs(mono) > 1e-4):
            raise VoiceError(f"pyttsx3 produced silence for {text[:40]!r}")
        return mono, int(sr)

    def _request(self, payload: dict[str, object]) -> dict[str, object]:
        """Send one request to the worker, (re)starting it if needed; caller holds the lock."""
        for attempt in (1, 2):
            proc = self._ensure_worker()
            stdin, stdout = _pipes(proc)
            try:
                stdin.write(json.dumps(payload) + "\n")
                stdin.flush()
                line = _readline(stdout, self.timeout_s)
            except (BrokenPipeError, TimeoutError, OSError) as exc:
                log.warning("pyttsx3 worker failed (%s); restarting", exc)
                self._stop_worker()
                if attempt == 2:
                    raise VoiceError(f"pyttsx3 worker failed: {exc}") from exc
                continue
            if not line:
                self._stop_worker()
                if attempt == 2:
                    raise VoiceError("pyttsx3 worker exited (is espeak-ng installed?)")
                continue
            reply: dict[str, object] = json.loads(line)
            if reply.get("restart") and attempt == 1:
                log.warning("pyttsx3 worker stuck (%s); restarting", reply.get("error"))
                self._stop_worker()
                continue
            return reply
        raise VoiceError("pyttsx3 worker unavailable")  # pragma: no cover

    def _ensure_worker(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "segue.voice._pyttsx3_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
            )
        return self._proc

    def _stop_worker(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        """Stop the worker process and remove temporary files."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
            self._tmp.cleanup()

    def __enter__(self) -> Pyttsx3Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pipes(proc: subprocess.Popen[str]) -> tuple[IO[str], IO[str]]:
    assert proc.stdin is not None and proc.stdout is not None
    return proc.stdin, proc.stdout


def _readline(stream: IO[str], timeout_s: float) -> str:
    """Read one line, giving up after ``timeout_s`` (a hung espeak must not hang segue)."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    if reader.is_alive():
        raise TimeoutError(f"no answer from the speech worker in {timeout_s:.0f} s")
    return result[0]
