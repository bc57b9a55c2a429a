"""Streaming a piece of a source file as PCM, a block at a time.

One ffmpeg process per :class:`~segue.models.Segment` seeks to the segment's
start, optionally time-stretches it (``atempo`` keeps the pitch), resamples to
the mix rate and writes float32 stereo into a pipe; the renderer reads exactly
the samples of the current block. Memory per open segment is the pipe buffer,
whatever the length of the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
from typing import IO

import numpy as np

from segue.analysis.decode import ffmpeg_binary
from segue.errors import MixError
from segue.models import FloatArray, Segment

CHANNELS = 2
#: Linux's fcntl to resize a pipe; 1 MiB (the default limit) holds about 3 s of audio.
_F_SETPIPE_SZ = 1031
PIPE_BYTES = 1 << 20


def widen_pipe(stream: IO[bytes] | None) -> None:
    """Let a pipe hold :data:`PIPE_BYTES`, so the process at the other end runs ahead.

    A decoder (or encoder) then works in parallel with the renderer instead of
    stalling every 64 KiB; where the system refuses, the default size stays.
    """
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        fcntl.fcntl(stream.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)


class SegmentReader:
    """Sequential reader of one segment's samples on the mix clock."""

    def __init__(self, path: str, segment: Segment, sr: int) -> None:
        self.path = path
        self.start = round(segment.mix_start_s * sr)
        self.stop = round(segment.mix_end_s * sr)
        self.pos = self.start
        #: The decoder gave out before the segment's end (a file truncated, damaged or
        #: gone while it plays): the rest plays as silence.
        self.ran_dry = False
        filters = [f"atempo={segment.rate:.6f}"] if segment.rate != 1.0 else []
        cmd = [
            ffmpeg_binary(), "-nostdin", "-hide_banner", "-v", "error",
            "-ss", f"{segment.source_start_s:.6f}",
            "-t", f"{segment.source_end_s - segment.source_start_s:.6f}",
            "-i", path, "-map", "0:a:0", "-vn",
            *(["-af", ",".join(filters)] if filters else []),
            "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(CHANNELS), "-ar", str(sr), "pipe:1",
        ]  # fmt: skip
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise MixError(f"{path}: cannot start decoder ({exc})") from exc
        widen_pipe(self._proc.stdout)

    def read(self, lo: int, hi: int) -> FloatArray:
        """Samples for mix positions ``[lo, hi)``; reads must follow each other.

        Past the end of the decoded audio (a file shorter than its cues) the
        segment continues as silence rather than failing the mix.
        """
        if lo != self.pos:
            raise MixError(f"{self.path}: segment read out of order ({lo} != {self.pos})")
        n = hi - lo
        out = np.zeros((CHANNELS, n), dtype=np.float32)
        if self._proc is not None and self._proc.stdout is not None and n > 0:
            want = n * CHANNELS * 4
            data = bytearray()
            while len(data) < want:
                chunk = self._proc.stdout.read(want - len(data))
                if not chunk:
                    break
                data += chunk
            got = len(data) // (CHANNELS * 4)
            if got:
                frames = np.frombuffer(bytes(data[: got * CHANNELS * 4]), dtype="<f4")
                out[:, :got] = frames.reshape(got, CHANNELS).T
            if got < n:
                self.ran_dry = self.pos + got < self.stop - 1
                self.close()
        self.pos = hi
        return out

    def close(self) -> None:
        """Stop the decoder."""
        if self._proc is not None:
            with contextlib.suppress(OSError):
                if self._proc.stdout is not None:
                    self._proc.stdout.close()
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
