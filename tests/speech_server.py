"""A scriptable OpenAI-compatible speech server on loopback, for tests.

``POST /v1/audio/speech`` answers with real speech from the espeak-ng command
(WAV), or with whatever the test scripted next: an HTTP error, bytes that are
not audio, or a delay.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SpeechServer:
    """Run with ``with SpeechServer() as server:``; ``server.base_url`` points at it."""

    def __init__(self) -> None:
        self.script: deque[str] = deque()  # "ok", "500", "garbage", "slow"
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body})
                action = outer.script.popleft() if outer.script else "ok"
                if self.path != "/v1/audio/speech":
                    self._send(404, b'{"error": {"message": "not found"}}', "application/json")
                elif action == "500":
                    self._send(500, b'{"error": {"message": "boom"}}', "application/json")
                elif action == "garbage":
                    self._send(200, b"this is not a wav file at all", "audio/wav")
                else:
                    if action == "slow":
                        time.sleep(3)
                    wav = subprocess.run(["espeak-ng", "--stdout", body["input"]],
                                         capture_output=True, check=True).stdout
                    self._send(200, wav, "audio/wav")

            def _send(self, code: int, data: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> SpeechServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
