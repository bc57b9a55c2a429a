"""``listen.m3u`` and ``listen.pls``: playlist files that point radio players at the stream.

A playlist needs an absolute URL. It is the configured public URL when there is
one; else the request's ``Host`` header, taken only when it is a plain
``host[:port]`` (so nothing else can be smuggled into the file); else the
address the server is bound to.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
                   r"(?::[0-9]{1,5})?$")  # fmt: skip


def base_url(public_url: str, host_header: str | None, fallback: str) -> str:
    """The URL the playlist's entries start with (no trailing slash)."""
    if public_url:
        return public_url.rstrip("/")
    if host_header and _HOST.match(host_header):
        return f"http://{host_header}"
    return fallback.rstrip("/")


def stream_url(base: str, path: str, token: str | None) -> str:
    """``base`` + ``path``, with ``?token=`` when the station requires one."""
    return f"{base}{path}" + (f"?token={quote(token, safe='')}" if token else "")


def m3u(url: str, title: str) -> str:
    """An extended M3U playlist of one endless entry."""
    return f"#EXTM3U\n#EXTINF:-1,{_line(title)}\n{url}\n"


def pls(url: str, title: str) -> str:
    """A PLS (version 2) playlist of one endless entry."""
    return (f"[playlist]\nNumberOfEntries=1\nFile1={url}\nTitle1={_line(title)}\nLength1=-1\n"
            "Version=2\n")


def _line(text: str) -> str:
    return " ".join(text.split())
