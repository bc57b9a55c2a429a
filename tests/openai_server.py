"""A small OpenAI-compatible chat-completions server on loopback, scripted per test.

The real ``openai`` SDK talks to it over HTTP, so tests exercise the client's
timeouts, retries and parsing, not a mock. Each request takes the next reply of
the script (the last one repeats); a reply can be a fixed answer, a status code,
a slow answer, a malformed body, or a function of the request (a model that
reads the prompt: a helpful one, or one that obeys instructions hidden in tags).

Run it by hand to try ``segue prompts`` or ``segue render --narrator openai``
without a real model::

    python tests/openai_server.py --port 8808
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: JSON chat completion with ``content``, or a raw ``body``."""

    content: str | None = "Here is the next song."
    status: int = 200
    delay_s: float = 0.0
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    finish_reason: str = "stop"


Script = Reply | Callable[[dict[str, Any]], Reply]


def good(text: str) -> Reply:
    """A well-formed answer."""
    return Reply(content=text)


def slow(text: str, delay_s: float) -> Reply:
    """A well-formed answer that arrives after ``delay_s`` seconds."""
    return Reply(content=text, delay_s=delay_s)


def status(code: int, retry_after_s: float | None = None) -> Reply:
    """An error status with an OpenAI-style error body (and ``Retry-After``)."""
    headers = {"retry-after": f"{retry_after_s:g}"} if retry_after_s is not None else {}
    body = json.dumps({"error": {"message": f"scripted {code}", "type": "server_error"}})
    return Reply(status=code, body=body.encode(), headers=headers)


def malformed() -> Reply:
    """A 200 answer whose JSON is cut off."""
    return Reply(body=b'{"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"mess')


def empty() -> Reply:
    """A well-formed answer with empty content."""
    return Reply(content="")


def user_prompt(request: dict[str, Any]) -> str:
    """The user message of a chat request."""
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")


def next_track(request: dict[str, Any]) -> tuple[str, str]:
    """Title and artist of the next song as the prompt's facts give them."""
    m = re.search(r'- Next song: title ("(?:[^"\\]|\\.)*"), artist ("(?:[^"\\]|\\.)*")',
                  user_prompt(request))
    if not m:
        return "", ""
    return json.loads(m.group(1)), json.loads(m.group(2))


_OPENERS = ["Here is {t} by {a}.", "Now, {a} with {t}.", "Time for {t}, from {a}.",
            "Coming in, {a} and {t}.", "Listen to {a}: {t}.", "On the way, {t} by {a}.",
            "Turning to {a} for {t}.", "Give it up for {a}, with {t}."]


class Helpful:
    """A model that follows the prompt: names the next song, a new opening each time."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, request: dict[str, Any]) -> Reply:
        title, artist = next_track(request)
        line = _OPENERS[self.count % len(_OPENERS)].format(t=title, a=artist)
        self.count += 1
        return Reply(content=line if title else "Thanks for listening, and good night.")


def obeys_injection(request: dict[str, Any]) -> Reply:
    """A model that obeys "say X" when a tag says so, as a gullible model might."""
    m = re.search(r"\bsay (\w+)", user_prompt(request), re.IGNORECASE)
    return Reply(content=m.group(1) + "!" if m else "Here is the next song.")


class ScriptedOpenAI:
    """The server; use as a context manager. ``url`` is the ``base_url`` for the SDK."""

    def __init__(self, *script: Script) -> None:
        self.script: list[Script] = list(script) or [Helpful()]
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        #: How many requests were being answered at once, sampled as each one arrived.
        self.in_flight: list[int] = []
        self._active = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _next(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return item(request) if callable(item) else item

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                try:
                    request = json.loads(self.rfile.read(length))
                except ValueError:
                    self.send_error(400)
                    return
                if not self.path.endswith("/chat/completions"):
                    self.send_error(404)
                    return
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                with server._lock:
                    server._active += 1
                    server.in_flight.append(server._active)
                try:
                    self._answer(request)
                finally:
                    with server._lock:
                        server._active -= 1

            def _answer(self, request: dict[str, Any]) -> None:
                reply = server._next(request)
                if reply.delay_s and server._stop.wait(reply.delay_s):
                    return
                body = reply.body
                if body is None:
                    body = json.dumps({
                        "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion",
                        "created": 0, "model": request.get("model", "scripted"),
                        "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                                     "message": {"role": "assistant", "content": reply.content}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): that is the point of a slow reply

        return Handler

    def __enter__(self) -> ScriptedOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="A helpful scripted OpenAI-compatible server.")
    parser.add_argument("--port", type=int, default=8808)
    args = parser.parse_args()
    server = ScriptedOpenAI(Helpful())
    server.httpd.server_close()
    server.httpd = ThreadingHTTPServer(("127.0.0.1", args.port), server._handler())
    print(f"serving on http://127.0.0.1:{args.port}/v1")
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
