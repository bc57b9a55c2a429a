"""Who may use the service and how much: the token, body limits and what answers may say.

- The token (``--token`` or ``SEGUE_API_TOKEN``) is required on every API and
  stream route when set: ``Authorization: Bearer TOKEN``, or ``?token=TOKEN`` for
  players that cannot set headers. It is compared in constant time and never logged.
- Request bodies are capped in size and must arrive within a few seconds.
- Answers never carry absolute paths: problem lines name files relative to the
  library's folders.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import re
import socket
from collections.abc import Iterable
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Largest request body accepted (a session request with an inline profile is far smaller).
MAX_BODY_BYTES = 64 * 1024
#: Seconds a client has to send its whole request body.
BODY_TIMEOUT_S = 10.0


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address.

    Raises
    ------
    OSError
        When ``host`` does not resolve.

    """
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    addresses = {str(info[4][0]) for info in infos}
    return all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def token_matches(expected: str, given: str | None) -> bool:
    """Whether ``given`` is the token (constant-time comparison)."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


#: The folders of an absolute path (what is left of it is the file's name).
_ABSOLUTE_DIRS = re.compile(r"(?<![\w.~])/(?:[^/\s:;,'\"]+/)+")


def without_paths(line: str, roots: Iterable[Path]) -> str:
    """``line`` with absolute paths cut to their place in the library (else to the file name).

    A library folder's own path becomes the folder's name (``party/song.mp3``); any
    other absolute path loses its folders.
    """
    for root in sorted(roots, key=lambda r: len(str(r)), reverse=True):
        base = root if root.is_dir() else root.parent
        line = line.replace(str(base) + "/", f"{base.name}/")
    return _ABSOLUTE_DIRS.sub("", line)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` (413) or slower than ``timeout_s`` (408).

    Only the request body is watched: once it is complete, ``receive`` waits as
    long as the app likes (a stream waits on it for the client to leave).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES,
                 timeout_s: float = BODY_TIMEOUT_S) -> None:  # fmt: skip
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a watched ``receive``; answer 413/408 when it breaks a limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _json_error(send, 413, f"request body over {self.max_bytes} bytes")
            return
        state = {"received": 0, "complete": False}

        async def limited() -> Message:
            if state["complete"]:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except asyncio.TimeoutError as exc:
                raise BodyError(408, "request body too slow") from exc
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_bytes:
                    raise BodyError(413, f"request body over {self.max_bytes} bytes")
                state["complete"] = not message.get("more_body", False)
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except BodyError as exc:
            if not started:
                await _json_error(send, exc.status, exc.message)


class BodyError(HTTPException):
    """A request body that breaks the limits (an HTTP error, so the app answers it)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


async def _json_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
