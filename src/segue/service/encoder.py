"""One live encoder: PCM blocks in, encoded bytes out into a :class:`ByteRing`.

An ffmpeg process per format and per show, shared by every listener of that
format. Two small threads drive it: a writer that takes blocks from a bounded
queue (so a stuck encoder never blocks the show's pacing thread: when the queue
is full the encoder is given up and its listeners reconnect to a new one) and a
reader that frames the output and appends it to the ring.
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import subprocess
import threading
from typing import cast

from segue.analysis.decode import ffmpeg_binary
from segue.errors import MixError
from segue.mixing.encode import DEFAULT_CEILING_DBFS, make_guard
from segue.mixing.source import widen_pipe
from segue.models import FloatArray
from segue.service.formats import StreamFormat, make_framer
from segue.service.ring import ByteRing

log = logging.getLogger(__name__)

#: Blocks (about 0.5 s each) that may wait for the encoder before it is given up.
QUEUE_BLOCKS = 16
#: Seconds of encoded audio each ring keeps for listeners that lag.
RING_S = 30.0
#: How far the codec guard holds a live stream back: more than LAME's worst latency
#: (about 0.45 s) plus the guard's own context (0.16 s), and no more, since it adds
#: to what a skip takes to be heard.
STREAM_GUARD_HOLD_S = 0.7


class Encoder:
    """An ffmpeg encoder for one format of one show; see the module docstring.

    Parameters
    ----------
    fmt : the stream format.
    sr : sample rate of the blocks.
    audio_base_s : show time of the first block that will be fed.
    label : names the encoder in log lines (``broadcast/mp3``).
    ceiling_dbfs : the true peak the decoded stream must meet (a codec guard sees to it).
    """

    def __init__(self, fmt: StreamFormat, *, sr: int, audio_base_s: float, label: str,
                 ceiling_dbfs: float = DEFAULT_CEILING_DBFS) -> None:  # fmt: skip
        self.fmt = fmt
        self.label = label
        # The decoded stream must meet the ceiling too: a lossy codec adds its own error.
        self._guard = make_guard(list(fmt.ffmpeg_args), sr=sr, ceiling_dbfs=ceiling_dbfs,
                                 hold_s=STREAM_GUARD_HOLD_S)  # fmt: skip
        capacity = int(max(fmt.bitrate_kbps, 64) * 125 * RING_S * 1.5)
        self.ring = ByteRing(capacity, audio_base_s=audio_base_s)
        cmd = [
            ffmpeg_binary(), "-nostdin", "-hide_banner", "-v", "error",
            "-f", "f32le", "-ar", str(sr), "-ac", "2", "-i", "pipe:0",
            *fmt.ffmpeg_args, "-flush_packets", "1", "pipe:1",
        ]  # fmt: skip
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL)  # fmt: skip
        assert self._proc.stdin is not None
        widen_pipe(self._proc.stdin)
        self._queue: queue.Queue[FloatArray | None] = queue.Queue(QUEUE_BLOCKS)
        self._stopped = threading.Event()
        self._writer = threading.Thread(target=self._write, name=f"segue-enc-in-{label}",
                                        daemon=True)  # fmt: skip
        self._reader = threading.Thread(target=self._read, name=f"segue-enc-out-{label}",
                                        daemon=True)  # fmt: skip
        self._writer.start()
        self._reader.start()

    @property
    def alive(self) -> bool:
        """Whether the encoder still takes blocks."""
        return not self._stopped.is_set()

    def feed(self, block: FloatArray) -> bool:
        """Queue a ``(2, n)`` float32 block; ``False`` when the encoder is gone or stuck."""
        if self._stopped.is_set():
            return False
        try:
            self._queue.put_nowait(block)
        except queue.Full:
            log.warning("%s: encoder fell %d blocks behind; restarting it", self.label,
                        QUEUE_BLOCKS)  # fmt: skip
            self.close()
            return False
        return True

    def _write(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            while True:
                block = self._queue.get()
                if block is None:
                    break
                if self._guard is not None:
                    block = self._guard.process(block)
                stdin.write(block.T.astype("<f4").tobytes())
        except (BrokenPipeError, ValueError, OSError, MixError):
            pass  # the encoder (or its guard's trial codec) was stopped
        finally:
            with contextlib.suppress(OSError):
                stdin.close()
            if self._guard is not None:
                self._guard.close()

    def _read(self) -> None:
        stdout = cast(io.BufferedReader, self._proc.stdout)
        framer = make_framer(self.fmt)
        try:
            while True:
                data = stdout.read1(65536)
                if not data:
                    break
                joins = framer.feed(data)
                self.ring.append(data, joins, framer.header)
        except (OSError, ValueError):
            pass
        finally:
            self._stopped.set()
            self.ring.close()

    def close(self) -> None:
        """Stop the encoder and its threads; the ring's readers see it closed."""
        self._stopped.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if threading.current_thread() is not self._reader:
            self._reader.join(5)
        if threading.current_thread() is not self._writer:
            self._writer.join(5)
        with contextlib.suppress(OSError):
            assert self._proc.stdout is not None
            self._proc.stdout.close()
        self.ring.close()
