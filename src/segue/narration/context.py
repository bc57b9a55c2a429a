"""The context a template sees: listener, tracks, the change, the talk plan, the window.

Schema (every key always present; absent facts are ``None``/empty, so a template
can test them with ``{% if %}``; an unknown key is an error naming the template):

- ``kind``: ``opening``, ``link`` or ``closing``; ``delivery``: ``talkover`` (over
  the next track's intro) or ``standalone`` (the intro is too short: the line has
  time of its own); ``talk_level``: ``brief``, ``normal`` or ``chatty``.
- ``listener``: ``name``, ``name_allowed`` (the name rule lets this line say it:
  always in the opening and the closing, else at most one link in four and
  never twice in a row), ``language`` (a code such as ``"en"``),
  ``language_name`` (``"English"``), ``likes`` (``artists``, ``genres``),
  ``recent`` (up to five ``"Title by Artist"`` strings heard before this link,
  oldest first), ``time_of_day`` (morning/afternoon/evening/night, local time at
  air), ``liked_next`` (bool) and ``liked_reason`` (e.g. ``"Muldjord"`` or
  ``"metal"``; empty when not liked), ``because`` (an earlier track of the show
  the listener likes that the next one shares its artist or genre with, else
  ``""``), ``name_fresh`` (kept for older templates: the same as ``name_allowed``).
- ``prev`` (``None`` for the opening) and ``next`` (``None`` for the closing):
  ``title``, ``artist``, ``featuring``, ``credit`` (artist and who is featured,
  as said), ``album``, ``year``, ``decade`` (``"seventies"``; ``None`` from 2000),
  ``genre``, ``bpm`` (int), ``key``, ``camelot``, ``energy`` (0–1), ``mood`` (one
  word from the energy), ``moods`` (mood words from energy, tempo and mode, e.g.
  ``["driving", "up-tempo", "dark"]``). Tags are cleaned (:mod:`.tags`).
- ``reason``: why the next track follows, in plain words (``"it keeps the pace;
  more energy"``; empty for the opening and closing); ``reason_kinds`` and
  ``change``: the same as kinds (``blend``, ``builds``; ``tempo.faster``,
  ``key.same``, see :mod:`.reasons`); ``change_words``: the changes in plain words.
- ``personal``: the personal touches this link may make (``name``,
  ``liked_artist``, ``liked_genre``, ``because``, ``time``): true ones only, and
  only when the last two links made none. Empty: no personal touch.
- ``set``: when this link opens a mini-set, its ``size``, ``size_word``,
  ``flavour`` (a genre or mood the set shares, else ``""``) and ``artists``
  (``"Queen, Kino and Weezer"``), else ``None``; ``heard``: the tracks since the
  last link when there were two or more (``size``, ``size_word``, ``artists``),
  else ``None``.
- ``position`` (1-based number of the next track; ``total + 1`` for the closing),
  ``total`` (``None`` in an endless show), ``endless``, ``is_last`` (the next
  track is the last one).
- ``window_s`` and ``word_budget``: the talk-over window in seconds and how many
  words fit it (about 2.5 spoken words per second).
- ``avoid_openers``: the opening words of earlier links in this show, so a writer
  can avoid starting the same way twice.
- ``station``: the show's name (setting ``station_name``, default ``"segue"``).

Tag values are cleaned by :mod:`segue.narration.tags` and are data: they are
inserted as text and never interpreted, whatever they say.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from segue.models import Listener, Track
from segue.narration.reasons import change_words, hear_change, plain_reason, reason_kinds
from segue.narration.tags import clean_tag, spoken_artist, spoken_title

__all__ = ["LANGUAGE_NAMES", "STATION", "build_context", "clean_tag", "facts_from_mapping",
           "slots_from_context", "track_facts"]  # fmt: skip

STATION = "segue"

#: Names of the languages the guards can recognise, by code.
LANGUAGE_NAMES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
    "nl": "Dutch", "pt": "Portuguese", "sv": "Swedish",
}  # fmt: skip

_NUMBER_WORDS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty"
]
_DECADES = {2: "twenties", 3: "thirties", 4: "forties", 5: "fifties", 6: "sixties",
            7: "seventies", 8: "eighties", 9: "nineties"}  # fmt: skip
#: The key confidence below which a key change is not spoken of.
SURE_KEY = 0.5


def number_word(n: int) -> str:
    """``n`` as a word up to twenty (``"seven"``), else in digits."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def decade_word(year: int | None) -> str | None:
    """``"seventies"`` for 1970–1979 (1920–1999), else ``None``."""
    if year is None or not 1920 <= year <= 1999:
        return None
    return _DECADES[(year // 10) % 10]


def spoken_genre(genre: str | None) -> str | None:
    """A genre tag as said in a sentence: lower case, short capitals (EDM, R&B) kept."""
    if not genre:
        return None
    words = [w if (w.isupper() and len(w) <= 3) else w.lower() for w in genre.split()]
    return " ".join(words) or None


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


def _facts(
    *, title: str, artist: str, featuring: str, album: str | None, year: int | None,
    genre: str | None, bpm: float, key: str, camelot: str, energy: float, key_sure: bool,
) -> dict[str, Any]:  # fmt: skip
    album_clean = clean_tag(album) or None
    return {
        "title": title,
        "artist": artist,
        "featuring": featuring or None,
        "credit": f"{artist} featuring {featuring}" if featuring and artist else artist,
        "album": album_clean,
        "year": year,
        "decade": decade_word(year),
        "genre": spoken_genre(clean_tag(genre)),
        "bpm": round(bpm),
        "key": key,
        "camelot": camelot,
        "key_sure": key_sure,
        "energy": round(energy, 2),
        "mood": mood_word(energy),
        "moods": mood_words(energy, bpm, key),
    }


def track_facts(track: Track) -> dict[str, Any]:
    """The facts about one track a template may use, from cleaned tags and the analysis.

    A title or artist that is empty, a placeholder or all noise falls back to the
    file name, cleaned.
    """
    a, t = track.analysis, track.tags
    title, feat_t = spoken_title(t.title, path=track.path)
    artist, feat_a = spoken_artist(t.artist, path=track.path)
    return _facts(title=title or clean_tag(t.title), artist=artist, featuring=feat_a or feat_t,
                  album=t.album, year=t.year, genre=t.genre, bpm=a.bpm, key=a.key,
                  camelot=a.camelot, energy=a.energy,
                  key_sure=a.key_confidence >= SURE_KEY)  # fmt: skip


def facts_from_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """Track facts from plain data (an evaluation case): the same keys as :func:`track_facts`.

    ``title`` and ``artist`` are required (``path``, when given, is the file-name
    fallback); the analysis values default to a mid-energy, 120 BPM track in an
    unknown key.
    """
    path = data.get("path")
    title, feat_t = spoken_title(str(data["title"]), path=path)
    artist, feat_a = spoken_artist(str(data["artist"]), path=path)
    year = data.get("year")
    return _facts(
        title=title or clean_tag(str(data["title"])), artist=artist, featuring=feat_a or feat_t,
        album=data.get("album"), year=int(year) if year is not None else None,
        genre=data.get("genre"), bpm=float(data.get("bpm", 120)), key=str(data.get("key", "")),
        camelot=str(data.get("camelot", "")), energy=float(data.get("energy", 0.5)),
        key_sure=bool(data.get("key_sure", True)),
    )  # fmt: skip


def liked(listener: Listener, facts: Mapping[str, Any]) -> str:
    """What the listener likes about a track (its facts): its artist or genre, or ``""``."""
    artist = str(facts.get("artist") or "").casefold()
    for a in listener.liked_artists:
        if artist and a.casefold() == artist:
            return str(facts["artist"])
    genre = str(facts.get("genre") or "").casefold()
    for g in listener.liked_genres:
        if genre and g.casefold() in genre:
            return clean_tag(g)
    return ""


def _as_facts(track: Track | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if track is None:
        return None
    if isinstance(track, Track):
        return track_facts(track)
    return dict(track)


def _listener(
    listener: Listener, next_facts: Mapping[str, Any] | None, *, now: dt.datetime | None,
    recent: Sequence[str], name_allowed: bool, because: str,
) -> dict[str, Any]:  # fmt: skip
    liked_reason = liked(listener, next_facts) if next_facts is not None else ""
    history = [clean_tag(r) for r in (*listener.recent, *recent) if clean_tag(r)]
    name = clean_tag(listener.name, limit=40) or None
    return {
        "name": name,
        "name_allowed": bool(name and name_allowed),
        "language": listener.language,
        "language_name": LANGUAGE_NAMES.get(listener.language, listener.language),
        "likes": {"artists": [clean_tag(a) for a in listener.liked_artists],
                  "genres": [clean_tag(g) for g in listener.liked_genres]},
        "recent": history[-5:],
        "time_of_day": time_of_day(now),
        "liked_next": bool(liked_reason),
        "liked_reason": liked_reason,
        "because": clean_tag(because),
        "name_fresh": bool(name and name_allowed),
    }  # fmt: skip


def build_context(
    *,
    listener: Listener,
    prev: Track | Mapping[str, Any] | None,
    nxt: Track | Mapping[str, Any] | None,
    reason: str = "",
    position: int,
    total: int | None,
    window_s: float,
    word_budget: int,
    now: dt.datetime | None = None,
    kind: str = "link",
    delivery: str = "talkover",
    recent: Sequence[str] = (),
    avoid_openers: Sequence[str] = (),
    name_fresh: bool = True,
    terms: Mapping[str, float] | None = None,
    planned_step: float | None = None,
    personal: Sequence[str] = (),
    because: str = "",
    set_info: Mapping[str, Any] | None = None,
    heard: Mapping[str, Any] | None = None,
    station: str = STATION,
) -> dict[str, Any]:
    """Assemble the documented context for one link.

    ``prev``/``nxt`` are tracks or facts as :func:`track_facts` makes them;
    ``recent`` are ``"Title by Artist"`` strings heard before this link;
    ``reason`` is the planner's reason, kept out of what is said (the plain
    reason is worked out from the facts, ``terms`` and ``planned_step``);
    ``name_fresh`` says whether the name rule lets this line use the name.
    """
    prev_facts, next_facts = _as_facts(prev), _as_facts(nxt)
    both = prev_facts is not None and next_facts is not None
    changes = hear_change(prev_facts, next_facts, terms) if both else []  # type: ignore[arg-type]
    return {
        "kind": kind,
        "delivery": delivery,
        "talk_level": listener.talk_level,
        "listener": _listener(listener, next_facts, now=now, recent=recent,
                              name_allowed=name_fresh, because=because),
        "prev": prev_facts,
        "next": next_facts,
        "reason": plain_reason(prev_facts, next_facts, terms=terms, planned_step=planned_step),
        "reason_kinds": reason_kinds(prev_facts, next_facts, terms=terms,  # type: ignore[arg-type]
                                     planned_step=planned_step) if both else [],
        "change": changes,
        "change_words": change_words(changes[:2]),
        "personal": list(personal),
        "set": dict(set_info) if set_info else None,
        "heard": dict(heard) if heard else None,
        "position": position,
        "total": total,
        "endless": total is None,
        "is_last": total is not None and position == total,
        "window_s": round(window_s, 1),
        "word_budget": word_budget,
        "avoid_openers": list(avoid_openers),
        "station": clean_tag(station, limit=40) or STATION,
    }


def _joined(names: Sequence[str]) -> str:
    names = [n for n in names if n]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def group_info(tracks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``size``, ``size_word``, ``flavour`` and ``artists`` of a run of tracks (their facts).

    ``flavour`` is the genre every track shares, else the mood word they share,
    else ``""``; ``artists`` names up to three distinct artists in order.
    """
    artists: list[str] = []
    for t in tracks:
        if t.get("artist") and t["artist"] not in artists:
            artists.append(str(t["artist"]))
    genres = {t.get("genre") for t in tracks}
    moods = {t.get("mood") for t in tracks}
    flavour = next(iter(genres)) if len(genres) == 1 and None not in genres else (
        next(iter(moods)) if len(moods) == 1 else "")  # fmt: skip
    return {"size": len(tracks), "size_word": number_word(len(tracks)),
            "flavour": str(flavour or ""), "artists": _joined(artists[:3])}  # fmt: skip


def slots_from_context(ctx: Mapping[str, Any]) -> dict[str, str]:
    """The values of the parts' slots (see ``prompts/parts/en.toml``) for one context."""
    nxt = ctx.get("next") or {}
    prev = ctx.get("prev") or {}
    listener = ctx.get("listener") or {}
    group = ctx.get("set") or {}
    heard = ctx.get("heard") or {}
    total = ctx.get("total")

    def text(value: object) -> str:
        return "" if value is None else str(value)

    liked_reason = text(listener.get("liked_reason"))
    return {
        "title": text(nxt.get("title")), "artist": text(nxt.get("artist")),
        "credit": text(nxt.get("credit") or nxt.get("artist")), "year": text(nxt.get("year")),
        "decade": text(nxt.get("decade")), "album": text(nxt.get("album")),
        "genre": text(nxt.get("genre")), "mood": text(nxt.get("mood")),
        "prev_title": text(prev.get("title")), "prev_artist": text(prev.get("artist")),
        "name": text(listener.get("name")) if listener.get("name_allowed") else "",
        "liked": spoken_genre(liked_reason) or "" if liked_reason != nxt.get("artist") else "",
        "because": text(listener.get("because")),
        "time_of_day": text(listener.get("time_of_day")), "station": text(ctx.get("station")),
        "total": number_word(int(total)) if isinstance(total, int) and total > 1 else "",
        "set_size": text(group.get("size_word")), "set_flavour": text(group.get("flavour")),
        "set_artists": text(group.get("artists")) if "," in text(group.get("artists"))
        or " and " in text(group.get("artists")) else "",
        "heard_size": text(heard.get("size_word")), "heard_artists": text(heard.get("artists")),
    }  # fmt: skip

