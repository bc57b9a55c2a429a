"""The exact optimum for small sets: Held–Karp dynamic programming, vectorised with numpy.

``dp[mask, j]`` is the cheapest path through the tracks in ``mask`` that ends
at ``j``. The position of ``j`` in that path is ``popcount(mask) - 1``, so arc
costs may depend on the position (an energy arc) at no extra cost. Time is
O(2ⁿ·n²) and memory O(2ⁿ·n): n = 12 takes milliseconds, n = 16 about a second.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from segue.errors import PlanError

FloatArray = npt.NDArray[np.float64]

#: Largest set solved exactly by default.
EXACT_MAX_N = 12
#: Refuse beyond this (memory grows as 2ⁿ).
_HARD_MAX_N = 20


def held_karp(
    cost: FloatArray,
    *,
    first: int | None = None,
    last: int | None = None,
) -> tuple[list[int], float]:
    """The cheapest open path through all ``n`` tracks.

    Parameters
    ----------
    cost
        Either ``(n, n)``: ``cost[i, j]`` of playing ``j`` right after ``i``; or
        ``(n - 1, n, n)``: ``cost[k, i, j]`` of ``i`` at position ``k`` followed by
        ``j`` at ``k + 1``. Diagonal entries are ignored.
    first, last
        Tracks pinned to the start and the end (indices), or None.

    Returns
    -------
    tuple
        The order (track indices) and its total cost. Ties go to the lower index.

    Raises
    ------
    PlanError
        For more than 20 tracks, or ``first == last`` with more than one track.

    """
    n = cost.shape[-1]
    _check(n, first, last)
    if n <= 1:
        return list(range(n)), 0.0
    dp, parent = _fill(cost, first, last)
    full = (1 << n) - 1
    ends = [last] if last is not None else list(range(n))
    end = min(ends, key=lambda j: (dp[full, j], j))
    total = float(dp[full, end])
    if not np.isfinite(total):
        raise PlanError("no order satisfies the pinned first and last tracks")
    return _backtrack(parent, end, n), total


def _check(n: int, first: int | None, last: int | None) -> None:
    if n > _HARD_MAX_N:
        raise PlanError(f"{n} tracks are too many for the exact solver (at most {_HARD_MAX_N})")
    if first is not None and first == last and n > 1:
        raise PlanError("the same track cannot be both first and last")


def _fill(cost: FloatArray, first: int | None, last: int | None
          ) -> tuple[FloatArray, npt.NDArray[np.int8]]:  # fmt: skip
    """The DP table ``dp[mask, j]`` and each entry's predecessor, layer by layer."""
    n = cost.shape[-1]
    positional = cost.ndim == 3
    size = 1 << n
    dp = np.full((size, n), np.inf)
    parent = np.full((size, n), -1, dtype=np.int8)
    starts = [first] if first is not None else [s for s in range(n) if s != last]
    for s in starts:
        dp[1 << s, s] = 0.0
    masks = np.arange(size, dtype=np.int64)
    popcount = np.zeros(size, dtype=np.int64)
    for bit in range(n):
        popcount += (masks >> bit) & 1
    for count in range(2, n + 1):
        layer = masks[popcount == count]
        step = cost[count - 2] if positional else cost
        for j in range(n):
            if j == last and count < n:
                continue
            with_j = layer[((layer >> j) & 1) == 1]
            cand = dp[with_j ^ (1 << j)] + step[:, j][None, :]
            cand[:, j] = np.inf
            best = np.argmin(cand, axis=1)
            dp[with_j, j] = cand[np.arange(len(with_j)), best]
            parent[with_j, j] = best
    return dp, parent


def _backtrack(parent: npt.NDArray[np.int8], end: int, n: int) -> list[int]:
    """The order that ends at ``end``, read back through the predecessors."""
    order = [end]
    mask = (1 << n) - 1
    while len(order) < n:
        j = order[-1]
        order.append(int(parent[mask, j]))
        mask ^= 1 << j
    order.reverse()
    return order
