"""Stream formats: how each is encoded, and where a listener may join its byte stream.

A listener joins a running broadcast mid-stream, so the fan-out must know where
in the encoded bytes a decoder can start: at an MP3 frame header, or at an Ogg
page once the stream's header pages have been sent. A :class:`Framer` reads the
encoder's output as it comes and reports those *join points* with the audio time
each one starts at (frames counted for MP3, granule positions for Ogg), plus, for
Ogg, the header pages every new listener must receive first.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StreamFormat:
    """One stream format: ffmpeg's encoder arguments, the HTTP media type, ICY facts."""

    name: str
    ffmpeg_args: tuple[str, ...]
    media_type: str
    #: Nominal bit rate in kbit/s (the ``icy-br`` header; sizes the ring buffer).
    bitrate_kbps: int
    #: Whether ICY metadata blocks can be interleaved (MP3 only: Ogg carries comments).
    icy: bool


#: The formats ``/stream.{name}`` serves. Ogg pages are cut every 0.2 s (ffmpeg's
#: default is 1 s) so a listener can join, and hear, within a fifth of a second.
FORMATS: dict[str, StreamFormat] = {
    "mp3": StreamFormat(
        "mp3",
        ("-c:a", "libmp3lame", "-b:a", "192k", "-write_xing", "0", "-id3v2_version", "0",
         "-f", "mp3"),
        "audio/mpeg", 192, icy=True,
    ),
    "ogg": StreamFormat(
        "ogg", ("-c:a", "libvorbis", "-q:a", "5", "-page_duration", "200000", "-f", "ogg"),
        "audio/ogg", 160, icy=False,
    ),
    "opus": StreamFormat(
        "opus", ("-c:a", "libopus", "-b:a", "128k", "-page_duration", "200000", "-f", "ogg"),
        "audio/ogg", 128, icy=False,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class JoinPoint:
    """A byte offset (counted from the encoder's first byte) where a decoder can start."""

    offset: int
    #: Audio time at that point, in seconds of the encoder's input (from its first sample).
    audio_s: float


class Framer(Protocol):
    """Finds join points in an encoder's output, fed in arbitrary chunks."""

    def feed(self, data: bytes) -> list[JoinPoint]:
        """Consume ``data`` (the next bytes of the stream); the join points completed in it."""
        ...

    @property
    def header(self) -> bytes:
        """Bytes every new listener gets before its first join point (Ogg headers)."""
        ...


def make_framer(fmt: StreamFormat) -> Framer:
    """The framer for ``fmt``'s container."""
    if fmt.name == "mp3":
        return Mp3Framer()
    return OggFramer(rate=48000 if fmt.name == "opus" else 44100)


# -- MP3 ---------------------------------------------------------------------

_MP3_BITRATES = {  # kbit/s by bitrate index: MPEG-1 layer III, MPEG-2/2.5 layer III
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_frame(header: bytes) -> tuple[int, int, int] | None:
    """``(frame bytes, samples, sample rate)`` of the layer III frame ``header`` starts.

    ``None`` when the four bytes are no valid MPEG audio layer III frame header.
    """
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    layer = (header[1] >> 1) & 3  # 1: layer III
    bitrate_idx, rate_idx = header[2] >> 4, (header[2] >> 2) & 3
    if version == 1 or layer != 1 or bitrate_idx in (0, 15) or rate_idx == 3:
        return None
    padding = (header[2] >> 1) & 1
    rate = _MP3_RATES[version][rate_idx]
    kbps = _MP3_BITRATES[1 if version == 3 else 2][bitrate_idx]
    samples = 1152 if version == 3 else 576
    return samples * kbps * 125 // rate + padding, samples, rate


class Mp3Framer:
    """Join points at MP3 frame headers, every ``every`` frames (about 0.1 s by default)."""

    def __init__(self, *, every: int = 4) -> None:
        self.every = every
        self._pending = bytearray()
        self._offset = 0  # stream offset of _pending[0]
        self._samples = 0
        self._frames = 0

    @property
    def header(self) -> bytes:
        """MP3 needs no header: any frame starts a decoder."""
        return b""

    def feed(self, data: bytes) -> list[JoinPoint]:
        """Consume ``data``; the join points of the frames that start in it."""
        self._pending += data
        points: list[JoinPoint] = []
        pos = 0
        buf = self._pending
        while pos + 4 <= len(buf):
            frame = mp3_frame(bytes(buf[pos : pos + 4]))
            if frame is None:  # not at a header: resynchronise on the next sync word
                nxt = buf.find(b"\xff", pos + 1)
                pos = len(buf) if nxt < 0 else nxt
                continue
            size, samples, rate = frame
            if pos + size > len(buf):
                break
            if self._frames % self.every == 0:
                points.append(JoinPoint(self._offset + pos, self._samples / rate))
            self._frames += 1
            self._samples += samples
            pos += size
        del buf[:pos]
        self._offset += pos
        return points


# -- Ogg ---------------------------------------------------------------------

_OGG_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, type, granule, serial, seq, crc, n


class OggFramer:
    """Join points at Ogg pages; the stream's header pages are kept for new listeners.

    Header pages are the pages before the first one whose granule position is
    positive (Vorbis and Opus put their identification, comment and setup packets
    on pages of granule 0). ``rate`` converts granule positions to seconds
    (Opus counts at 48 kHz whatever the input rate).
    """

    def __init__(self, *, rate: int) -> None:
        self.rate = rate
        self._pending = bytearray()
        self._offset = 0
        self._header = bytearray()
        self._in_headers = True
        self._last_granule = 0

    @property
    def header(self) -> bytes:
        """The header pages, once they are complete (empty before)."""
        return b"" if self._in_headers else bytes(self._header)

    def feed(self, data: bytes) -> list[JoinPoint]:
        """Consume ``data``; a join point at each audio page that starts in it."""
        self._pending += data
        points: list[JoinPoint] = []
        pos = 0
        buf = self._pending
        while pos + _OGG_HEADER.size <= len(buf):
            if buf[pos : pos + 4] != b"OggS":
                nxt = buf.find(b"OggS", pos + 1)
                pos = len(buf) if nxt < 0 else nxt
                continue
            n_segments = buf[pos + 26]
            table_end = pos + _OGG_HEADER.size + n_segments
            if table_end > len(buf):
                break
            size = table_end - pos + sum(buf[pos + _OGG_HEADER.size : table_end])
            if pos + size > len(buf):
                break
            granule = _OGG_HEADER.unpack_from(buf, pos)[3]
            self._page(bytes(buf[pos : pos + size]), self._offset + pos, granule, points)
            pos += size
        del buf[:pos]
        self._offset += pos
        return points

    def _page(self, page: bytes, offset: int, granule: int, points: list[JoinPoint]) -> None:
        if self._in_headers and granule <= 0:
            self._header += page
            return
        self._in_headers = False
        # A page starts where the previous page's last packet ended (its granule).
        points.append(JoinPoint(offset, self._last_granule / self.rate))
        if granule > 0:
            self._last_granule = granule
