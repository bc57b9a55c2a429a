"""Ordering a set: nearest-neighbour from every start, then 2-opt/Or-opt improvement.

Costs are asymmetric (energy rising is cheaper than falling), so segment
reversals are re-evaluated in full; the set is small enough that this is cheap.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from segue.errors import PlanError
from segue.models import Plan, Track, Transition
from segue.sequencing.costs import CostWeights, describe, transition_terms

log = logging.getLogger(__name__)


def cost_matrix(
    tracks: Sequence[Track], weights: CostWeights | None = None
) -> tuple[npt.NDArray[np.float64], list[list[dict[str, float]]]]:
    """Full asymmetric cost matrix ``m[i][j]`` (play j right after i) and its terms."""
    w = weights or CostWeights()
    n = len(tracks)
    matrix = np.zeros((n, n))
    terms: list[list[dict[str, float]]] = [[{} for _ in range(n)] for _ in range(n)]
    for i, j in itertools.permutations(range(n), 2):
        a, b = tracks[i], tracks[j]
        known = not a.tags.artist.startswith("Unknown")
        same = known and a.tags.artist.casefold() == b.tags.artist.casefold()
        t = transition_terms(a.analysis, b.analysis, same_artist=same, weights=w)
        terms[i][j] = t
        matrix[i, j] = sum(t.values())
    return matrix, terms


def _path_cost(order: Sequence[int], m: npt.NDArray[np.float64]) -> float:
    return float(sum(m[a, b] for a, b in itertools.pairwise(order)))


def _nearest_neighbour(start: int, m: npt.NDArray[np.float64]) -> list[int]:
    n = len(m)
    order, left = [start], set(range(n)) - {start}
    while left:
        here = order[-1]
        nxt = min(sorted(left), key=lambda j: m[here, j])
        order.append(nxt)
        left.remove(nxt)
    return order


def _improve(order: list[int], m: npt.NDArray[np.float64], deadline: float) -> list[int]:
    """Apply improving segment reversals and single-track moves until none helps.

    Stops early at ``deadline`` (a ``time.monotonic()`` value) so large sets stay fast.
    """
    best, best_cost = order, _path_cost(order, m)
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        n = len(best)
        candidates: list[list[int]] = []
        for i in range(n - 1):
            for j in range(i + 2, n + 1):
                candidates.append(best[:i] + best[i:j][::-1] + best[j:])
        for i in range(n):
            rest = best[:i] + best[i + 1 :]
            for j in range(n):
                if j != i:
                    candidates.append([*rest[:j], best[i], *rest[j:]])
        for cand in candidates:
            c = _path_cost(cand, m)
            if c < best_cost - 1e-9:
                best, best_cost, improved = cand, c, True
                break
    return best


def solve_order(m: npt.NDArray[np.float64], *, budget_s: float = 2.0) -> list[int]:
    """A low-cost open path through all tracks.

    Deterministic for sets that finish within ``budget_s``; larger sets get the
    best order found in that time.
    """
    deadline = time.monotonic() + budget_s
    n = len(m)
    if n <= 1:
        return list(range(n))
    best: list[int] | None = None
    best_cost = float("inf")
    for start in range(n):
        order = _improve(_nearest_neighbour(start, m), m, deadline)
        c = _path_cost(order, m)
        if c < best_cost - 1e-9:
            best, best_cost = order, c
    assert best is not None
    return best


def plan_order(tracks: Sequence[Track], weights: CostWeights | None = None) -> Plan:
    """Order ``tracks`` for smooth flow and explain every transition.

    Raises
    ------
    PlanError
        When there is nothing to order.

    """
    if not tracks:
        raise PlanError("no tracks to plan")
    m, terms = cost_matrix(tracks, weights)
    order = solve_order(m)
    ordered = tuple(tracks[i] for i in order)
    transitions = tuple(
        Transition(
            from_pos=pos,
            to_pos=pos + 1,
            cost=round(float(m[a, b]), 4),
            terms=terms[a][b],
            reason=describe(tracks[a].analysis, tracks[b].analysis, terms[a][b]),
        )
        for pos, (a, b) in enumerate(itertools.pairwise(order))
    )
    total = round(sum(t.cost for t in transitions), 4)
    log.info("planned %d tracks, total cost %.3f", len(ordered), total)
    return Plan(tracks=ordered, transitions=transitions, total_cost=total)
