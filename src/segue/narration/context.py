"""The context a template sees: listener, tracks, transition and talk-over window.

Schema (every key always present; absent facts are ``None``/empty, so a template
can test them with ``{% if %}``; an unknown key is an error naming the template):

- ``kind``: ``opening``, ``link`` or ``closing``; ``delivery``: ``talkover`` (over
  the next track's intro) or ``standalone`` (the intro is too short: the line has
  time of its own); ``talk_level``: ``brief``, ``normal`` or ``chatty``.
- ``listener``: ``name``, ``language`` (a code such as ``"en"``), ``language_name``
  (``"English"``), ``likes`` (``artists``, ``genres``), ``recent`` (up to five
  ``"Title by Artist"`` strings heard before this link, oldest first),
  ``time_of_day`` (morning/afternoon/evening/night, local time), ``liked_next``
  (bool) and ``liked_reason`` (e.g. ``"Muldjord"`` or ``"metal"``; empty when not liked),
  ``name_fresh`` (the name was not said in the last two lines: saying it every
  link grates, so templates use it only then).
- ``prev`` (``None`` for the opening) and ``next`` (``None`` for the closing):
  ``title``, ``artist``, ``album``, ``year``, ``genre``, ``bpm`` (int), ``key``,
  ``camelot``, ``energy`` (0–1), ``mood`` (one word from the energy), ``moods``
  (mood words from energy, tempo and mode, e.g. ``["driving", "up-tempo", "dark"]``).
- ``reason``: the sequencer's one-line reason for the transition (empty for the
  opening and closing).
- ``position`` (1-based number of the next track; ``total + 1`` for the closing),
  ``total``, ``is_last`` (the next track is the last one).
- ``window_s`` and ``word_budget``: the talk-over window in seconds and how many
  words fit it (about 2.5 spoken words per second).
- ``avoid_openers``: the opening words of earlier links in this set, so a writer
  can avoid starting the same way twice.
- ``station``: the show's name (``"segue"``).

Tag values are cleaned by :func:`clean_tag` and are data: they are inserted as
text and never interpreted, whatever they say.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from segue.models import Listener, Track

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

STATION = "segue"

#: Names of the languages the guards can recognise, by code.
LANGUAGE_NAMES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
    "nl": "Dutch", "pt": "Portuguese", "sv": "Swedish",
}  # fmt: skip


def clean_tag(text: str | None, *, limit: int = 80) -> str:
    """A tag as speakable plain text: no control characters or markup, bounded length.

    Tags are data: they are inserted as text, never interpreted.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    text = re.sub(r"[<>{}\[\]*_#`|\\]", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:-")


def mood_word(energy: float) -> str:
    """A word for an energy value: calm, laid-back, steady, driving, high-energy."""
    for bound, word in ((0.3, "calm"), (0.45, "laid-back"), (0.6, "steady"), (0.75, "driving")):
        if energy < bound:
            return word
    return "high-energy"


def tempo_word(bpm: float) -> str:
    """slow, mid-tempo or up-tempo for a tempo in beats per minute."""
    if bpm < 90:
        return "slow"
    return "mid-tempo" if bpm < 120 else "up-tempo"


def mood_words(energy: float, bpm: float, key: str) -> list[str]:
    """Mood words from the analysis: energy, tempo and (when known) the mode's colour."""
    words = [mood_word(energy), tempo_word(bpm)]
    if key.endswith("minor"):
        words.append("dark")
    elif key.endswith("major"):
        words.append("bright")
    return words


def time_of_day(now: dt.datetime | None = None) -> str:
    """morning, afternoon, evening or night for the local time."""
    hour = (now or dt.datetime.now()).hour
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 18:
        return "afternoon"
    if 18 <= hour < 23:
        return "evening"
    return "night"


def track_facts(track: Track) -> dict[str, Any]:
    """The facts about one track a template may use."""
    a, t = track.analysis, track.tags
    return {
        "title": clean_tag(t.title),
        "artist": clean_tag(t.artist),
        "album": clean_tag(t.album) or None,
        "year": t.year,
        "genre": clean_tag(t.genre) or None,
        "bpm": round(a.bpm),
        "key": a.key,
        "camelot": a.camelot,
        "energy": round(a.energy, 2),
        "mood": mood_word(a.energy),
        "moods": mood_words(a.energy, a.bpm, a.key),
    }


def facts_from_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """Track facts from plain data (an evaluation case): the same keys as :func:`track_facts`.

    ``title`` and ``artist`` are required; the analysis values default to a
    mid-energy, 120 BPM track in an unknown key.
    """
    energy = float(data.get("energy", 0.5))
    bpm = float(data.get("bpm", 120))
    key = str(data.get("key", ""))
    year = data.get("year")
    return {
        "title": clean_tag(str(data["title"])),
        "artist": clean_tag(str(data["artist"])),
        "album": clean_tag(data.get("album")) or None,
        "year": int(year) if year is not None else None,
        "genre": clean_tag(data.get("genre")) or None,
        "bpm": round(bpm),
        "key": key,
        "camelot": str(data.get("camelot", "")),
        "energy": round(energy, 2),
        "mood": mood_word(energy),
        "moods": mood_words(energy, bpm, key),
    }


def liked(listener: Listener, facts: Mapping[str, Any]) -> str:
    """What the listener likes about a track (its facts): its artist or genre, or ``""``."""
    artist = str(facts["artist"]).casefold()
    for a in listener.liked_artists:
        if a.casefold() == artist:
            return str(facts["artist"])
    genre = str(facts.get("genre") or "").casefold()
    for g in listener.liked_genres:
        if genre and g.casefold() in genre:
            return clean_tag(g)
    return ""


def _facts(track: Track | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if track is None:
        return None
    if isinstance(track, Track):
        return track_facts(track)
    return dict(track)


def build_context(
    *,
    listener: Listener,
    prev: Track | Mapping[str, Any] | None,
    nxt: Track | Mapping[str, Any] | None,
    reason: str,
    position: int,
    total: int,
    window_s: float,
    word_budget: int,
    now: dt.datetime | None = None,
    kind: str = "link",
    delivery: str = "talkover",
    recent: Sequence[str] = (),
    avoid_openers: Sequence[str] = (),
    name_fresh: bool = True,
) -> dict[str, Any]:
    """Assemble the documented context for one link.

    ``prev``/``nxt`` are tracks or facts as :func:`track_facts` makes them;
    ``recent`` are ``"Title by Artist"`` strings heard before this link.
    """
    prev_facts, next_facts = _facts(prev), _facts(nxt)
    liked_reason = liked(listener, next_facts) if next_facts is not None else ""
    history = [clean_tag(r) for r in (*listener_recent(listener), *recent) if clean_tag(r)]
    return {
        "kind": kind,
        "delivery": delivery,
        "talk_level": listener.talk_level,
        "listener": {
            "name": clean_tag(listener.name, limit=40) or None,
            "language": listener.language,
            "language_name": LANGUAGE_NAMES.get(listener.language, listener.language),
            "likes": {
                "artists": [clean_tag(a) for a in listener.liked_artists],
                "genres": [clean_tag(g) for g in listener.liked_genres],
            },
            "recent": history[-5:],
            "time_of_day": time_of_day(now),
            "liked_next": bool(liked_reason),
            "liked_reason": liked_reason,
            "name_fresh": name_fresh,
        },
        "prev": prev_facts,
        "next": next_facts,
        "reason": clean_tag(reason, limit=160),
        "position": position,
        "total": total,
        "is_last": position == total,
        "window_s": round(window_s, 1),
        "word_budget": word_budget,
        "avoid_openers": list(avoid_openers),
        "station": STATION,
    }


def listener_recent(listener: Listener) -> tuple[str, ...]:
    """What the listener heard recently according to their profile (may be empty)."""
    return listener.recent
