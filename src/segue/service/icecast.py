"""An Icecast 2 source client: the broadcast relayed to an Icecast server for more listeners.

``--icecast icecast://source:PASSWORD@HOST:PORT/MOUNT`` makes the station a
*source* of that mount: an HTTP ``PUT /MOUNT`` with the source credentials and
the stream's ``Content-Type``, then the encoded broadcast, endlessly. Titles go
to Icecast's admin ``metadata`` endpoint (for MP3 mounts; Ogg mounts carry their
own comments). When the server goes away (restarted, network lost) the relay
reconnects with a growing pause (0.5 s doubling to 10 s) and joins the
broadcast at "now" again. The password is never logged.

The format follows the mount's extension: ``.ogg`` Vorbis, ``.opus`` Opus,
anything else MP3.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from segue import __version__
from segue.errors import SegueError
from segue.service.channel import Channel, Tap
from segue.service.formats import FORMATS
from segue.service.ring import FellBehindError, RingClosedError

log = logging.getLogger(__name__)

#: Seconds to wait for Icecast to accept a connection, answer, or take more bytes.
TIMEOUT_S = 10.0
MAX_RETRY_S = 10.0


@dataclass(frozen=True)
class IcecastTarget:
    """Where and as whom to send the stream (the password is kept out of ``repr``)."""

    host: str
    port: int
    mount: str
    user: str
    password: str = field(repr=False)

    @property
    def format(self) -> str:
        """The stream format the mount's extension asks for."""
        for name in ("ogg", "opus"):
            if self.mount.lower().endswith(f".{name}"):
                return name
        return "mp3"

    def authorization(self) -> str:
        """The ``Authorization: Basic`` header value."""
        raw = f"{self.user}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def parse_icecast_url(url: str) -> IcecastTarget:
    """Read ``icecast://USER:PASSWORD@HOST:PORT/MOUNT`` (port 8000 and user ``source`` by default).

    Raises
    ------
    SegueError
        Naming what is wrong (never echoing the password).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("icecast", "http"):
        raise SegueError("--icecast: expected icecast://source:PASSWORD@HOST:PORT/MOUNT")
    try:
        port = parts.port or 8000
    except ValueError as exc:
        raise SegueError("--icecast: the port is not a number from 1 to 65535") from exc
    if not parts.hostname:
        raise SegueError("--icecast: no host (icecast://source:PASSWORD@HOST:PORT/MOUNT)")
    if not parts.password:
        raise SegueError("--icecast: no source password (icecast://source:PASSWORD@HOST/MOUNT)")
    mount = parts.path
    if not mount or mount == "/":
        raise SegueError("--icecast: no mount point (…@HOST:PORT/stream.mp3)")
    return IcecastTarget(host=parts.hostname, port=port, mount=mount,
                         user=unquote(parts.username or "source"),
                         password=unquote(parts.password))  # fmt: skip


@dataclass
class RelayStats:
    """What the relay did: connections, bytes, titles sent, the last problem."""

    connected: bool = False
    connections: int = 0
    bytes_sent: int = 0
    titles_sent: int = 0
    last_error: str | None = None


class IcecastRelay:
    """Sends a channel's stream to an Icecast mount; see the module docstring."""

    def __init__(self, channel: Channel, url: str, *, name: str, description: str) -> None:
        self.channel = channel
        self.target = parse_icecast_url(url)
        self.name = name
        self.description = description
        self.stats = RelayStats()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="segue-icecast", daemon=True)

    def start(self) -> None:
        """Start relaying (in a thread)."""
        self._thread.start()

    def close(self) -> None:
        """Stop relaying and disconnect."""
        self._stop.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(TIMEOUT_S)

    def _run(self) -> None:
        retry_s = 0.5
        where = f"{self.target.host}:{self.target.port}{self.target.mount}"
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._relay_once()
            except (OSError, SourceRefusedError, FellBehindError, RingClosedError) as exc:
                if self._stop.is_set():
                    break
                message = str(exc) or type(exc).__name__
                if message != self.stats.last_error:
                    log.warning("icecast %s: %s; reconnecting", where, message)
                self.stats.last_error = message
            finally:
                self.stats.connected = False
            if time.monotonic() - began > 30:
                retry_s = 0.5  # it had been working: come back quickly
            self._stop.wait(retry_s)
            retry_s = min(MAX_RETRY_S, retry_s * 2)

    def _relay_once(self) -> None:
        fmt = FORMATS[self.target.format]
        with socket.create_connection((self.target.host, self.target.port), TIMEOUT_S) as sock:
            self._sock = sock
            sock.settimeout(TIMEOUT_S)
            sock.sendall(self._request(fmt.media_type, fmt.bitrate_kbps))
            _expect_ok(sock)
            self.stats.connected = True
            self.stats.connections += 1
            log.info("icecast %s:%d%s: sending the broadcast", self.target.host,
                     self.target.port, self.target.mount)  # fmt: skip
            tap = self.channel.open(fmt.name, counts=False)
            try:
                self._pump(sock, tap, fmt.icy)
            finally:
                tap.close()
                self._sock = None

    def _pump(self, sock: socket.socket, tap: Tap, titles: bool) -> None:
        sent_title: str | None = None
        next_check = 0.0
        while not self._stop.is_set():
            data = tap.read_blocking(1.0)
            if data:
                sock.sendall(data)
                self.stats.bytes_sent += len(data)
            now = time.monotonic()
            if titles and now >= next_check:
                next_check = now + 1.0
                title = self.channel.title_at(self.channel.air_s)
                if title and title != sent_title and self._send_title(title):
                    sent_title = title

    def _request(self, media_type: str, bitrate_kbps: int) -> bytes:
        t = self.target
        lines = [
            f"PUT {quote(t.mount)} HTTP/1.1", f"Host: {t.host}:{t.port}",
            f"Authorization: {t.authorization()}", f"User-Agent: segue/{__version__}",
            f"Content-Type: {media_type}", "Ice-Public: 0", f"Ice-Name: {_latin1(self.name)}",
            f"Ice-Description: {_latin1(self.description)}",
            f"Ice-Audio-Info: bitrate={bitrate_kbps}", "",
        ]  # fmt: skip
        return ("\r\n".join(lines) + "\r\n").encode("latin-1")

    def _send_title(self, title: str) -> bool:
        """Tell Icecast the new title through its admin ``metadata`` endpoint."""
        t = self.target
        path = (f"/admin/metadata?mount={quote(t.mount)}&mode=updinfo"
                f"&song={quote(title)}&charset=UTF-8")  # fmt: skip
        conn = http.client.HTTPConnection(t.host, t.port, timeout=5)
        try:
            conn.request("GET", path, headers={"Authorization": t.authorization(),
                                               "User-Agent": f"segue/{__version__}"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                log.info("icecast metadata update refused: HTTP %d", response.status)
                return False
            self.stats.titles_sent += 1
            return True
        except OSError as exc:
            log.info("icecast metadata update failed: %s", exc)
            return False
        finally:
            conn.close()


class SourceRefusedError(Exception):
    """Icecast refused the source (wrong password, mount in use, ...)."""


def _expect_ok(sock: socket.socket) -> None:
    """Read Icecast's answer to the source request; raise unless it is 200."""
    answer = b""
    while b"\r\n\r\n" not in answer and len(answer) < 8192:
        chunk = sock.recv(1024)
        if not chunk:
            break
        answer += chunk
    status = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    if " 200" not in status:
        raise SourceRefusedError(f"source refused: {status or 'no answer'}")


def _latin1(text: str) -> str:
    return " ".join(text.split()).encode("latin-1", "replace").decode("latin-1")[:200]
