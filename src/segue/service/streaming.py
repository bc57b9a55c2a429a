"""Endless HTTP answers: an audio stream from a channel, and server-sent events.

Both are plain ASGI responses that watch for the client leaving and for a
client that stops reading: a body write that cannot complete within
``stall_s`` (the socket buffers are full) drops the connection, so a stuck
reader holds no more than its socket buffers and never an encoder of its own
(encoders belong to the channel; a tap is only an offset into a shared ring).
``HEAD`` gets the headers and no body.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from segue.service.channel import Channel, ChannelClosedError
from segue.service.formats import FORMATS
from segue.service.icy import METAINT, IcyInterleaver
from segue.service.ring import FellBehindError, RingClosedError
from segue.service.views import jsonable

log = logging.getLogger(__name__)

#: Seconds a body write may wait for a client that does not read before it is dropped.
STALL_S = 10.0
#: Seconds between keep-alive comments on an events stream.
KEEPALIVE_S = 15.0

Emit = Callable[[bytes], Awaitable[bool]]


class LiveResponse(Response):
    """An ASGI response whose body is produced until the client leaves or stalls."""

    media_type = "application/octet-stream"

    def __init__(self, headers: Mapping[str, str] | None = None, *,
                 stall_s: float = STALL_S) -> None:  # fmt: skip
        # Not Response.__init__: there is no body to render, only these attributes.
        self.extra_headers = dict(headers or {})
        self.stall_s = stall_s
        self.status_code = 200
        self.background = None

    async def produce(self, emit: Emit) -> None:
        """Send the body through ``emit`` (``False``: the client is gone)."""
        raise NotImplementedError

    async def prepare(self) -> None:
        """Acquire what the body needs before the headers go out (may raise)."""

    def release(self) -> None:
        """Release what :meth:`prepare` acquired."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the headers, then the body until the client leaves (headers only for HEAD)."""
        try:
            await self.prepare()
        except ChannelClosedError as exc:
            await JSONResponse({"error": str(exc)}, status_code=503)(scope, receive, send)
            return
        try:
            headers = [(b"content-type", self.media_type.encode()),
                       (b"cache-control", b"no-cache, no-store"),
                       *((k.lower().encode(), v.encode("latin-1"))
                         for k, v in self.extra_headers.items())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if scope.get("method") == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            hooks = _hooks(scope)
            if hooks is not None:
                hooks.live = True
            try:
                await self._run(scope, receive, send)
            finally:
                if hooks is not None:
                    hooks.live = False
        finally:
            self.release()

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while True:
                message: Message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        async def emit(data: bytes) -> bool:
            if gone.is_set():
                return False
            message = {"type": "http.response.body", "body": data, "more_body": True}
            try:
                await asyncio.wait_for(send(message), self.stall_s)
            except asyncio.TimeoutError:
                log.info("dropped a client that stopped reading for %.0f s", self.stall_s)
                _abort(scope)
                gone.set()
                return False
            except OSError as exc:
                log.info("lost a client: %s", exc)
                gone.set()
                return False
            return not gone.is_set()

        watcher = asyncio.ensure_future(watch())
        producer = asyncio.ensure_future(self.produce(emit))
        try:
            await asyncio.wait({watcher, producer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            producer.cancel()
            if not watcher.done() and not gone.is_set():
                # The body ended on our side (channel closed): end the answer cleanly.
                try:
                    await asyncio.wait_for(
                        send({"type": "http.response.body", "body": b"", "more_body": False}),
                        self.stall_s,
                    )
                except (asyncio.TimeoutError, OSError):
                    _abort(scope)
            elif gone.is_set() and not watcher.done():
                # Let the server see the aborted connection before the app returns.
                await asyncio.wait({watcher}, timeout=1.0)
            watcher.cancel()
            await asyncio.gather(producer, watcher, return_exceptions=True)


def _hooks(scope: Scope) -> Any:
    """The connection's hooks (see :mod:`segue.service.server`), if the server gives them."""
    return scope.get("state", {}).get("segue_connection")


def _abort(scope: Scope) -> None:
    """Drop the client's connection at once (no flush)."""
    hooks = _hooks(scope)
    if hooks is not None:
        hooks.abort()


class AudioStream(LiveResponse):
    """A channel's stream in one format, with ICY metadata blocks when asked for."""

    def __init__(self, channel: Channel, fmt: str, *, media_type: str, icy: bool,
                 headers: Mapping[str, str], stall_s: float = STALL_S) -> None:  # fmt: skip
        super().__init__(headers, stall_s=stall_s)
        self.channel = channel
        self.fmt = fmt
        self.media_type = media_type
        self.icy = icy
        if icy:
            self.extra_headers["icy-metaint"] = str(METAINT)
        self._tap: Any = None

    async def prepare(self) -> None:
        """Open the tap (starting the format's encoder if nobody listened to it)."""
        self._tap = self.channel.open(self.fmt)

    def release(self) -> None:
        """Close the tap: the listener is gone."""
        if self._tap is not None:
            self._tap.close()

    async def produce(self, emit: Emit) -> None:
        """Relay the tap's bytes until the client goes, lags out, or the channel stops."""
        tap = self._tap
        interleaver = None
        if self.icy:
            def title_at(offset: int) -> str:
                audio_s = tap.audio_at(offset)
                return self.channel.title_at(audio_s) if audio_s is not None else ""

            interleaver = IcyInterleaver(title_at)
        try:
            while True:
                data = await tap.read(timeout_s=5.0)
                if not data:
                    continue
                if interleaver is not None:
                    data = interleaver.frame(data, tap.offset - len(data))
                if not await emit(data):
                    return
        except FellBehindError as exc:
            log.info("%s/%s: dropped a listener that fell behind (%s)", self.channel.label,
                     self.fmt, exc)  # fmt: skip
        except (RingClosedError, ChannelClosedError):
            pass


class EventStream(LiveResponse):
    """Server-sent events of a channel: each event when its listeners hear it.

    Every event has ``id: seq`` (so ``Last-Event-ID`` resumes without gaps within
    the backlog), ``event: kind`` and ``data:`` one JSON object with ``seq``,
    ``at_s`` and the event's data. The first event, ``nowplaying``, is a snapshot.
    """

    media_type = "text/event-stream"

    def __init__(self, channel: Channel, snapshot: Callable[[], dict[str, Any]], *,
                 last_event_id: int | None, stall_s: float = STALL_S) -> None:  # fmt: skip
        super().__init__({"x-accel-buffering": "no"}, stall_s=stall_s)
        self.channel = channel
        self.snapshot = snapshot
        self.last_event_id = last_event_id

    async def produce(self, emit: Emit) -> None:
        """The snapshot, the backlog since ``Last-Event-ID``, then live events."""
        sub, backlog = self.channel.subscribe(self.last_event_id)
        try:
            snapshot = await anyio.to_thread.run_sync(self.snapshot)
            first = b"retry: 3000\n\n" + _sse("nowplaying", None, snapshot)
            if not await emit(first + b"".join(_event_bytes(e) for e in backlog)):
                return
            while not sub.overflowed:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    if not await emit(b": keep-alive\n\n"):
                        return
                    continue
                if not await emit(_event_bytes(event)):
                    return
        finally:
            self.channel.unsubscribe(sub)


def parse_event_id(raw: str | None) -> int | None:
    """A ``Last-Event-ID`` header as the event number to resume after (``None``: from now)."""
    return int(raw) if raw and raw.strip().isdigit() else None


def _event_bytes(event: Any) -> bytes:
    data = {"seq": event.seq, "at_s": round(event.at_s, 3), **jsonable(event.data)}
    return _sse(event.kind, event.seq, data)


def _sse(kind: str, seq: int | None, data: dict[str, Any]) -> bytes:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class UnknownFormatError(ValueError):
    """A stream format the service does not offer."""


def audio_answer(channel: Channel, fmt: str, *, icy_requested: bool, name: str,
                 description: str, stall_s: float = STALL_S) -> AudioStream:  # fmt: skip
    """The stream of ``channel`` in ``fmt`` with its ICY headers (metadata blocks on request).

    Raises
    ------
    UnknownFormatError
        When ``fmt`` is not one of :data:`~segue.service.formats.FORMATS`.
    """
    stream_format = FORMATS.get(fmt)
    if stream_format is None:
        raise UnknownFormatError(f"no stream format {fmt!r}; use one of {', '.join(FORMATS)}")
    headers = {"icy-name": _header_text(name), "icy-description": _header_text(description),
               "icy-br": str(stream_format.bitrate_kbps), "icy-pub": "0",
               "access-control-allow-origin": "*"}  # fmt: skip
    return AudioStream(channel, fmt, media_type=stream_format.media_type,
                       icy=icy_requested and stream_format.icy, headers=headers,
                       stall_s=stall_s)  # fmt: skip


def _header_text(text: str) -> str:
    """``text`` safe for an HTTP header value (latin-1, one line)."""
    line = " ".join(text.split())
    return line.encode("latin-1", "replace").decode("latin-1")[:200]
