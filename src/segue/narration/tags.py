"""Messy tags made speakable: what a DJ says for a title or an artist.

Real libraries hold titles such as ``"07 - DON'T STOP ME NOW (Remastered 2011) [Explicit]"``,
artists such as ``"Rihanna feat. Mikky Ekko"``, markup, emoji, placeholders
(``"Track 07"``, ``"Unknown Artist"``) and file-name noise
(``"my_song_(official video)_320kbps"``). Before a tag is spoken or sent to a
model it is cleaned here:

- markup, control characters and emoji are dropped;
- a bracketed or dash-separated suffix made only of noise words and years
  (``(Remastered 2011)``, ``[Explicit]``, ``- Radio Edit``) is dropped; one that
  says something (``(Live)``, ``(Acoustic Version)``) is kept;
- ``feat.``/``ft.``/``featuring`` is split off the artist or the title and
  spoken as "featuring";
- a leading track number (``07 - ``, ``07. ``) is removed;
- a title in ALL CAPS is spoken in title case (a short all-caps name such as
  ``ABBA`` or ``MGMT`` is left alone);
- a placeholder, or a tag with nothing left, falls back to the file name,
  cleaned the same way.

The cleaned values are data, inserted as text and never interpreted.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path
from urllib.parse import unquote

from segue.narration.words import word_set
from segue.text import split_artist_title

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HTML = re.compile(r"<[^<>]{0,200}>|\{\{.{0,200}?\}\}|\{%.{0,200}?%\}")
_BITRATE = re.compile(r"\b\d{2,4}\s*k(?:bps|b/s)?\b", re.IGNORECASE)
_MARKUP_CHARS = re.compile(r"[<>{}*_#`|\\~^]")
_BRACKETED = re.compile(r"\s*[\(\[]([^\(\)\[\]]*)[\)\]]")
_DASH_SUFFIX = re.compile(r"\s+[-–—]\s+([^-–—]+)$")
_TRACK_NUMBER = re.compile(r"^\(?\d{1,3}\)?\s*(?:[-–—_.)]\s*|\s+-\s+)(?=\S)")
_FEAT = re.compile(r"\s*[\(\[]?\s*\b(?:feat\.?|ft\.?|featuring)\s+([^\)\]]+?)\s*[\)\]]?\s*$",
                   re.IGNORECASE)  # fmt: skip
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_PLACEHOLDER_TITLE = re.compile(
    r"^(?:track|piste|titel|pista|audio ?track|untitled|unknown|no title)\s*\d*$",
    re.IGNORECASE,
)
_PLACEHOLDER_ARTIST = re.compile(
    r"^(?:unknown(?: artist)?|artist|various(?: artists)?|va|none|n/?a|-+|\?+)$", re.IGNORECASE
)
_SMALL_WORDS = frozenset([
    "a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "of", "on", "or",
    "the", "to", "vs", "with"
])
#: A single all-caps word of at most this many letters is a name (ABBA, MGMT), not shouting.
_ACRONYM_LETTERS = 5
#: Longest spoken tag, in characters; longer ones are cut at a word boundary.
TAG_LIMIT = 80


@cache
def noise_words() -> frozenset[str]:
    """Words that mark a tag suffix as noise (``words/tag_noise.txt``)."""
    return word_set("tag_noise")


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return (0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or cp in (0xFE0F, 0x200D, 0x20E3)
            or unicodedata.category(ch) == "So")  # fmt: skip


def plain_text(text: str | None) -> str:
    """``text`` without control characters, markup or emoji, whitespace collapsed."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    text = _HTML.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _MARKUP_CHARS.sub(" ", text)
    text = "".join(" " if _is_emoji(ch) else ch for ch in text)
    return re.sub(r"\s+", " ", text).strip(" -–—,;:")


def _noise(segment: str) -> bool:
    """Whether a suffix says nothing a listener needs: noise words and years only."""
    words = re.findall(r"[^\W_]+", segment.casefold())
    return bool(words) and all(w in noise_words() or w.isdigit() for w in words)


def drop_noise(text: str) -> str:
    """``text`` without bracketed or dash-separated suffixes made only of noise."""
    text = _BRACKETED.sub(lambda m: "" if _noise(m.group(1)) else m.group(0), text)
    while True:
        m = _DASH_SUFFIX.search(text)
        if m is None or not _noise(m.group(1)):
            break
        text = text[: m.start()]
    return re.sub(r"\s+", " ", text).strip(" -–—,;:")


def split_featuring(text: str) -> tuple[str, str]:
    """``("Rihanna", "Mikky Ekko")`` from ``"Rihanna feat. Mikky Ekko"``; ``(text, "")`` else."""
    m = _FEAT.search(text)
    if m is None or m.start() == 0:
        return text, ""
    return text[: m.start()].strip(" ,-–—([") or text, m.group(1).strip(" ,.")


def _title_case_word(word: str, first: bool) -> str:
    lower = word.lower()
    if not first and lower in _SMALL_WORDS:
        return lower
    return lower[:1].upper() + lower[1:]


def spoken_case(text: str) -> str:
    """ALL CAPS text in title case; mixed case, and short all-caps names, as they are."""
    letters = [w for w in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text) if len(w) > 1]
    if not letters or not all(w.isupper() for w in letters):
        return text
    long_words = [w for w in letters if len(w) >= 3]
    if len(long_words) < 2 and not any(len(w) > _ACRONYM_LETTERS for w in long_words):
        return text  # ABBA, AC/DC, MGMT: a name written in capitals, not shouting
    parts = re.split(r"(\s+)", text)
    out, first = [], True
    for p in parts:
        if p.strip():
            out.append(_title_case_word(p, first))
            first = False
        else:
            out.append(p)
    return "".join(out)


def _limit(text: str, limit: int = TAG_LIMIT) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:-")


def clean_tag(text: str | None, *, limit: int = TAG_LIMIT) -> str:
    """Any tag value as speakable plain text: no control characters, markup or emoji."""
    return _limit(plain_text(text), limit)


def _clean_name(text: str | None) -> str:
    text = plain_text(text)
    text = _TRACK_NUMBER.sub("", text)
    text = drop_noise(text)
    return text.strip(" -–—,;:.")


def filename_tags(path: str | Path) -> tuple[str, str]:
    """``(artist, title)`` guessed from a file name, cleaned; the artist may be ``""``."""
    stem = unquote(Path(path).stem)
    stem = _TRACK_NUMBER.sub("", stem.strip())
    stem = re.sub(r"[_+]+|\.(?=\S)", " ", stem)
    stem = re.sub(r"\s*\(\d\)$", "", stem)  # "song (1)": a copy
    stem = _clean_name(_BITRATE.sub(" ", stem))
    pair = split_artist_title(stem)
    if pair is not None:
        return spoken_case(_clean_name(pair[0])), spoken_case(_clean_name(pair[1]))
    return "", spoken_case(stem)


def spoken_title(raw: str | None, *, path: str | Path | None = None) -> tuple[str, str]:
    """The title as a DJ says it, and who it features (``""`` when nobody).

    A placeholder (``Track 07``) or a title with nothing left after cleaning
    falls back to the cleaned file name when ``path`` is given.
    """
    title = _clean_name(raw)
    title, featuring = split_featuring(title)
    title = drop_noise(title)
    if (not title or _PLACEHOLDER_TITLE.match(title)) and path is not None:
        from_name = filename_tags(path)[1]
        if re.search(r"[^\W\d_]", from_name):  # a file name of digits says no more than "Track 7"
            title = from_name
    return _limit(spoken_case(title)), _limit(spoken_case(featuring))


def spoken_artist(raw: str | None, *, path: str | Path | None = None) -> tuple[str, str]:
    """The main artist as a DJ says it, and who is featured (``""`` when nobody).

    A placeholder (``Unknown Artist``) falls back to the artist part of an
    ``Artist - Title`` file name, else ``""``.
    """
    artist = plain_text(raw)
    artist, featuring = split_featuring(artist)
    artist = drop_noise(artist).strip(" -–—,;:")
    if not artist or _PLACEHOLDER_ARTIST.match(artist):
        artist = filename_tags(path)[0] if path is not None else ""
    return _limit(spoken_case(artist)), _limit(spoken_case(featuring))
