"""Ordering a set: costs → solver → a :class:`Plan` whose every transition is explained.

Up to :data:`~segue.sequencing.exact.EXACT_MAX_N` tracks the order is the exact
optimum (Held–Karp); beyond, the iterated local search of
:mod:`segue.sequencing.search`. Both minimise the same total: the sum over
transitions of the weighted named terms of :mod:`segue.sequencing.costs`, with
the energy term measured against the arc at each position.

When orders tie (identical tracks, say) the one closest to the input order
wins: every arc that does not follow the input order carries
:data:`ORDER_BIAS` extra inside the solver, far below the displayed precision.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from segue.config import Settings
from segue.errors import PlanError
from segue.models import Listener, Plan, Track, Transition
from segue.sequencing.arcs import arc_scale, arc_targets, check_arc
from segue.sequencing.costs import (
    TERMS,
    CostWeights,
    describe,
    raw_terms,
    term_matrices,
    weigh,
)
from segue.sequencing.energy import energy_term
from segue.sequencing.exact import EXACT_MAX_N, held_karp
from segue.sequencing.features import SetFeatures
from segue.sequencing.preference import personal_weights

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Tie-breaker towards the input order (per arc; costs are shown to 4 decimals).
ORDER_BIAS = 1e-7
#: Wall-clock safety net of the heuristic solver.
BUDGET_S = 60.0


def weights_from_settings(settings: Settings | None = None) -> CostWeights:
    """The term weights of ``settings`` (``SEGUE_WEIGHT_<TERM>``)."""
    s = settings or Settings()
    return CostWeights.from_mapping({
        "tempo": s.weight_tempo, "key": s.weight_key, "energy": s.weight_energy,
        "timbre": s.weight_timbre, "dynamics": s.weight_dynamics, "genre": s.weight_genre,
        "same_artist": s.weight_same_artist, "same_album": s.weight_same_album,
    })  # fmt: skip


def cost_matrix(
    tracks: Sequence[Track], weights: CostWeights | None = None
) -> tuple[FloatArray, list[list[dict[str, float]]]]:
    """Full cost matrix ``m[i][j]`` (play j right after i) and its weighted terms.

    Position-free: the energy term is the plain step, as under the ``flat``
    arc (an arc makes it depend on where in the set the transition falls).
    The diagonal is 0 with empty terms.
    """
    w = weights or CostWeights()
    f = SetFeatures.from_tracks(tracks)
    mats = term_matrices(f, w)
    n = len(tracks)
    total = np.zeros((n, n))
    for m in mats.values():
        total += m
    terms = [
        [{} if i == j else {k: round(float(mats[k][i, j]), 4) for k in TERMS} for j in range(n)]
        for i in range(n)
    ]
    return total, terms


def find_track(tracks: Sequence[Track], path: str | Path) -> int:
    """Index of the track whose path is ``path`` (as given, or the same file).

    Raises
    ------
    PlanError
        When no track has that path.

    """
    wanted = str(path)
    for i, t in enumerate(tracks):
        if t.path == wanted:
            return i
    resolved = Path(wanted).expanduser().resolve()
    for i, t in enumerate(tracks):
        if Path(t.path).expanduser().resolve() == resolved:
            return i
    raise PlanError(f"{wanted}: not among the tracks to plan")


def _index(tracks: Sequence[Track], which: int | str | Path, flag: str) -> int:
    if isinstance(which, int):
        if not 0 <= which < len(tracks):
            raise PlanError(f"{flag} {which}: no such track (0..{len(tracks) - 1})")
        return which
    return find_track(tracks, which)


def plan_order(
    tracks: Sequence[Track],
    weights: CostWeights | None = None,
    *,
    arc: str | None = None,
    first: int | str | Path | None = None,
    last: int | str | Path | None = None,
    listener: Listener | None = None,
    settings: Settings | None = None,
    seed: int | None = None,
) -> Plan:
    """Order ``tracks`` for the smoothest flow and explain every transition.

    Parameters
    ----------
    tracks
        The set, in input order (ties keep this order). A path given twice is
        planned once (its later copies are dropped with a warning).
    weights
        Term weights; default: the settings' weights reweighted by the
        listener's feedback (:mod:`segue.sequencing.preference`).
    arc
        Energy arc (:data:`~segue.sequencing.arcs.ARCS`); default: the settings'.
    first, last
        A track (input index or path) pinned to the start or the end.
    listener
        Whose feedback reweights the terms (unless ``weights`` is given).
    settings
        Weights, arc and seed, as read at the edge; default: the defaults.
    seed
        Seeds the heuristic solver (default: the settings' seed).

    Raises
    ------
    PlanError
        When there is nothing to order, the arc is unknown, a pinned track is
        not in the set, or the same track is pinned first and last.

    """
    if not tracks:
        raise PlanError("no tracks to plan")
    settings = settings or Settings()
    arc = check_arc(arc or settings.arc)
    kept = _unique(tracks)
    unique = [tracks[i] for i in kept]
    i_first, i_last = (
        None if pin is None else find_track(unique, tracks[_index(tracks, pin, flag)].path)
        for pin, flag in ((first, "--first"), (last, "--last"))
    )
    if i_first is not None and i_first == i_last and len(unique) > 1:
        raise PlanError(f"{unique[i_first].path}: cannot be both the first and the last track")
    w = weights or personal_weights(listener, weights_from_settings(settings))
    f = SetFeatures.from_tracks(unique)
    targets = None if arc == "flat" else arc_targets(arc, f.energy)
    order = solve(f, w, targets, first=i_first, last=i_last,
                  seed=settings.seed if seed is None else seed)  # fmt: skip
    return _explain(unique, kept, f, w, order, arc, targets)


def solve(
    f: SetFeatures,
    w: CostWeights,
    targets: FloatArray | None,
    *,
    first: int | None = None,
    last: int | None = None,
    seed: int = 0,
    exact_max_n: int = EXACT_MAX_N,
) -> list[int]:
    """The order (input indices) minimising the total cost; exact up to ``exact_max_n``."""
    n = len(f)
    if n <= 1:
        return list(range(n))
    mats = term_matrices(f, w)
    positional = targets is not None
    w_energy = w.energy * (arc_scale(f.energy) if positional else 1.0)
    base = np.zeros((n, n))
    for name, m in mats.items():
        if not (positional and name == "energy"):
            base += m
    bias = np.full((n, n), ORDER_BIAS)
    idx = np.arange(n - 1)
    bias[idx, idx + 1] = 0.0
    base += bias
    if n <= exact_max_n:
        cost: FloatArray = base
        if targets is not None:
            e = f.energy
            cost = np.stack([
                base + w_energy * np.asarray(energy_term(e[:, None], e[None, :], targets[k],
                                                         targets[k + 1]))
                for k in range(n - 1)
            ])  # fmt: skip
        order, _ = held_karp(cost, first=first, last=last)
        return order
    from segue.sequencing.search import search_order  # numba: only for sets beyond exact

    guide = base + (mats["energy"] if positional else 0.0)
    order, _ = search_order(
        base, energy=f.energy, targets=targets, w_energy=w_energy, guide=guide,
        first=first, last=last, seed=seed, budget_s=BUDGET_S,
    )  # fmt: skip
    return order


def _unique(tracks: Sequence[Track]) -> list[int]:
    """Indices of the first track with each path."""
    seen: set[str] = set()
    out: list[int] = []
    for i, t in enumerate(tracks):
        if t.path in seen:
            log.warning("%s: listed twice, planned once", t.path)
            continue
        seen.add(t.path)
        out.append(i)
    return out


def _explain(
    tracks: Sequence[Track],
    kept: Sequence[int],
    f: SetFeatures,
    w: CostWeights,
    order: Sequence[int],
    arc: str,
    targets: FloatArray | None,
) -> Plan:
    transitions: list[Transition] = []
    a, b = np.asarray(order[:-1], dtype=np.int64), np.asarray(order[1:], dtype=np.int64)
    t_from = np.full(len(a), math.nan) if targets is None else targets[:-1]
    t_to = np.full(len(a), math.nan) if targets is None else targets[1:]
    raw = raw_terms(f, a, b, t_from=t_from, t_to=t_to,
                    energy_scale=1.0 if targets is None else arc_scale(f.energy))
    weighted = weigh(raw, w)
    for pos, (i, j) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        terms = {k: round(float(v[pos]), 4) for k, v in weighted.items()}
        reason = describe(f, i, j, t_from=float(t_from[pos]), t_to=float(t_to[pos]),
                          camelot=(tracks[i].analysis.camelot, tracks[j].analysis.camelot),
                          raw={k: float(v[pos]) for k, v in raw.items()})  # fmt: skip
        transitions.append(Transition(from_pos=pos, to_pos=pos + 1,
                                      cost=round(sum(terms.values()), 4), terms=terms,
                                      reason=reason))  # fmt: skip
    total = round(float(sum(t.cost for t in transitions)), 4)
    log.info("planned %d tracks (%s arc), total cost %.3f", len(order), arc, total)
    return Plan(
        tracks=tuple(tracks[i] for i in order),
        transitions=tuple(transitions),
        total_cost=total,
        order=tuple(kept[i] for i in order),
        arc=arc,
        target_energy=() if targets is None else tuple(round(float(x), 4) for x in targets),
        weights=w.as_dict(),
    )

