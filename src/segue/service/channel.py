"""A channel: one show paced to real time, fanned out to every listener.

The broadcast station is one channel; each personal session is another. A
channel owns

- one *pacing thread* that pulls the show's blocks as the wall clock allows, a
  lead of ``lead_s`` seconds ahead of what listeners hear (the *air* time), and
  feeds them to the encoders;
- at most one :class:`~segue.service.encoder.Encoder` per format, started when
  the first listener of that format arrives (fed the recent blocks, so that
  listener starts at once) and stopped ``linger_s`` after the last one left;
- the show's events, held until the air time reaches them and then published
  (a link's words are never shown before they are heard).

A listener gets a :class:`Tap` on an encoder's ring: it joins at the join point
nearest the air time, so it receives the lead as a burst and then real time.
With ``pause_when_idle`` (personal sessions) the show stops while nobody
listens and goes on from there when someone does.

Thread safety: the pacing thread writes; request handlers (asyncio) and the
Icecast client (a thread) read. Shared state is guarded by one lock; no call
made under it blocks.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from segue.models import FloatArray
from segue.service.encoder import Encoder
from segue.service.formats import FORMATS, StreamFormat
from segue.service.ring import ByteRing
from segue.service.shows import ShowLike
from segue.show.model import ShowEvent

log = logging.getLogger(__name__)

#: How many published events a channel keeps for ``Last-Event-ID`` resumption.
EVENT_BACKLOG = 200
#: How many queued events an events client may lag before it is dropped.
SUBSCRIBER_QUEUE = 256


@dataclass(frozen=True)
class ChannelStats:
    """What the pacing thread has done, for health checks and benchmarks."""

    position_s: float
    air_s: float
    listeners: int
    encoders: tuple[str, ...]
    #: Times the show could not keep up with the wall clock, and the seconds lost.
    late_count: int
    late_s: float
    #: The lead now (it grows after the show fell behind).
    lead_s: float
    error: str | None


class EventSubscriber:
    """An asyncio queue of published events for one events client."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[ShowEvent] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.overflowed = False

    def deliver(self, event: ShowEvent) -> None:
        """Queue ``event`` (in the subscriber's loop); a full queue marks it overflowed."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True


class Channel:
    """One show, one pacing thread, one encoder per listened format; see the module docstring.

    Parameters
    ----------
    show : the show to play.
    label : names the channel in log lines (``broadcast``, ``session ab12``).
    lead_s : how far rendering runs ahead of the air time (the burst a new listener gets).
    max_lead_s : each time the show falls behind the wall clock the lead grows by half a
        second, up to this (a gap is worse than a skip heard a little later).
    pause_when_idle : stop pulling blocks while no listener is connected.
    linger_s : seconds an encoder keeps running after its last listener left.
    warm : formats whose encoders start with the channel and never retire, so that the
        first listener of those joins as fast as the next (no encoder start to wait for).
    clock : monotonic seconds (injected by tests).
    """

    def __init__(
        self,
        show: ShowLike,
        *,
        label: str,
        lead_s: float = 2.0,
        max_lead_s: float = 4.0,
        pause_when_idle: bool = False,
        linger_s: float = 30.0,
        warm: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.show = show
        self.label = label
        self.sr = show.sr
        self.lead_s = lead_s
        self.max_lead_s = max(lead_s, max_lead_s)
        self.pause_when_idle = pause_when_idle
        self.linger_s = linger_s
        self.warm = warm
        self._clock = clock
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._encoders: dict[str, Encoder] = {}
        self._taps: dict[str, int] = {}
        self._idle_since: dict[str, float] = {}
        self._listeners = 0
        self._listeners_idle_since: float = clock()
        self._history: deque[tuple[float, FloatArray]] = deque()
        self._titles: list[tuple[float, str]] = []
        self._pending: list[tuple[float, int, ShowEvent]] = []
        self._order = itertools.count()
        self._published: deque[ShowEvent] = deque(maxlen=EVENT_BACKLOG)
        self._subscribers: set[EventSubscriber] = set()
        self._pos_s = 0.0
        self._t0: float | None = None  # wall time at audio time 0 while running
        self._paused_air_s = 0.0
        self._late = (0, 0.0)
        self._fresh = True
        self._first_block = threading.Event()
        self._error: str | None = None
        self._stop = False
        self._unsubscribe = show.subscribe(self._on_event)
        self._thread = threading.Thread(target=self._run, name=f"segue-pace-{label}",
                                        daemon=True)  # fmt: skip

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start the pacing thread and the :attr:`warm` encoders."""
        with self._cv:
            for name in self.warm:
                self._encoder_locked(FORMATS[name])
        self._thread.start()

    def close(self) -> None:
        """Stop pacing, every encoder and the show; listeners see their streams end."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
            encoders, self._encoders = list(self._encoders.values()), {}
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(10)
        for encoder in encoders:
            encoder.close()
        self._unsubscribe()
        try:
            self.show.close()
        except Exception:  # closing must go on whatever the show does
            log.exception("%s: closing the show failed", self.label)

    @property
    def air_s(self) -> float:
        """Audio time listeners hear now (the pacing clock, behind the rendered position)."""
        with self._lock:
            return self._air_locked()

    def _air_locked(self) -> float:
        if self._t0 is None:
            return self._paused_air_s
        return max(0.0, min(self._pos_s, self._clock() - self._t0))

    def stats(self) -> ChannelStats:
        """Position, air time, listeners, running encoders, lateness and any error."""
        with self._lock:
            return ChannelStats(position_s=round(self._pos_s, 3),
                                air_s=round(self._air_locked(), 3),
                                listeners=self._listeners, encoders=tuple(self._encoders),
                                late_count=self._late[0], late_s=round(self._late[1], 3),
                                lead_s=self.lead_s, error=self._error)  # fmt: skip

    @property
    def listeners(self) -> int:
        """Connected stream listeners (the Icecast relay not counted)."""
        with self._lock:
            return self._listeners

    def idle_for_s(self) -> float:
        """Seconds since the last listener left (0 while someone listens)."""
        with self._lock:
            return 0.0 if self._listeners else self._clock() - self._listeners_idle_since

    # -- pacing ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            blocks = iter(self.show.blocks())
            while self._wait_for_turn():
                block = next(blocks, None)
                if block is None:
                    log.info("%s: the show ended", self.label)
                    break
                self._air(block)
        except Exception as exc:  # the show broke: say so, let listeners go
            log.exception("%s: the show stopped", self.label)
            with self._lock:
                self._error = f"the show stopped: {exc}"
        finally:
            with self._cv:
                self._stop = True
                encoders, self._encoders = list(self._encoders.values()), {}
            for encoder in encoders:
                encoder.close()

    def _wait_for_turn(self) -> bool:
        """Sleep until the next block is due (publishing due events); ``False`` to stop."""
        with self._cv:
            while not self._stop:
                self._publish_due_locked()
                self._retire_encoders_locked()
                if self.pause_when_idle and self._listeners == 0:
                    if self._t0 is not None:  # pause: freeze the air clock where it is
                        self._paused_air_s, self._t0 = self._air_locked(), None
                    if self._pos_s < self._paused_air_s + self.lead_s:
                        return True  # keep the lead ready, so a listener starts at once
                    self._cv.wait(1.0)
                    continue
                now = self._clock()
                if self._t0 is None:  # (re)start: the air clock goes on from where it was
                    self._t0 = now - self._paused_air_s
                    self._fresh = True
                due = self._t0 + self._pos_s - self.lead_s
                if now >= due:
                    return True
                wait = due - now
                if self._pending:
                    wait = min(wait, max(0.0, self._t0 + self._pending[0][0] - now))
                self._cv.wait(min(wait, 1.0) + 0.001)
            return False

    def _air(self, block: FloatArray) -> None:
        """Feed a freshly rendered block to every encoder and advance the position."""
        duration_s = block.shape[1] / self.sr
        with self._cv:
            now = self._clock()
            if self._fresh and self._t0 is not None:
                # The first block after a (re)start may be slow (the show plans its
                # start): the air clock starts when there is audio, not before.
                self._t0 = max(self._t0, now - self._pos_s)
                self._fresh = False
            elif self._t0 is not None and now - self._t0 > self._pos_s + 0.05:
                late_s = now - self._t0 - self._pos_s
                self._late = (self._late[0] + 1, self._late[1] + late_s)
                self._t0 = now - self._pos_s  # listeners starved; go on from here
                self.lead_s = min(self.max_lead_s, self.lead_s + 0.5)
                log.warning("%s: the show fell %.2f s behind real time; lead now %.1f s",
                            self.label, late_s, self.lead_s)  # fmt: skip
            start_s = self._pos_s
            for name, encoder in list(self._encoders.items()):
                if not encoder.feed(block):
                    del self._encoders[name]
            self._history.append((start_s, block))
            while self._history and self._history[0][0] < start_s - self.lead_s - 1.0:
                self._history.popleft()
            self._pos_s = start_s + duration_s
        self._first_block.set()

    def wait_started(self, timeout_s: float) -> bool:
        """Block until the show yielded its first block (its plan exists); ``False`` on timeout."""
        return self._first_block.wait(timeout_s)

    # -- encoders and taps -------------------------------------------------------

    def open(self, fmt: str, *, counts: bool = True) -> Tap:
        """A new listener's tap on format ``fmt`` (its encoder started if needed).

        ``counts``: whether it counts as a listener (the Icecast relay does not).
        """
        stream_format = FORMATS[fmt]
        with self._cv:
            if self._stop:
                raise ChannelClosedError(f"{self.label} is closed")
            encoder = self._encoder_locked(stream_format)
            self._taps[fmt] = self._taps.get(fmt, 0) + 1
            self._idle_since.pop(fmt, None)
            if counts:
                self._listeners += 1
            self._cv.notify_all()
        return Tap(self, stream_format, encoder.ring, counts=counts)

    def _encoder_locked(self, fmt: StreamFormat) -> Encoder:
        encoder = self._encoders.get(fmt.name)
        if encoder is not None and encoder.alive:
            return encoder
        air = self._air_locked()
        recent = [(s, b) for s, b in self._history if s + b.shape[1] / self.sr > air]
        base_s = recent[0][0] if recent else self._pos_s
        encoder = Encoder(fmt, sr=self.sr, audio_base_s=base_s, label=f"{self.label}/{fmt.name}")
        for _, block in recent:
            encoder.feed(block)
        self._encoders[fmt.name] = encoder
        return encoder

    def _release(self, tap: Tap) -> None:
        with self._cv:
            name = tap.format.name
            self._taps[name] = max(0, self._taps.get(name, 0) - 1)
            if self._taps[name] == 0:
                self._idle_since[name] = self._clock()
            if tap.counts:
                self._listeners = max(0, self._listeners - 1)
                if self._listeners == 0:
                    self._listeners_idle_since = self._clock()

    def _retire_encoders_locked(self) -> None:
        now = self._clock()
        for name, since in list(self._idle_since.items()):
            if now - since >= self.linger_s and name in self._encoders and name not in self.warm:
                log.debug("%s/%s: no listener for %.0f s; encoder stopped", self.label, name,
                          self.linger_s)  # fmt: skip
                threading.Thread(target=self._encoders.pop(name).close, daemon=True).start()
                del self._idle_since[name]

    # -- events --------------------------------------------------------------------

    def _on_event(self, event: ShowEvent) -> None:
        """From the render thread: hold ``event`` until the air time reaches it."""
        with self._cv:
            if event.kind == "track":
                song = event.data.get("song")
                self._titles.append((event.at_s, icy_title(song)))
                del self._titles[:-50]
            heapq.heappush(self._pending, (event.at_s, next(self._order), event))

    def _publish_due_locked(self) -> None:
        air = self._air_locked() if self._t0 is not None else self._paused_air_s
        due: list[ShowEvent] = []
        while self._pending and self._pending[0][0] <= air + 1e-6:
            due.append(heapq.heappop(self._pending)[2])
        if not due:
            return
        self._published.extend(due)
        by_loop: dict[asyncio.AbstractEventLoop, list[EventSubscriber]] = {}
        for sub in self._subscribers:
            by_loop.setdefault(sub.loop, []).append(sub)
        for loop, subs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver_all, subs, due)
            except RuntimeError:  # that loop is gone
                self._subscribers.difference_update(subs)

    def subscribe(self, since_seq: int | None = None) -> tuple[EventSubscriber, list[ShowEvent]]:
        """An events subscriber in the running loop, and the backlog after ``since_seq``."""
        sub = EventSubscriber(asyncio.get_running_loop())
        with self._lock:
            self._subscribers.add(sub)
            backlog = [e for e in self._published if since_seq is not None and e.seq > since_seq]
        return sub, backlog

    def unsubscribe(self, sub: EventSubscriber) -> None:
        """Stop delivering events to ``sub``."""
        with self._lock:
            self._subscribers.discard(sub)

    def published(self) -> list[ShowEvent]:
        """The events already heard (the bounded backlog), oldest first."""
        with self._lock:
            return list(self._published)

    def title_at(self, audio_s: float) -> str:
        """The ICY title (``Artist - Title``) of the track heard at ``audio_s``."""
        with self._lock:
            times = [t for t, _ in self._titles]
            i = bisect.bisect_right(times, audio_s + 1e-6) - 1
            return self._titles[i][1] if i >= 0 else ""


def _deliver_all(subs: list[EventSubscriber], events: list[ShowEvent]) -> None:
    for sub in subs:
        for event in events:
            sub.deliver(event)


def icy_title(song: object) -> str:
    """``Artist - Title`` of a song (a :class:`~segue.show.model.Song` or its dict)."""
    if song is None:
        return ""
    get = song.get if isinstance(song, dict) else lambda k, d=None: getattr(song, k, d)
    artist, title = get("artist", "") or "", get("title", "") or ""
    return f"{artist} - {title}" if artist and title else (title or artist)


class ChannelClosedError(Exception):
    """The channel stopped (closed, or its show ended)."""


class Tap:
    """One listener's position in one encoder's ring.

    The first read starts at the join point nearest the channel's air time
    (after the Ogg header pages); every read returns what came since.
    """

    def __init__(self, channel: Channel, fmt: StreamFormat, ring: ByteRing, *,
                 counts: bool) -> None:  # fmt: skip
        self.channel = channel
        self.format = fmt
        self.ring = ring
        self.counts = counts
        self.offset: int | None = None
        self._closed = False

    def _start(self) -> bytes:
        """Choose the start offset if the ring has a join point; the prefix to send first."""
        if self.offset is not None:
            return b""
        start = self.ring.join(self.channel.air_s)
        if start is None:
            return b""
        self.offset = start
        return self.ring.header

    async def read(self, timeout_s: float, max_bytes: int = 65536) -> bytes:
        """The next bytes (``b""`` when none came within ``timeout_s``).

        Raises
        ------
        FellBehindError, RingClosedError
            The listener lagged out of the ring, or its encoder stopped.
        """
        prefix = self._start()
        if self.offset is None:
            await self.ring.wait(self.ring.end, timeout_s)
            prefix = self._start()
            if self.offset is None:
                if self.ring.closed:
                    self.ring.read(self.ring.end)  # raises RingClosedError
                return b""
        if not prefix:
            await self.ring.wait(self.offset, timeout_s)
        data = self.ring.read(self.offset, max_bytes)
        self.offset += len(data)
        return prefix + data

    def read_blocking(self, timeout_s: float, max_bytes: int = 65536) -> bytes:
        """Like :meth:`read`, for a thread (the Icecast source client)."""
        prefix = self._start()
        if self.offset is None:
            self.ring.wait_blocking(self.ring.end, timeout_s)
            prefix = self._start()
            if self.offset is None:
                if self.ring.closed:
                    self.ring.read(self.ring.end)
                return b""
        if not prefix:
            self.ring.wait_blocking(self.offset, timeout_s)
        data = self.ring.read(self.offset, max_bytes)
        self.offset += len(data)
        return prefix + data

    def audio_at(self, offset: int) -> float | None:
        """Show time of the audio at byte ``offset`` of this tap's ring."""
        return self.ring.audio_at(offset)

    def close(self) -> None:
        """The listener left."""
        if not self._closed:
            self._closed = True
            self.channel._release(self)
