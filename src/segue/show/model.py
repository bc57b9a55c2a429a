"""The public values of the show engine: what plays, what comes next, what happened.

These are what ``segue serve``'s API, the web player, a file render's timeline and
Python callers read from a running :class:`~segue.show.engine.Show`. Times named
``*_s`` are seconds of *audio time* (the mix clock, from the start of the show);
``played_at`` values are wall-clock UNIX times. Frozen dataclasses, JSON-ready
through :func:`dataclasses.asdict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ReactionType = Literal["skip", "like", "dislike", "more_talk", "less_talk", "request"]
REACTION_TYPES: tuple[ReactionType, ...] = (
    "skip", "like", "dislike", "more_talk", "less_talk", "request",
)  # fmt: skip

EventKind = Literal["track", "link", "upcoming", "reaction", "problem"]


@dataclass(frozen=True)
class Song:
    """A track as listeners see it: library id and tags, never a file path."""

    id: str
    title: str
    artist: str
    album: str | None = None
    year: int | None = None
    genre: str | None = None
    duration_s: float = 0.0


@dataclass(frozen=True)
class Upcoming:
    """A track the rolling plan will play, and why it comes there (plain words)."""

    song: Song
    why: str


@dataclass(frozen=True)
class Played:
    """A track that started playing: when (audio and wall time) and why it was chosen."""

    song: Song
    start_s: float
    played_at: float
    why: str
    #: How it ended: ``played`` (to its end), ``skipped``, ``unplayable``; ``None`` while playing.
    ended: str | None = None


@dataclass(frozen=True)
class NowPlaying:
    """The track audible at one moment of audio time, and the link being spoken, if any."""

    song: Song | None
    elapsed_s: float
    remaining_s: float
    why: str
    link: str | None = None


@dataclass(frozen=True)
class Reaction:
    """A listener's reaction. ``text`` is the request's words for ``request``.

    ``commands``: the request rewritten by an LLM in the offline interpreter's own forms
    (:mod:`segue.show.llm_requests`), read when the rules do not understand ``text``.
    """

    type: ReactionType
    text: str = ""
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReactionResult:
    """What a reaction did: ``accepted`` or not, in one sentence, and the new upcoming order."""

    accepted: bool
    message: str
    upcoming: tuple[Upcoming, ...] = ()
    #: The constraints a request was read as (see :mod:`segue.show.requests`).
    constraints: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ShowEvent:
    """Something that becomes audible (``track``, ``link``) or changes (``upcoming``, ...).

    ``at_s`` is the audio time at which it is heard: a streaming front-end should
    publish it when its listeners reach that point, not when the engine rendered it.
    ``seq`` numbers the events of one show from 1, without gaps.
    """

    seq: int
    kind: EventKind
    at_s: float
    data: dict[str, Any]
