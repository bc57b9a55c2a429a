"""The rolling plan: the best path from the track playing now through the tracks not yet played.

A live show re-plans whenever something changes (a reaction, a request, a track
added or lost), with the same named cost terms, listener weights and energy arc as
:func:`~segue.sequencing.plan.plan_order`, so every upcoming track keeps its reason.
On top of the flow, the rules a station keeps:

- **no repeat within a window** (:attr:`Rules.repeat_window_s`; default the larger
  of 2 hours and half the library's playing time): a track heard inside it is not
  a candidate, unless too few others are left, when the ones heard longest ago come
  back first;
- **no artist within** :attr:`Rules.artist_gap` **tracks**, where the library allows;
  otherwise as far apart as it can;
- **constraints from requests** (:class:`Constraints`): banned tracks, artists and
  genres never come; a pinned track comes next; boosted artists and genres are
  preferred; an energy shift moves the arc's targets.

The arc continues over an endless show: its shape repeats every
:data:`ENDLESS_CYCLE` tracks (``wave`` rises and falls about every ten), evaluated
at the show's absolute track position. A big library is planned through the
:data:`CANDIDATES` best candidates only (by flow from the current track and request
boosts), so a re-plan is exact over them and takes milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from segue.models import Track, Transition
from segue.sequencing.arcs import _SHAPES, check_arc
from segue.sequencing.costs import CostWeights, describe, raw_terms, weigh
from segue.sequencing.exact import EXACT_MAX_N
from segue.sequencing.features import SetFeatures
from segue.sequencing.plan import solve

FloatArray = npt.NDArray[np.float64]

#: Tracks an endless arc spans before its shape repeats.
ENDLESS_CYCLE = 20
#: At most this many candidates enter the path search: with the track playing now that
#: is the exact solver's limit, so a re-plan is exact and takes milliseconds.
CANDIDATES = EXACT_MAX_N - 1
#: How many upcoming tracks a plan lists.
HORIZON = 10
#: A boosted artist or genre is preferred this much in candidate ranking (cost units).
BOOST_BONUS = 1.5


@dataclass(frozen=True)
class Constraints:
    """What requests and reactions ask of the planner; every field is optional.

    Names are compared case-insensitively. ``next_ids`` are library ids to play
    next, in order; ``energy_shift`` (−1…1) moves the arc's targets.
    """

    banned_ids: frozenset[str] = frozenset()
    banned_artists: frozenset[str] = frozenset()
    banned_genres: frozenset[str] = frozenset()
    boosted_artists: frozenset[str] = frozenset()
    boosted_genres: frozenset[str] = frozenset()
    next_ids: tuple[str, ...] = ()
    energy_shift: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, without the empty fields."""
        out: dict[str, object] = {}
        for name, value in vars(self).items():
            if isinstance(value, frozenset) and value:
                out[name] = sorted(value)
            elif isinstance(value, tuple) and value:
                out[name] = list(value)
            elif isinstance(value, float) and value:
                out[name] = round(value, 3)
        return out

    def bans(self, id_: str, track: Track) -> bool:
        """Whether ``track`` (library id ``id_``) may not be played."""
        if id_ in self.banned_ids or _norm(track.tags.artist) in self.banned_artists:
            return True
        return bool(genres_of(track) & self.banned_genres)

    def boost(self, track: Track) -> float:
        """How much ``track`` is preferred (0 when no boost applies)."""
        hit = _norm(track.tags.artist) in self.boosted_artists
        hit = hit or bool(genres_of(track) & self.boosted_genres)
        return BOOST_BONUS if hit else 0.0


def _norm(text: str | None) -> str:
    return (text or "").strip().casefold()


def genres_of(track: Track) -> frozenset[str]:
    """The track's genre words, case-folded (``"Metal/Rock"`` → ``{"metal", "rock"}``)."""
    raw = (track.tags.genre or "").replace("/", ",").replace(";", ",")
    return frozenset(_norm(g) for g in raw.split(",") if g.strip())


@dataclass(frozen=True)
class Rules:
    """A station's repeat rules: seconds before a track may return, tracks between an artist."""

    repeat_window_s: float = 7200.0
    artist_gap: int = 3

    @classmethod
    def for_library(cls, durations_s: Sequence[float], *, artist_gap: int = 3) -> Rules:
        """The default window: the larger of 2 hours and half the library's playing time."""
        return cls(repeat_window_s=max(7200.0, 0.5 * float(sum(durations_s))),
                   artist_gap=artist_gap)  # fmt: skip


@dataclass(frozen=True)
class Heard:
    """A track already played in this show: its id, artist and when it started (audio s)."""

    id: str
    artist: str
    at_s: float


@dataclass(frozen=True)
class Step:
    """One upcoming track, the transition into it and why it comes there."""

    id: str
    track: Track
    transition: Transition


@dataclass
class ArcClock:
    """The energy targets of a show's arc at absolute track positions.

    A finite show spreads its arc over ``length`` tracks (as :func:`plan_order`
    does); an endless one (``length`` 0) repeats the shape every
    :data:`ENDLESS_CYCLE` tracks. Targets are stretched over the library's energies
    (10th–90th percentile); ``None`` for ``flat``.
    """

    arc: str
    energies: FloatArray
    length: int = 0
    _lo_hi: tuple[float, float] = field(init=False)

    def __post_init__(self) -> None:
        check_arc(self.arc)
        known = self.energies[np.isfinite(self.energies)]
        self._lo_hi = (float(np.percentile(known, 10)), float(np.percentile(known, 90))) \
            if len(known) else (0.5, 0.5)  # fmt: skip

    def targets(self, start: int, count: int, shift: float = 0.0) -> FloatArray | None:
        """Targets for positions ``start`` … ``start + count - 1`` (moved by ``shift``)."""
        lo, hi = self._lo_hi
        if self.arc == "flat" and not shift:
            return None
        pos = np.arange(start, start + count, dtype=np.float64)
        if self.arc == "flat" or math.isclose(lo, hi):
            base = np.full(count, 0.5 * (lo + hi))
        else:
            n = self.length if self.length > 1 else ENDLESS_CYCLE
            x = pos / (n - 1) if self.length > 1 else (pos % n) / (n - 1)
            base = lo + (hi - lo) * _SHAPES[self.arc](np.clip(x, 0.0, 1.0), n)
        return np.clip(base + shift, 0.0, 1.0)


def eligible(
    pool: Mapping[str, Track], heard: Sequence[Heard], now_s: float, rules: Rules,
    constraints: Constraints, *, repeats: bool,
) -> list[str]:  # fmt: skip
    """Ids that may come next: not banned, not heard within the window.

    With ``repeats`` (an endless show) and no fresh track left, the show goes on
    with the tracks heard longest ago: the oldest quarter of the pool (at least
    two), so a small library still rotates with every track as far apart as the
    flow allows. Without ``repeats``, a heard track never returns.
    """
    last: dict[str, float] = {}
    for h in heard:
        last[h.id] = max(last.get(h.id, -math.inf), h.at_s)
    allowed = [i for i, t in pool.items() if not constraints.bans(i, t)]
    fresh = [i for i in allowed if i not in last or (repeats and
                                                     now_s - last[i] >= rules.repeat_window_s)]
    need = max(2, math.ceil(len(allowed) / 4))
    if repeats and len(fresh) < need:
        order = {h.id: k for k, h in enumerate(heard)}  # later plays have larger numbers
        stale = sorted((i for i in allowed if i not in fresh), key=lambda i: order[i])
        fresh += stale[: need - len(fresh)]
    return fresh


def _rank(
    current: Track | None, ids: Sequence[str], pool: Mapping[str, Track], weights: CostWeights,
    constraints: Constraints, limit: int,
) -> list[str]:  # fmt: skip
    """The ``limit`` best candidates by flow from ``current``, minus request boosts."""
    if len(ids) <= limit:
        return list(ids)
    tracks = [pool[i] for i in ids]
    if current is None:
        flow = np.zeros(len(ids))
    else:
        f = SetFeatures.from_tracks([current, *tracks])
        a = np.zeros(len(ids), dtype=np.int64)
        b = np.arange(1, len(ids) + 1, dtype=np.int64)
        flow = sum(weigh(raw_terms(f, a, b), weights).values(), np.zeros(len(ids)))
    score = flow - np.array([constraints.boost(t) for t in tracks])
    order = np.argsort(score, kind="stable")[:limit]
    return [ids[k] for k in order]


def space_artists(order: list[str], pool: Mapping[str, Track], recent_artists: Sequence[str],
                  gap: int, *, exempt: frozenset[str] = frozenset()) -> list[str]:  # fmt: skip
    """Reorder ``order`` so no artist returns within ``gap`` tracks, where it can.

    ``recent_artists`` are the artists just heard, oldest first. A track that would
    break the rule swaps with the nearest later one that does not; where none does,
    it stays (as far apart as the library allows). ``exempt`` artists (a request
    asked for more of them) only avoid playing back to back.
    """
    out = list(order)
    seen = [_norm(a) for a in recent_artists]

    def clashes(k: int, window: Sequence[str]) -> bool:
        artist = _norm(pool[out[k]].tags.artist)
        return artist in (window[-1:] if artist in exempt else window)

    for i in range(len(out)):
        window = seen[-gap:] if gap > 0 else []
        if clashes(i, window):
            j = next((k for k in range(i + 1, len(out)) if not clashes(k, window)), None)
            if j is not None:
                out.insert(i, out.pop(j))
        seen.append(_norm(pool[out[i]].tags.artist))
    return out


def explain(
    path: Sequence[Track], weights: CostWeights, targets: FloatArray | None
) -> list[Transition]:
    """The transitions along ``path`` (its first track is the one playing), each with its reason."""
    if len(path) < 2:
        return []
    f = SetFeatures.from_tracks(path)
    n = len(path)
    a, b = np.arange(n - 1, dtype=np.int64), np.arange(1, n, dtype=np.int64)
    t_from = np.full(n - 1, math.nan) if targets is None else targets[:-1]
    t_to = np.full(n - 1, math.nan) if targets is None else targets[1:]
    raw = raw_terms(f, a, b, t_from=t_from, t_to=t_to)
    weighted = weigh(raw, weights)
    out: list[Transition] = []
    for k in range(n - 1):
        terms = {name: round(float(v[k]), 4) for name, v in weighted.items()}
        reason = describe(f, k, k + 1, t_from=float(t_from[k]), t_to=float(t_to[k]),
                          camelot=(path[k].analysis.camelot, path[k + 1].analysis.camelot),
                          raw={name: float(v[k]) for name, v in raw.items()})  # fmt: skip
        out.append(Transition(from_pos=k, to_pos=k + 1, cost=round(sum(terms.values()), 4),
                              terms=terms, reason=reason))  # fmt: skip
    return out


def plan_upcoming(
    current: tuple[str, Track] | None,
    pool: Mapping[str, Track],
    *,
    heard: Sequence[Heard],
    now_s: float,
    position: int,
    weights: CostWeights,
    arc: ArcClock,
    rules: Rules,
    constraints: Constraints,
    repeats: bool,
    horizon: int = HORIZON,
    seed: int = 0,
) -> list[Step]:
    """The next ``horizon`` tracks after ``current`` (see the module docstring).

    ``position`` is the show position of the first upcoming track (0 for the
    opening), ``heard`` what played so far (``current`` included).
    """
    ids = eligible(pool, heard, now_s, rules, constraints, repeats=repeats)
    if current is not None:
        ids = [i for i in ids if i != current[0]]
    playing = current[0] if current is not None else None
    pinned = [i for i in dict.fromkeys(constraints.next_ids) if i in pool and i != playing]
    rest = [i for i in ids if i not in pinned]
    cur_track = current[1] if current else None
    rest = _rank(cur_track if not pinned else pool[pinned[-1]], rest, pool, weights,
                 constraints, max(1, CANDIDATES - len(pinned)))  # fmt: skip
    if not pinned and not rest:
        return []
    head = ([cur_track] if cur_track is not None else []) + [pool[i] for i in pinned]
    # The path search starts at the last fixed track (the one playing, or the last pinned).
    anchor_pos = position + len(pinned) - 1
    order = _solve_path(head[-1:], [pool[i] for i in rest], weights, arc,
                        anchor_pos if head else position, constraints, seed)  # fmt: skip
    chosen = pinned + [rest[k] for k in order]
    recent = [h.artist for h in heard]
    tail = space_artists(chosen[len(pinned):], pool, recent + [pool[i].tags.artist for i in pinned],
                         rules.artist_gap, exempt=constraints.boosted_artists)  # fmt: skip
    chosen = (pinned + tail)[:horizon]
    path = ([cur_track] if cur_track is not None else []) + [pool[i] for i in chosen]
    targets = arc.targets(position - (1 if cur_track is not None else 0), len(path),
                          constraints.energy_shift)  # fmt: skip
    transitions = explain(path, weights, targets)
    if cur_track is None:  # the opening has no transition into it
        transitions = [Transition(0, 0, 0.0, {}, "the opening track"), *transitions]
    return [Step(id=i, track=pool[i], transition=t)
            for i, t in zip(chosen, transitions, strict=True)]  # fmt: skip


def _solve_path(
    anchor: Sequence[Track], rest: Sequence[Track], weights: CostWeights, arc: ArcClock,
    start_pos: int, constraints: Constraints, seed: int,
) -> list[int]:  # fmt: skip
    """Order ``rest`` after ``anchor`` (zero or one fixed track) for the least total cost.

    ``start_pos`` is the show position of the path's first track. Returns indices
    into ``rest``.
    """
    if not rest:
        return []
    tracks = list(anchor) + list(rest)
    f = SetFeatures.from_tracks(tracks)
    targets = arc.targets(start_pos, len(tracks), constraints.energy_shift)
    order = solve(f, weights, targets, first=0 if anchor else None, seed=seed)
    return [k - len(anchor) for k in order if k >= len(anchor)]
