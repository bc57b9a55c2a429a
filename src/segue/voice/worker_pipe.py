"""A speech engine's worker process, spoken to one JSON line at a time.

Both offline voices synthesize in a child process (espeak-ng through pyttsx3 is
neither thread-safe nor re-entrant; piper brings 110 MB of onnxruntime and model):
a request is one JSON object on the child's stdin, the answer one JSON object on
its stdout. A worker that dies, hangs past the timeout or asks to be restarted
(``"restart": true``) is replaced once; the caller holds its own lock, so requests
never interleave.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Sequence
from typing import IO

from segue.errors import VoiceError

log = logging.getLogger(__name__)


class WorkerPipe:
    """One child process answering JSON requests (see the module docstring).

    Parameters
    ----------
    command : how to start the worker.
    name : the voice, for messages.
    timeout_s : the longest one answer may take.
    """

    def __init__(self, command: Sequence[str], *, name: str, timeout_s: float) -> None:
        self.command = list(command)
        self.name = name
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[str] | None = None

    def request(self, payload: dict[str, object], *, gone_hint: str = "") -> dict[str, object]:
        """Send ``payload``, (re)starting the worker once if it fails; its answer.

        Raises
        ------
        VoiceError
            When the worker fails twice, naming the voice (and ``gone_hint``).
        """
        for attempt in (1, 2):
            proc = self._ensure()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(payload) + "\n")
                proc.stdin.flush()
                line = _readline(proc.stdout, self.timeout_s, self.name)
            except (BrokenPipeError, TimeoutError, OSError) as exc:
                log.warning("%s worker failed (%s); restarting", self.name, exc)
                self.stop()
                if attempt == 2:
                    raise VoiceError(f"{self.name} worker failed: {exc}") from exc
                continue
            if not line:
                self.stop()
                continue
            reply: dict[str, object] = json.loads(line)
            if reply.get("restart") and attempt == 1:
                log.warning("%s worker stuck (%s); restarting", self.name, reply.get("error"))
                self.stop()
                continue
            return reply
        raise VoiceError(f"{self.name} worker exited{f' ({gone_hint})' if gone_hint else ''}")

    def _ensure(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, text=True, encoding="utf-8",
            )  # fmt: skip
        return self._proc

    @property
    def running(self) -> subprocess.Popen[str] | None:
        """The worker process, if one is running."""
        return self._proc

    def stop(self) -> None:
        """Kill the worker now (the next request starts a new one)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        """Let the worker finish (its stdin closes), then make sure it is gone."""
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


def _readline(stream: IO[str], timeout_s: float, name: str) -> str:
    """One line from the worker, or TimeoutError after ``timeout_s`` (a hung voice)."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    if reader.is_alive():
        raise TimeoutError(f"no answer from the {name} worker in {timeout_s:.0f} s")
    return result[0]
