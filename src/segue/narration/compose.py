"""Links composed from parts, picked least-recently-used over the whole show.

A template's ``line`` block lists *structures* inside a ``compose`` filter, one
per ``|`` line, each a sequence of part names::

    {% filter compose %}
    back announce
    | change announce
    | back reason announce_fact
    {% endfilter %}

and ``prompts/parts/LANG.toml`` holds the phrasings of every part (see that
file). :func:`compose` chooses the structure and the phrasings that were used
longest ago in this show (never-used first, ties broken by the seed), whose
slots all have values, whose words fit the budget and whose line was never
said before in the show. The memory (:class:`ShowMemory`) lasts the whole
show, for hours: a long show rotates through every phrasing before repeating
one, and never says the same line twice.

Some parts depend on what is true of the link: ``change``, ``reason`` and
``personal`` draw only from the sub-tables the context lists (``change``,
``reason_kinds``, ``personal``); ``fact`` and ``announce_fact`` from every
sub-table whose slots the facts fill.
"""

from __future__ import annotations

import itertools
import random
import re
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from segue.errors import NarrationError
from segue.narration.text import fold, mentions, word_count

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

_SLOT = re.compile(r"\{(\w+)\}")

#: Every slot a phrasing may name.
SLOTS = frozenset(
    [
        "title", "artist", "credit", "year", "decade", "album", "genre", "mood", "prev_title",
        "prev_artist", "name", "liked", "because", "time_of_day", "station", "total",
        "set_size", "set_flavour", "set_artists", "heard_size", "heard_artists"
    ]
)
#: Parts whose phrasings depend on what is true of the link, and the context key listing it.
RESTRICTED = {"change": "change", "reason": "reason_kinds", "personal": "personal"}
#: How many of the strongest changes and reasons a link may speak of.
STRONGEST = 2
#: Structures tried before settling for the best that fits.
MAX_TRIES = 96
#: Lines remembered for the never-the-same-line rule (hours of show at a link a track).
SAID_MEMORY = 20000
#: Parts that tell the listener something: a fact, a change as heard, or a plain reason.
INFORMATIVE = frozenset({"fact", "announce_fact", "change", "reason", "set_intro"})


def _flatten(data: Mapping[str, Any], prefix: str, where: Path) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + ".", where))
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise NarrationError(f"{where}: part {name!r} must be a list of sentences")
        for i, phrasing in enumerate(value):
            unknown = set(_SLOT.findall(phrasing)) - SLOTS
            if unknown:
                raise NarrationError(
                    f"{where}: part {name!r}, entry {i + 1} ({phrasing!r}): unknown slot "
                    f"{{{sorted(unknown)[0]}}} (known: {', '.join(sorted(SLOTS))})"
                )
        out[name] = tuple(v.strip() for v in value if v.strip())
    return out


def load_parts(path: Path) -> dict[str, tuple[str, ...]]:
    """The phrasings of a parts file, by part name (sub-tables flattened with dots).

    Raises
    ------
    NarrationError
        Naming the file, and the part, entry and slot when a phrasing is wrong.

    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NarrationError(f"{path}: cannot read parts ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise NarrationError(f"{path}: not valid TOML ({exc})") from exc
    return _flatten(data, "", path)


class PartBook:
    """The parts of one language; re-read when the file changes on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._parts: dict[str, tuple[str, ...]] = {}

    def parts(self) -> dict[str, tuple[str, ...]]:
        """Every part's phrasings (see :func:`load_parts`)."""
        try:
            st = self.path.stat()
        except OSError as exc:
            raise NarrationError(f"{self.path}: parts file not found ({exc})") from exc
        stamp = (st.st_mtime, st.st_size)
        if stamp != self._stamp:
            self._parts = load_parts(self.path)
            self._stamp = stamp
        return self._parts

    def pools(self, token: str, kinds: Sequence[str] | None) -> list[str]:
        """The part names a structure token draws from, in preference order.

        Raises
        ------
        NarrationError
            For a token no part of this book is named after.

        """
        parts = self.parts()
        if kinds is not None:
            return [f"{token}.{k}" for k in kinds if f"{token}.{k}" in parts]
        names = [n for n in parts if n == token or n.startswith(token + ".")]
        if not names:
            raise NarrationError(f"unknown part {token!r} (parts in {self.path}: "
                                 f"{', '.join(sorted({n.split('.')[0] for n in parts}))})")
        return names


@dataclass
class ShowMemory:
    """What one show has said: the basis of least-recently-used picking, for hours.

    ``count`` numbers the lines committed; the dictionaries hold, for each
    phrasing, structure and opener, the number of the line that last used it.
    """

    count: int = 0
    phrasings: dict[str, int] = field(default_factory=dict)
    structures: dict[str, int] = field(default_factory=dict)
    openers: dict[str, int] = field(default_factory=dict)
    said: set[str] = field(default_factory=set)
    _said_order: deque[str] = field(default_factory=deque)

    def has_said(self, text: str) -> bool:
        """Whether this show already said ``text`` (case and spacing ignored)."""
        return _key(text) in self.said

    def record(self, text: str, opener: str, composed: Composed | None = None) -> None:
        """Remember a committed line (its opener, and its parts when it was composed)."""
        self.count += 1
        key = _key(text)
        if key not in self.said:
            self.said.add(key)
            self._said_order.append(key)
            if len(self._said_order) > SAID_MEMORY:
                self.said.discard(self._said_order.popleft())
        if opener:
            self.openers[opener] = self.count
        if composed is not None:
            self.structures[composed.structure_key] = self.count
            for phrasing in composed.phrasings:
                self.phrasings[phrasing] = self.count


def _key(text: str) -> str:
    return " ".join(fold(text).split())


@dataclass(frozen=True)
class Composed:
    """A composed line: its text, the parts and phrasings it used, and its structure."""

    text: str
    parts: tuple[str, ...]
    phrasings: tuple[str, ...]
    structure_key: str

    @property
    def opener(self) -> str:
        """The line's opener, from its first phrasing (names masked)."""
        return phrasing_opener(self.phrasings[0]) if self.phrasings else ""

    @property
    def informative(self) -> bool:
        """Whether the line carries a fact, a change as heard or a plain reason."""
        return any(p.split(".")[0] in INFORMATIVE for p in self.parts)

    @property
    def personal(self) -> bool:
        """Whether the line has a personal touch."""
        return any(p.startswith("personal") for p in self.parts)


def fill(phrasing: str, slots: Mapping[str, str]) -> str | None:
    """``phrasing`` with its slots filled, first letter capitalised; ``None`` if a slot is empty.

    Values are inserted as text in one pass: a tag that looks like ``{title}``
    stays as it is.
    """
    names = _SLOT.findall(phrasing)
    if any(not slots.get(n) for n in names):
        return None
    text = _SLOT.sub(lambda m: slots[m.group(1)], phrasing)
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class PartRequest:
    """What :func:`compose` needs besides the structures: slots, kinds, budget, names."""

    slots: Mapping[str, str]
    kinds: Mapping[str, Sequence[str]]
    word_budget: int
    names: Sequence[str] = ()
    seed: str = "0"
    #: What the line must say: each entry a set of alternatives, one of which it must name
    #: (the next track's title or artist; the listener in a greeting or a thanks).
    must: Sequence[Sequence[str]] = ()


@cache
def phrasing_opener(phrasing: str) -> str:
    """The opener (:func:`~segue.narration.guards.line_opener`) a phrasing gives any line.

    Slots are names, so they open alike whatever fills them: ``"{prev_artist}
    there"`` opens ``"⁣ there"`` for every artist.
    """
    from segue.narration.guards import line_opener

    return line_opener(_SLOT.sub("Name", phrasing), ["Name"])


def _options(book: PartBook, token: str, req: PartRequest) -> list[tuple[str, str, str]]:
    """``(pool, phrasing, text)`` for every phrasing of ``token`` whose slots are filled."""
    kinds = req.kinds.get(RESTRICTED[token]) if token in RESTRICTED else None
    if kinds is not None:
        kinds = list(kinds)[:STRONGEST] if token != "personal" else list(kinds)
    parts = book.parts()
    out = []
    for pool in book.pools(token, kinds):
        for phrasing in parts[pool]:
            text = fill(phrasing, req.slots)
            if text is not None:
                out.append((pool, phrasing, text))
    return out


def _rank(memory: ShowMemory, key: str, table: Mapping[str, int]) -> int:
    return table.get(key, -1)


def _fill_structure(
    book: PartBook, tokens: Sequence[str], req: PartRequest, memory: ShowMemory,
    rng: random.Random, avoid: set[str],
) -> Composed | None:  # fmt: skip
    chosen: list[tuple[str, str, str]] = []
    for i, token in enumerate(tokens):
        started = {c[2].split()[0].casefold() for c in chosen if c[2].split()}
        options = [o for o in _options(book, token, req)
                   if o[1] not in avoid and o[1] not in {c[1] for c in chosen}]  # fmt: skip
        # Two sentences of one line should not start with the same word ("Here's ... Here's").
        options = [o for o in options if o[2].split()[0].casefold() not in started] or options
        if not options:
            return None
        rng.shuffle(options)

        def age(o: tuple[str, str, str], first: bool = i == 0) -> tuple[int, ...]:
            used = _rank(memory, o[1], memory.phrasings)
            opened = _rank(memory, phrasing_opener(o[1]), memory.openers) if first else -1
            return (max(used, opened), used)

        chosen.append(min(options, key=age))
    return Composed(
        text=" ".join(c[2] for c in chosen), parts=tuple(c[0] for c in chosen),
        phrasings=tuple(c[1] for c in chosen), structure_key=" ".join(tokens),
    )  # fmt: skip


def _shorter_forms(structures: Sequence[Sequence[str]]) -> list[list[str]]:
    """Every structure with some parts dropped: never the last, the first only with the rest."""
    out: list[list[str]] = []
    seen = {tuple(s) for s in structures}
    for tokens in structures:
        head, last = list(tokens[:-1]), tokens[-1:]
        for keep in range(len(head) - 1, -1, -1):
            for chosen in itertools.combinations(range(len(head)), keep):
                # Forms that keep the first part come before those that drop it.
                form = [head[i] for i in chosen] + list(last)
                if tuple(form) not in seen:
                    seen.add(tuple(form))
                    out.append(form)
    return out


def compose(
    structures: Sequence[Sequence[str]], book: PartBook, req: PartRequest, memory: ShowMemory
) -> Composed | None:
    """The line of the least recently used structure and phrasings that fits (module doc).

    Does not change ``memory``: the caller records the line once it is said.
    Returns ``None`` when no structure can be filled (a part without a
    phrasing whose slots the facts fill).
    """
    rng = random.Random(f"{req.seed}:{memory.count}")
    ranked = list(structures)
    rng.shuffle(ranked)

    def freshness(tokens: Sequence[str]) -> tuple[int, int]:
        # A structure whose first part can open with words not heard lately comes first.
        if not tokens:
            return (-1, -1)
        openers = [memory.openers.get(phrasing_opener(o[1]), -1)
                   for o in _options(book, tokens[0], req)]  # fmt: skip
        return (min(openers, default=memory.count + 1), memory.structures.get(" ".join(tokens), -1))

    ranked.sort(key=freshness)
    # When nothing fits the budget, shorter forms of the same structures come next (the
    # fewest parts dropped first, the opening part kept longest, the last part always),
    # so a line keeps its greeting and its announce rather than being cut blindly.
    ranked += sorted(_shorter_forms(ranked), key=lambda t: -len(t))  # stable: first part kept
    best: Composed | None = None
    avoid: set[str] = set()
    tries = 0
    for tokens in ranked:
        while tries < MAX_TRIES:
            tries += 1
            line = _fill_structure(book, tokens, req, memory, rng, avoid)
            if line is None:
                break
            if memory.has_said(line.text):
                # Said before: the same structure again with another phrasing of its
                # first part (the rest may stay, the line is new all the same).
                avoid.add(line.phrasings[0])
                continue
            if not all(any(mentions(line.text, m) for m in group if m) for group in req.must):
                break  # a form that lost the greeting or the announce is no line at all
            if word_count(line.text) <= req.word_budget:
                return line
            if best is None or word_count(line.text) < word_count(best.text):
                best = line
            break
    if best is None and "announce_short" in book.parts() and structures:
        # No artist (or no title) to fill the usual announces: name what there is.
        short = [["announce_short" if t in ("announce", "announce_fact") else t for t in s]
                 for s in structures]  # fmt: skip
        if short != [list(s) for s in structures]:
            return compose(short, book, req, memory)
    return best
