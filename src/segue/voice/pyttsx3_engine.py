"""pyttsx3 (espeak-ng) speech, safe to call from any thread.

All synthesis goes through one worker process (:mod:`segue.voice._pyttsx3_worker`)
guarded by a lock: calls are serialized, each returns only when its audio is
complete, and a crash inside espeak kills the worker, not segue (the next call
starts a new one).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import soundfile as sf

from segue.errors import VoiceError
from segue.models import FloatArray
from segue.voice.worker_pipe import WorkerPipe

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
        self._worker = WorkerPipe([sys.executable, "-m", "segue.voice._pyttsx3_worker"],
                                  name="pyttsx3", timeout_s=timeout_s)
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
            reply = self._worker.request(
                {"text": text, "path": str(path), "rate": self.rate_wpm, "voice": self.voice,
                 "language": self.language, "timeout_s": self.timeout_s / 2},
                gone_hint="is espeak-ng installed?")  # fmt: skip
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

    def close(self) -> None:
        """Stop the worker process and remove temporary files."""
        with self._lock:
            self._worker.close()
            self._tmp.cleanup()

    def __enter__(self) -> Pyttsx3Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
