"""The context a template sees: listener, tracks, transition and talk-over window.

Schema (every key always present; absent facts are ``None``/empty):

- ``listener``: ``name``, ``language``, ``likes`` (``artists``, ``genres``),
  ``time_of_day`` (morning/afternoon/evening/night), ``liked_next`` (bool) and
  ``liked_reason`` (e.g. ``"Muldjord"`` or ``"metal"``; empty when not liked).
- ``prev`` (``None`` for the opening) and ``next``: ``title``, ``artist``, ``album``,
  ``year``, ``genre``, ``bpm`` (int), ``key``, ``camelot``, ``energy`` (0–1) and
  ``mood`` (a word from the energy).
- ``reason``: the sequencer's one-line reason for the transition (empty for the opening).
- ``position`` (1-based track number), ``total``, ``is_last``.
- ``talk_level``: brief/normal/chatty.
- ``window_s`` and ``word_budget``: the talk-over window and how many words fit it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from segue.models import Listener, Track

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
    return text[:limit].rstrip()


def mood_word(energy: float) -> str:
    """A word for an energy value: calm, laid-back, steady, driving, high-energy."""
    for bound, word in ((0.3, "calm"), (0.45, "laid-back"), (0.6, "steady"), (0.75, "driving")):
        if energy < bound:
            return word
    return "high-energy"


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
    }


def liked(listener: Listener, track: Track) -> str:
    """What the listener likes about ``track``: its artist or genre, or ``""``."""
    artist = track.tags.artist.casefold()
    for a in listener.liked_artists:
        if a.casefold() == artist:
            return clean_tag(track.tags.artist)
    genre = (track.tags.genre or "").casefold()
    for g in listener.liked_genres:
        if genre and g.casefold() in genre:
            return clean_tag(g)
    return ""


def build_context(
    *,
    listener: Listener,
    prev: Track | None,
    nxt: Track,
    reason: str,
    position: int,
    total: int,
    window_s: float,
    word_budget: int,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Assemble the documented context for one link."""
    liked_reason = liked(listener, nxt)
    return {
        "listener": {
            "name": clean_tag(listener.name, limit=40) or None,
            "language": listener.language,
            "likes": {
                "artists": list(listener.liked_artists),
                "genres": list(listener.liked_genres),
            },
            "time_of_day": time_of_day(now),
            "liked_next": bool(liked_reason),
            "liked_reason": liked_reason,
        },
        "prev": track_facts(prev) if prev is not None else None,
        "next": track_facts(nxt),
        "reason": reason,
        "position": position,
        "total": total,
        "is_last": position == total,
        "talk_level": listener.talk_level,
        "window_s": round(window_s, 1),
        "word_budget": word_budget,
    }
