"""The show's growing log: what was heard, when, with every link, reason, fallback and reaction.

A file render's timeline JSON is this log at the end (so it is exactly what was
heard: a skipped track appears cut where it was cut); a live show reads history
and the recent past from it. Old entries beyond :data:`KEEP_TRACKS` are dropped,
so a show that runs for weeks keeps constant memory.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from segue.models import (
    Plan,
    Speech,
    Timeline,
    TimelineLink,
    TimelineTrack,
    Track,
    Transition,
)

#: Tracks (with their links) the log keeps.
KEEP_TRACKS = 2000


@dataclass(frozen=True)
class LoggedTrack:
    """A track as heard: where it sat in the mix, and why it was chosen."""

    id: str
    track: Track
    transition: Transition
    placed: TimelineTrack
    #: How it ended: ``played``, ``skipped``, ``unplayable`` (``None`` while it may still change).
    ended: str | None = None


@dataclass
class ShowLog:
    """Tracks, links, dropped links and reactions of one show, in the order they were heard."""

    tracks: deque[LoggedTrack] = field(default_factory=lambda: deque(maxlen=KEEP_TRACKS))
    links: deque[TimelineLink] = field(default_factory=lambda: deque(maxlen=KEEP_TRACKS))
    dropped: dict[int, str] = field(default_factory=dict)
    reactions: list[dict[str, Any]] = field(default_factory=list)
    #: Keep each link's speech, so :meth:`timeline` can be rendered again (tests,
    #: benchmarks); off by default, since hours of speech take memory.
    keep_speech: bool = False
    speech: dict[int, Speech] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def track(self, entry: LoggedTrack) -> None:
        """Log a track, or update its entry (same track, same start) among the last few."""
        with self._lock:
            for k in range(len(self.tracks) - 1, max(-1, len(self.tracks) - 4), -1):
                old = self.tracks[k]
                if old.id == entry.id and old.placed.start_s == entry.placed.start_s:
                    self.tracks[k] = entry
                    return
            self.tracks.append(entry)

    def forget(self, id_: str, position: int) -> None:
        """Take back the last track (not heard after all: a skip came first) and its link."""
        with self._lock:
            if self.tracks and self.tracks[-1].id == id_:
                self.tracks.pop()
            while self.links and self.links[-1].before_track == position:
                self.links.pop()

    def link(self, link: TimelineLink, speech: Speech | None = None) -> None:
        """Log a link as it will be heard (with its speech when :attr:`keep_speech`)."""
        with self._lock:
            self.links.append(link)
            if self.keep_speech and speech is not None:
                self.speech[id(link)] = speech

    def drop(self, position: int, why: str) -> None:
        """Log that the link before show position ``position`` is not spoken, and why."""
        with self._lock:
            self.dropped[position] = why

    def reaction(self, at_s: float, kind: str, result: dict[str, Any]) -> None:
        """Log a listener's reaction and what it did."""
        with self._lock:
            self.reactions.append({"at_s": round(at_s, 3), "type": kind, **result})
            del self.reactions[:-KEEP_TRACKS]

    def timeline(self, *, sr: int, target_lufs: float, duration_s: float) -> Timeline:
        """The log as a :class:`Timeline` (without speech samples)."""
        with self._lock:
            tracks = tuple(t.placed for t in self.tracks)
            links = tuple(sorted(self.links, key=lambda lk: lk.start_s))
            speech = tuple(self.speech[id(lk)] for lk in links) if self.keep_speech else ()
        return Timeline(duration_s=round(duration_s, 3), target_lufs=target_lufs, sr=sr,
                        tracks=tracks, links=links, speech=speech)  # fmt: skip

    def plan(self) -> Plan:
        """The heard order as a :class:`Plan`: tracks and the transition into each but the first."""
        with self._lock:
            entries = list(self.tracks)
        transitions = tuple(
            Transition(from_pos=k - 1, to_pos=k, cost=e.transition.cost, terms=e.transition.terms,
                       reason=e.transition.reason)
            for k, e in enumerate(entries) if k > 0
        )  # fmt: skip
        return Plan(tracks=tuple(e.track for e in entries), transitions=transitions,
                    total_cost=round(sum(t.cost for t in transitions), 4))  # fmt: skip
