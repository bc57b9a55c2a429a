"""Text as it can be written anywhere, whatever bytes the file system gave."""

from __future__ import annotations

import re
import unicodedata

#: Python keeps each byte of a file name that is not UTF-8 as a lone surrogate
#: U+DC80–U+DCFF (PEP 383); no UTF-8 writer accepts one.
_ESCAPED = range(0xDC80, 0xDD00)


def readable(text: str) -> str:
    r"""``text`` with every undecodable file-name byte read as Latin-1 instead.

    ``"h_\udcff.ogg"`` (the bytes ``h_\xff.ogg``) becomes ``"h_ÿ.ogg"``: old rips
    name files in a legacy code page, and a lone surrogate would stop any UTF-8 file,
    tag or response that carries the name. Text without one is returned as it is.
    """
    if not any(ord(c) in _ESCAPED for c in text):
        return text
    return "".join(chr(ord(c) - 0xDC00) if ord(c) in _ESCAPED else c for c in text)


def one_line(text: str) -> str:
    """``text`` on one line, as it can be shown, spoken and written.

    Read with :func:`readable`; control characters (and any other lone surrogate)
    become spaces, and runs of white space one space.
    """
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in readable(text))
    return " ".join(kept.split())


def cut(text: str, limit: int) -> str:
    """``text`` at most ``limit`` characters long, a cut one ending in "…"."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


#: What separates artist from title in a file name: a hyphen or a dash, spaced.
_ARTIST_TITLE = re.compile(r"\s+[-\u2013\u2014]\s+")


def split_artist_title(stem: str) -> tuple[str, str] | None:
    """``("Artist", "Title")`` from ``"Artist - Title"`` (or an en or em dash), else ``None``.

    Only the first separator splits (``"A - B - Live"`` is artist ``A``); both sides
    must hold something.
    """
    parts = _ARTIST_TITLE.split(stem, maxsplit=1)
    if len(parts) != 2:
        return None
    artist, title = parts[0].strip(), parts[1].strip()
    return (artist, title) if artist and title else None
