"""The talk plan: which transitions get a link, so a link is an event, not a habit.

The cadence (setting ``talk_cadence``, ``SEGUE_TALK_CADENCE``):

- ``every``: a link before every track;
- a number ``N``: a link before every N-th track (the opening, then N tracks later);
- ``sets``: the show is cut into mini-sets of 3–5 tracks that belong together
  (cut where the music changes most: energy, tempo, genre); a link opens each
  set, back-announcing the one before, as Spotify's DJ and radio presenters do;
- ``auto`` (the default): chosen by the talk level: ``chatty`` talks before
  every track, ``normal`` and ``brief`` in sets.

The opening and the closing are always said (unless the talk level is ``off``).
Decisions are made once per position and kept, so asking again about the same
transition gives the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from segue.errors import NarrationError
from segue.models import TalkLevel

#: The cadence of each talk level when the setting is ``auto``.
DEFAULT_CADENCE: dict[str, str] = {"brief": "sets", "normal": "sets", "chatty": "every"}
#: Mini-set sizes in sets mode.
SET_MIN, SET_MAX = 3, 5


def parse_cadence(raw: str, talk_level: str) -> int:
    """Tracks between links: 1 for ``every``, N for a number, 0 for ``sets``.

    Raises
    ------
    NarrationError
        For anything else, naming the setting and the valid values.

    """
    value = (raw or "auto").strip().lower()
    if value == "auto":
        value = DEFAULT_CADENCE.get(talk_level, "every")
    if value == "every":
        return 1
    if value == "sets":
        return 0
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise NarrationError(
        f"SEGUE_TALK_CADENCE={raw!r}: expected auto, every, sets or a number of tracks"
    )


def _change(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """How much the music changes from ``a`` to ``b``: energy, tempo and genre steps."""
    step = abs(float(b.get("energy") or 0.5) - float(a.get("energy") or 0.5)) * 2
    ba, bb = float(a.get("bpm") or 0), float(b.get("bpm") or 0)
    if ba > 0 and bb > 0:
        ratio = bb / ba
        octave = min(abs(math.log2(ratio)), abs(math.log2(ratio) - 1), abs(math.log2(ratio) + 1))
        step += min(1.0, octave * 5)
    ga, gb = str(a.get("genre") or "").casefold(), str(b.get("genre") or "").casefold()
    if ga and gb and ga != gb:
        step += 0.5
    return step


def set_length(tracks: Sequence[Mapping[str, Any]]) -> int:
    """How many of ``tracks`` (the next and the upcoming ones) form the next mini-set.

    3–5 tracks, cut before the biggest change; the last few tracks of a finite
    show join the last set rather than form a set of one or two.
    """
    n = len(tracks)
    if n <= SET_MAX:
        return n
    best, best_change = SET_MIN, -1.0
    for length in range(SET_MIN, SET_MAX + 1):
        if n - length < SET_MIN and n - length != 0:
            continue  # would strand one or two tracks at the end
        change = _change(tracks[length - 1], tracks[length])
        if change > best_change + 1e-9:
            best, best_change = length, change
    return best


class TalkPlan:
    """Decides, position by position, whether a transition gets a link.

    Not thread-safe on its own: :class:`~segue.narration.showscript.ShowScript`
    calls it under its lock.
    """

    def __init__(self, cadence: str, talk_level: TalkLevel) -> None:
        self.raw = cadence
        self.talk_level: TalkLevel = talk_level
        self.every = parse_cadence(cadence, talk_level)
        self._decided: dict[int, bool] = {}
        self._sets: dict[int, int] = {}  # start position → length
        self._last_link = -1
        self._next_set = 0

    def set_talk_level(self, level: TalkLevel, from_position: int) -> None:
        """Change the talk level (and an ``auto`` cadence) for positions from ``from_position``."""
        self.talk_level = level
        self.every = parse_cadence(self.raw, level) if level != "off" else self.every
        self._decided = {p: d for p, d in self._decided.items() if p < from_position}
        self._sets = {p: n for p, n in self._sets.items() if p < from_position}
        self._next_set = min(self._next_set, from_position)

    def wants(self, position: int, kind: str, tracks: Sequence[Mapping[str, Any]]) -> bool:
        """Whether the gap at ``position`` gets a link; ``tracks``: its next and upcoming tracks."""
        if self.talk_level == "off":
            return False
        if kind != "link":
            if kind == "opening":
                self._last_link = position
            return True
        if position in self._decided:
            return self._decided[position]
        if self.every >= 1:
            wanted = self._last_link < 0 or position - self._last_link >= self.every
        else:
            wanted = position >= self._next_set
        if wanted:
            self._last_link = position
        self._decided[position] = wanted
        return wanted

    def set_at(self, position: int) -> int:
        """The length of the mini-set opened at ``position`` (0: none opens there)."""
        return self._sets.get(position, 0)

    def open_set(self, position: int, tracks: Sequence[Mapping[str, Any]]) -> int:
        """In sets mode, the length of the mini-set opened at ``position`` (0 otherwise)."""
        if self.every != 0 or not tracks:
            return 0
        if position not in self._sets:
            self._sets[position] = set_length(tracks)
            self._next_set = position + self._sets[position]
        return self._sets[position]
