"""The HTTP server: uvicorn with a protocol that does not wait for slow clients.

uvicorn holds a connection whose request headers never finish for as long as the
client likes (a slow-loris client keeps a connection and a file descriptor). The
protocol here closes a connection whose request head is not complete within
``header_timeout_s`` of its first byte being awaited (after connecting, or after
the previous answer), and gives each request a way to drop its connection at
once (``scope["state"]["segue_connection"]``, a :class:`ConnectionHooks`: an
abort, not a close, which would wait to flush to a client that reads nothing).
Each connection's kernel send buffer is kept small (``send_buffer_bytes``), so a
client that stops reading is noticed within seconds instead of after minutes of
audio have piled up in the kernel. Endless answers (streams, events) are dropped
at shutdown instead of waited for. Connections are capped (``max_connections``,
answered 503 beyond) and idle keep-alive connections close after a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    """How long clients may take and how many may connect."""

    #: Seconds a client has to send a complete request head.
    header_timeout_s: float = 5.0
    #: Seconds an idle keep-alive connection is kept.
    keep_alive_s: float = 5.0
    #: Open connections (streams included) before new requests get 503.
    max_connections: int = 1024
    #: Kernel send buffer per connection (about 3 s of a 192 kbit/s stream; Linux doubles it).
    send_buffer_bytes: int = 65536


class ConnectionHooks:
    """What a request may do to its own connection: drop it; say it is an endless answer."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        #: Set while an endless answer (a stream, events) is being sent.
        self.live = False

    def abort(self) -> None:
        """Reset the connection now, discarding whatever is still buffered for it.

        Lingering off, so the kernel sends a reset instead of keeping the socket
        (and the unsent audio) for a client that will never read it.
        """
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._transport.abort()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head timeout and an abort hook per request."""

    header_timeout_s = 5.0
    send_buffer_bytes = 65536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._hooks: ConnectionHooks | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head timer; give requests on this connection its hooks."""
        super().connection_made(transport)
        self._hooks = ConnectionHooks(transport)
        self.app_state = {**self.app_state, "segue_connection": self._hooks}
        sock = transport.get_extra_info("socket")
        if sock is not None and self.send_buffer_bytes:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer_bytes)
        self._arm_head_timer()

    def shutdown(self) -> None:
        """At server shutdown: finish normal answers, drop endless ones."""
        super().shutdown()
        if self._hooks is not None and self._hooks.live:
            self._hooks.abort()

    def data_received(self, data: bytes) -> None:
        """Feed h11; a complete request head stops the timer, a partial one keeps it."""
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            self._arm_head_timer()
        else:
            self._disarm_head_timer()

    def on_response_complete(self) -> None:
        """Between requests the keep-alive timer rules; a new head restarts ours."""
        self._disarm_head_timer()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the timer with the connection."""
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("closed a connection whose request head took over %.0f s",
                     self.header_timeout_s)  # fmt: skip
            self.transport.abort()


def make_server(app: Any, limits: ServerLimits) -> uvicorn.Server:
    """A uvicorn server for ``app`` with the guarded protocol and ``limits``."""
    protocol = type("SegueH11Protocol", (GuardedH11Protocol,),
                    {"header_timeout_s": limits.header_timeout_s,
                     "send_buffer_bytes": limits.send_buffer_bytes})  # fmt: skip
    config = uvicorn.Config(
        app, http=protocol, log_level="warning", access_log=False, lifespan="on",
        timeout_keep_alive=int(max(1, limits.keep_alive_s)),
        limit_concurrency=limits.max_connections, timeout_graceful_shutdown=3,
        h11_max_incomplete_event_size=16 * 1024,
    )  # fmt: skip
    return uvicorn.Server(config)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Raises
    ------
    OSError
        When the address cannot be bound (port in use, unknown host).

    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
