"""ICY (SHOUTcast/Icecast) metadata: the title blocks radio clients read from MP3 streams.

A client that sends ``Icy-MetaData: 1`` gets an ``icy-metaint: N`` header and,
after every N bytes of audio, one metadata block: a length byte L, then L×16
bytes holding ``StreamTitle='Artist - Title';`` padded with NULs (L = 0 when the
title has not changed). The answer's status line stays ``HTTP/1.1 200 OK``
(``ICY 200 OK`` breaks browsers' audio elements).
"""

from __future__ import annotations

from collections.abc import Callable

#: Audio bytes between two metadata blocks (Icecast uses 16000; SHOUTcast 8192).
METAINT = 16000
#: The longest block the length byte can announce.
MAX_BLOCK = 255 * 16


def wants_icy(header_value: str | None) -> bool:
    """Whether an ``Icy-MetaData`` request header asks for metadata blocks."""
    return (header_value or "").strip() == "1"


def metadata_block(title: str | None) -> bytes:
    """One metadata block: ``StreamTitle='title';`` padded, or the empty block for ``None``."""
    if title is None:
        return b"\x00"
    # "';" ends the value in every client's parser: it may not occur inside a title.
    safe = title.replace("';", "' ;").replace("\x00", "")
    text = f"StreamTitle='{safe}';".encode()
    if len(text) > MAX_BLOCK:
        cut = safe.encode()[: MAX_BLOCK - 16].decode("utf-8", "ignore")
        text = f"StreamTitle='{cut}';".encode()
    units = -(-len(text) // 16)
    return bytes([units]) + text.ljust(units * 16, b"\x00")


class IcyInterleaver:
    """Puts a metadata block after every ``metaint`` audio bytes of one listener's stream.

    ``title_at(offset)`` gives the title of the audio at a stream byte offset; a
    block carries it when it differs from the last one sent (and always first).
    """

    def __init__(self, title_at: Callable[[int], str], *, metaint: int = METAINT) -> None:
        self.metaint = metaint
        self.title_at = title_at
        self._until_block = metaint
        self._sent: str | None = None

    def frame(self, data: bytes, offset: int) -> bytes:
        """``data`` (audio starting at stream byte ``offset``) with its metadata blocks."""
        out = bytearray()
        pos = 0
        while len(data) - pos >= self._until_block:
            cut = pos + self._until_block
            out += data[pos:cut]
            title = self.title_at(offset + cut)
            out += metadata_block(None if title == self._sent else title)
            self._sent = title
            pos = cut
            self._until_block = self.metaint
        out += data[pos:]
        self._until_block -= len(data) - pos
        return bytes(out)


def parse_icy(raw: bytes, metaint: int) -> tuple[bytes, list[str]]:
    """Split an ICY stream into its audio bytes and the titles of its metadata blocks.

    The reader side of :class:`IcyInterleaver`, used by tests and benchmarks as a
    radio client would. A trailing partial block is ignored.
    """
    audio = bytearray()
    titles: list[str] = []
    pos = 0
    while pos < len(raw):
        audio += raw[pos : pos + metaint]
        pos += metaint
        if pos >= len(raw):
            break
        length = raw[pos] * 16
        block = raw[pos + 1 : pos + 1 + length]
        pos += 1 + length
        if length and len(block) == length:
            text = block.rstrip(b"\x00").decode("utf-8", "replace")
            if text.startswith("StreamTitle='") and "';" in text:
                titles.append(text[len("StreamTitle='") : text.index("';")])
    return bytes(audio), titles
