"""A bounded ring of encoded bytes that many listeners read at their own offsets.

One encoder appends; every listener of that format reads from the same ring, each
at its own absolute offset (bytes since the encoder started). The ring keeps the
last ``capacity`` bytes: a listener whose offset falls out of it has fallen a
bounded amount behind and is dropped (:class:`FellBehindError`), so a reader that
never reads costs nothing but its place in the listener list.

Readers wait for new bytes either in asyncio (HTTP listeners, woken through their
event loop: one wake-up per append per loop, however many listeners) or in a
thread (the Icecast source client). Thread-safe.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import threading
from collections import deque

from segue.service.formats import JoinPoint


class FellBehindError(Exception):
    """The reader's offset has left the ring: it fell too far behind."""


class RingClosedError(Exception):
    """The encoder behind the ring stopped; no more bytes will come."""


class ByteRing:
    """Encoded bytes with join points; see the module docstring.

    Parameters
    ----------
    capacity : bytes kept (older bytes are dropped as new ones arrive).
    audio_base_s : audio time of the show at the encoder's first sample, so join
        points can be looked up in show time.
    """

    def __init__(self, capacity: int, *, audio_base_s: float = 0.0) -> None:
        self.capacity = capacity
        self.audio_base_s = audio_base_s
        self._buf = bytearray()
        self._start = 0  # absolute offset of _buf[0]
        self._joins: deque[JoinPoint] = deque()
        self._header = b""
        self._closed = False
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._futures: dict[asyncio.AbstractEventLoop, asyncio.Future[None]] = {}

    # -- writing -------------------------------------------------------------

    def append(self, data: bytes, joins: list[JoinPoint], header: bytes = b"") -> None:
        """Add the encoder's next bytes and the join points found in them."""
        with self._lock:
            self._buf += data
            self._joins.extend(joins)
            if header and not self._header:
                self._header = header
            excess = len(self._buf) - self.capacity
            if excess > 0:
                del self._buf[:excess]
                self._start += excess
                while self._joins and self._joins[0].offset < self._start:
                    self._joins.popleft()
        self._wake()

    def close(self) -> None:
        """No more bytes will come: wake every reader so it can finish."""
        with self._lock:
            self._closed = True
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            self._cond.notify_all()
            futures, self._futures = self._futures, {}
        for loop, future in futures.items():
            # A closed loop has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)

    # -- reading -------------------------------------------------------------

    @property
    def end(self) -> int:
        """Absolute offset just past the newest byte."""
        with self._lock:
            return self._start + len(self._buf)

    @property
    def closed(self) -> bool:
        """Whether the encoder behind the ring stopped."""
        return self._closed

    @property
    def header(self) -> bytes:
        """Bytes a new reader gets first (Ogg header pages; empty for MP3)."""
        with self._lock:
            return self._header

    def join(self, audio_s: float | None = None) -> int | None:
        """The offset a new reader starts at: the last join point at or before ``audio_s``.

        ``audio_s`` is show time (``None``: the newest join point). ``None`` when
        the ring holds no join point yet.
        """
        with self._lock:
            if not self._joins:
                return None
            if audio_s is None:
                return self._joins[-1].offset
            times = [j.audio_s + self.audio_base_s for j in self._joins]
            i = max(0, bisect.bisect_right(times, audio_s + 1e-6) - 1)
            return self._joins[i].offset

    def audio_at(self, offset: int) -> float | None:
        """Show time of the audio at byte ``offset`` (to the preceding join point)."""
        with self._lock:
            offsets = [j.offset for j in self._joins]
            i = bisect.bisect_right(offsets, offset) - 1
            if i < 0:
                return None
            return self._joins[i].audio_s + self.audio_base_s

    def read(self, offset: int, max_bytes: int = 65536) -> bytes:
        """Bytes from ``offset`` (at most ``max_bytes``); empty when none are there yet.

        Raises
        ------
        FellBehindError
            When ``offset`` has already been dropped from the ring.
        RingClosedError
            When the ring is closed and everything was read.
        """
        with self._lock:
            if offset < self._start:
                raise FellBehindError(f"{self._start - offset} bytes behind the oldest kept")
            i = offset - self._start
            data = bytes(self._buf[i : i + max_bytes])
            if not data and self._closed:
                raise RingClosedError("the encoder stopped")
            return data

    async def wait(self, offset: int, timeout_s: float) -> None:
        """Wait (in asyncio) until bytes past ``offset`` exist, the ring closes or time passes."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._start + len(self._buf) > offset or self._closed:
                return
            future = self._futures.get(loop)
            if future is None:
                future = self._futures[loop] = loop.create_future()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), timeout_s)

    def wait_blocking(self, offset: int, timeout_s: float) -> None:
        """Wait (in a thread) until bytes past ``offset`` exist, the ring closes or time passes."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._start + len(self._buf) > offset or self._closed, timeout_s
            )


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
