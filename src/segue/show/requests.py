"""Requests in words ("something calmer", "play Nebula", "no more metal tonight") → constraints.

The offline interpreter is a small ordered table of rules, each a regular
expression and a function that turns its match into a :class:`Interpretation`:
a change of :class:`~segue.sequencing.rolling.Constraints` the planner understands
(energy shift, artist/genre/title boost or ban, a track to play next) and/or a talk
level for the narrator, with one sentence saying what it understood. Names are
matched against the library (titles, artists, genres), forgivingly: case, accents
and small typos do not matter, and a name that matches nothing gets "no track
called Nebulae; did you mean Nebula?" and changes nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from segue.models import TALK_LEVELS, TalkLevel, Track
from segue.sequencing.rolling import Constraints, genres_of

#: How far "calmer" / "more energy" moves the arc's energy targets (0–1 scale).
ENERGY_STEP = 0.25
#: Similarity a library name needs to be offered as "did you mean".
SUGGEST_CUTOFF = 0.6


@dataclass(frozen=True)
class Interpretation:
    """What a request was understood as: the new constraints and talk level, in one sentence.

    ``understood`` is ``False`` when nothing in the request could be acted on; the
    message then says why (and the constraints are unchanged).
    """

    understood: bool
    message: str
    constraints: Constraints
    talk_level: TalkLevel | None = None
    #: The library ids a "play …" request asked for, to say what comes next.
    chosen_ids: tuple[str, ...] = ()


def fold(text: str) -> str:
    """``text`` for matching: accents stripped, case folded, punctuation to spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", plain.casefold()).split())


@dataclass(frozen=True)
class Catalogue:
    """The library's names, folded, for matching request words against."""

    titles: dict[str, list[str]]  # folded title → ids
    artists: dict[str, str]  # folded artist → artist as tagged
    genres: frozenset[str]
    tracks: dict[str, Track]

    @classmethod
    def of(cls, tracks: dict[str, Track]) -> Catalogue:
        """The catalogue of ``tracks`` (library id → track)."""
        titles: dict[str, list[str]] = {}
        artists: dict[str, str] = {}
        genres: set[str] = set()
        for id_, t in tracks.items():
            titles.setdefault(fold(t.tags.title), []).append(id_)
            artists.setdefault(fold(t.tags.artist), t.tags.artist)
            genres |= genres_of(t)
        return cls(titles=titles, artists=artists, genres=frozenset(genres), tracks=tracks)

    def find(self, words: str) -> tuple[str, str] | None:
        """``("title"|"artist"|"genre", folded name)`` that ``words`` names, or ``None``.

        The name must be the words (case, accents and punctuation aside), or the only
        name of its kind that contains them as whole words ("mccracken" for "Max
        McCracken", "feelings" for "Feelings (Live)"). A near miss is no match: it is
        offered back by :meth:`suggest`.
        """
        key = fold(words)
        if not key:
            return None
        kinds: tuple[tuple[str, Collection[str]], ...] = (
            ("title", self.titles), ("artist", self.artists), ("genre", self.genres))
        for kind, names in kinds:
            if key in names:
                return kind, key
        pattern = re.compile(rf"(?:^| ){re.escape(key)}(?: |$)")
        for kind, names in kinds:
            hits = [n for n in names if pattern.search(n)]
            if len(hits) == 1:
                return kind, hits[0]
        return None

    def suggest(self, words: str) -> str | None:
        """The library name closest to ``words``, as tagged, when one is close enough."""
        key = fold(words)
        shown = {fold(t.tags.title): t.tags.title for t in self.tracks.values()}
        shown |= {k: v for k, v in self.artists.items()}
        close = difflib.get_close_matches(key, list(shown), n=1, cutoff=SUGGEST_CUTOFF)
        return shown[close[0]] if close else None

    def display(self, kind: str, key: str) -> str:
        """A matched name as the tags spell it."""
        if kind == "title":
            return self.tracks[self.titles[key][0]].tags.title
        if kind == "artist":
            return self.artists[key]
        return key


#: A rule turns its match into an interpretation, or ``None`` to let the later rules try.
Rule = Callable[["re.Match[str]", Catalogue, Constraints, TalkLevel], "Interpretation | None"]

_CALM = r"calm(?:er)?|chill(?:er)?|slow(?:er)?|soft(?:er)?|quiet(?:er)?|mellow(?:er)?|relax\w*"
_UP = r"faster|upbeat|livel(?:y|ier)|energ\w*|harder|louder|party|pump\w*|dance(?:able)?"


def _energy(delta: float, word: str) -> Rule:
    def rule(m: re.Match[str], cat: Catalogue, c: Constraints, talk: TalkLevel) -> Interpretation:
        shift = max(-1.0, min(1.0, c.energy_shift + delta))
        return Interpretation(True, f"{word} from the next track on",
                              dataclasses.replace(c, energy_shift=shift))  # fmt: skip

    return rule


def _talk(step: int) -> Rule:
    def rule(m: re.Match[str], cat: Catalogue, c: Constraints, talk: TalkLevel) -> Interpretation:
        levels = list(TALK_LEVELS)
        new = levels[max(0, min(len(levels) - 1, levels.index(talk) + step))]
        if new == talk:
            return Interpretation(True, f"talk is already {talk}", c, talk_level=talk)
        said = "no more talk between tracks" if new == "off" else f"talk level {new}"
        return Interpretation(True, said, c, talk_level=new)

    return rule


def _play(m: re.Match[str], cat: Catalogue, c: Constraints, talk: TalkLevel
          ) -> Interpretation | None:  # fmt: skip
    found = cat.find(m.group("what"))
    if found is None:
        return None
    kind, key = found
    if kind == "title":
        id_ = cat.titles[key][0]
        t = cat.tracks[id_]
        return Interpretation(True, f"playing {t.tags.title} by {t.tags.artist} after this track",
                              dataclasses.replace(c, next_ids=(id_,)), chosen_ids=(id_,))
    return _more(m, cat, c, talk, found=found)


def _more(m: re.Match[str], cat: Catalogue, c: Constraints, talk: TalkLevel,
          found: tuple[str, str] | None = None) -> Interpretation | None:  # fmt: skip
    found = found or cat.find(m.group("what"))
    if found is None:
        return None
    kind, key = found
    shown = cat.display(kind, key)
    if kind == "title":  # "more like Nebula": that track's artist
        kind, key = "artist", fold(cat.tracks[cat.titles[key][0]].tags.artist)
        shown = cat.display(kind, key)
    if kind == "artist":
        ids = [i for i, t in cat.tracks.items() if fold(t.tags.artist) == key]
        new = dataclasses.replace(c, boosted_artists=c.boosted_artists | {key.casefold()},
                                  banned_artists=c.banned_artists - {key.casefold()})
        return Interpretation(True, f"more {shown}: next up {cat.tracks[ids[0]].tags.title}",
                              dataclasses.replace(new, next_ids=(ids[0],)), chosen_ids=(ids[0],))
    new = dataclasses.replace(c, boosted_genres=c.boosted_genres | {key},
                              banned_genres=c.banned_genres - {key})
    return Interpretation(True, f"more {shown} from the next track on", new)


def _ban(m: re.Match[str], cat: Catalogue, c: Constraints, talk: TalkLevel
         ) -> Interpretation | None:  # fmt: skip
    found = cat.find(m.group("what"))
    if found is None:
        return None
    kind, key = found
    shown = cat.display(kind, key)
    if kind == "title":
        ids = frozenset(cat.titles[key])
        return Interpretation(True, f"no more {shown}",
                              dataclasses.replace(c, banned_ids=c.banned_ids | ids))
    if kind == "artist":
        return Interpretation(True, f"no more {shown} in this show", dataclasses.replace(
            c, banned_artists=c.banned_artists | {key}, boosted_artists=c.boosted_artists - {key}))
    return Interpretation(True, f"no more {shown} in this show", dataclasses.replace(
        c, banned_genres=c.banned_genres | {key}, boosted_genres=c.boosted_genres - {key}))


def _unknown(words: str, cat: Catalogue, c: Constraints) -> Interpretation:
    guess = cat.suggest(words)
    hint = f"; did you mean {guess}?" if guess else ""
    return Interpretation(False, f"no track, artist or genre called {words.strip()}{hint}", c)


_WHAT = r"(?P<what>.+?)"
_TAIL = r"(?:\s+(?:tonight|today|please|anymore|any\s*more|for now|now))*[.!?]*$"
#: The rules, tried in order; the first that gives an interpretation decides. A name
#: rule whose words match nothing in the library passes, so "play something calmer"
#: reaches the energy rule.
RULES: tuple[tuple[re.Pattern[str], Rule], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), rule) for pattern, rule in (
        (r"\b(?:less|fewer)\s+(?:talk\w*|chat\w*)|\btalk\s+less\b|\bshut up\b|"
         r"\b(?:stop|no)\s+talk\w*|\bquiet(?:er)?\s+dj\b", _talk(-1)),
        (r"\bmore\s+(?:talk\w*|chat\w*)|\btalk\s+more\b|\btell me more\b", _talk(+1)),
        (rf"^\s*(?:no more|no|stop(?: playing)?|less|ban|not)\s+{_WHAT}{_TAIL}", _ban),
        (rf"^\s*(?:i (?:don'?t|do not) (?:like|want)(?: any)?(?: more)?)\s+{_WHAT}{_TAIL}", _ban),
        (rf"^\s*(?:please\s+)?(?:play|put on|queue|i want(?: to hear)?|can (?:you|we) "
         rf"(?:play|hear)|let'?s hear)\s+{_WHAT}{_TAIL}", _play),
        (rf"^\s*(?:more(?: of)?(?: like)?|more songs by|something like)\s+{_WHAT}{_TAIL}", _more),
        (rf"\b(?:{_CALM})\b|\bless energy\b|\bwind(?:ing)? down\b",
         _energy(-ENERGY_STEP, "calmer")),
        (rf"\b(?:{_UP})\b|\bpick (?:it|the pace) up\b", _energy(+ENERGY_STEP, "more energy")),
    )
)


def interpret(
    text: str, tracks: dict[str, Track], constraints: Constraints, talk_level: TalkLevel,
    *, rules: Sequence[tuple[re.Pattern[str], Rule]] = RULES,
    catalogue: Catalogue | None = None,
) -> Interpretation:
    """Read a request against the library (id → track) and the constraints so far.

    The first rule that matches decides; text that no rule understands changes
    nothing and says so. ``catalogue``: ``tracks``' catalogue, when the caller has it.
    """
    cleaned = " ".join(text.split())
    if not cleaned:
        return Interpretation(False, "an empty request", constraints)
    if len(cleaned) > 200:
        return Interpretation(False, "a request of at most 200 characters, please", constraints)
    catalogue = catalogue or Catalogue.of(tracks)
    unknown: str | None = None
    for pattern, rule in rules:
        m = pattern.search(cleaned)
        if not m:
            continue
        found = rule(m, catalogue, constraints, talk_level)
        if found is not None:
            return found
        if unknown is None and "what" in m.groupdict():
            unknown = m.group("what")
    if unknown is not None:
        return _unknown(unknown, catalogue, constraints)
    return Interpretation(
        False, f"not understood: {cleaned!r} (try 'play TITLE', 'more ARTIST', 'something "
               "calmer', 'no more GENRE', 'less talk')", constraints)  # fmt: skip


def interpret_commands(
    commands: Sequence[str], tracks: dict[str, Track], constraints: Constraints,
    talk_level: TalkLevel, *, catalogue: Catalogue | None = None,
) -> Interpretation:
    """Read ``commands`` one after another, each on the constraints the one before left.

    Understood when at least one is; the message joins what each understood one did.
    Commands no rule understands change nothing (an LLM's rewriting of a request is
    read here: see :mod:`segue.show.llm_requests`). ``catalogue`` as for :func:`interpret`.
    """
    said: list[str] = []
    chosen: tuple[str, ...] = ()
    talk: TalkLevel | None = None
    catalogue = catalogue or Catalogue.of(tracks)
    for command in commands:
        reading = interpret(command, tracks, constraints, talk or talk_level,
                            catalogue=catalogue)
        if not reading.understood:
            continue
        said.append(reading.message)
        constraints = reading.constraints
        talk = reading.talk_level or talk
        chosen = chosen or reading.chosen_ids
    if not said:
        return Interpretation(False, "nothing in the library fits", constraints)
    return Interpretation(True, "; ".join(said), constraints, talk_level=talk, chosen_ids=chosen)
