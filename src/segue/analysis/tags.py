"""Reading descriptive tags with mutagen, falling back to the file name."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import mutagen

from segue.models import Tags
from segue.text import cut, one_line, split_artist_title

log = logging.getLogger(__name__)

_YEAR = re.compile(r"(1[89]\d\d|20\d\d)")
#: Longer tag texts are cut (with "…"): a title is spoken, shown and written into
#: chapters, and a 5000-character "title" is a broken tag, not a name.
MAX_TAG_CHARS = 200


def read_tags(path: str | Path) -> Tags:
    """Read title, artist, album, year and genre of ``path``.

    Uses mutagen's "easy" interface so ID3, Vorbis comments, MP4 atoms and FLAC
    tags read the same. A missing title or artist falls back to the file name:
    ``"Artist - Title.ext"`` gives both, anything else gives the stem as the title
    and ``"Unknown artist"``.
    """
    p = Path(path)
    found: dict[str, str] = {}
    try:
        audio = mutagen.File(p, easy=True)
    except Exception as exc:  # mutagen raises many types for odd files; tags are optional
        log.debug("%s: no readable tags (%s)", p, exc)
        audio = None
    if audio is not None and audio.tags is not None:
        for key in ("title", "artist", "album", "date", "year", "genre"):
            try:
                values = audio.tags.get(key)
            except (KeyError, ValueError):
                values = None
            if values:
                text = clean_text(str(values[0]))
                if text:
                    found[key] = text
    fallback_artist, fallback_title = _from_filename(p)
    year_text = found.get("date") or found.get("year") or ""
    year_match = _YEAR.search(year_text)
    return Tags(
        title=found.get("title") or fallback_title,
        artist=found.get("artist") or fallback_artist,
        album=found.get("album"),
        year=int(year_match.group(1)) if year_match else None,
        genre=found.get("genre"),
    )


def clean_text(text: str) -> str:
    """A tag's text as it can be shown, spoken and written anywhere.

    :func:`segue.text.one_line` (undecodable file-name bytes read as Latin-1, control
    characters gone), cut at :data:`MAX_TAG_CHARS`.
    """
    return cut(one_line(text), MAX_TAG_CHARS)


def _from_filename(path: Path) -> tuple[str, str]:
    """Guess (artist, title) from ``Artist - Title.ext``; artist may be unknown."""
    stem = re.sub(r"^\d{1,3}[\s._-]+", "", path.stem)  # drop a leading track number
    stem = clean_text(stem.replace("_", " ")) or clean_text(path.stem) or "Untitled"
    pair = split_artist_title(stem)
    return pair if pair is not None else ("Unknown artist", stem)
