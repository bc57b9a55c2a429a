"""A strong heuristic for large sets: a construction, then iterated local search.

The order is an open path ``p`` (``p[k]`` is the track at position ``k``). An
arc's cost is ``base[a, b]`` plus, when an energy arc is set, ``w_energy *
energy_term(e[a], e[b], t[k], t[k + 1])``: the energy term depends on the
*position* ``k``, and costs are asymmetric. Every move is therefore evaluated
exactly: base costs in O(1) (prefix sums of the path's forward and backward
arcs make a segment reversal O(1) too), energy terms by walking the positions
the move shifts (so moves cost more with an arc).

Construction: without an arc, the best nearest-neighbour path from a few
starts; with one, tracks placed by energy rank on the arc's target ranks. The
tracks are then renumbered in that order, so neighbours sit close in memory.

Local search (:func:`_local_search`): moves tried from a track's nearest
successors and predecessors (:data:`NEIGHBOURS` by cost) with the
positive-gain criterion and don't-look bits: Or-opt (1-3 tracks moved, as they
are or reversed), segment insertion (any length, the asymmetric 3-opt move) and
2-opt reversals; the first improving move is applied.

Iterated local search then kicks the current path with a random *segment
swap* (``A B C D → A C B D``, the path form of the double bridge, which keeps
every segment's direction) of short adjacent segments, re-optimises locally and
keeps the result when it is no worse; after a long run without improvement it
restarts from a triple kick. Randomness is a seeded xorshift generator and the
number of kicks is fixed (:data:`KICKS_PER_TRACK`), so a given seed gives the
same order on any machine; the wall-clock budget is only a safety net.

Compiled with numba (a dependency of librosa) and cached on disk: only the very
first run in an environment pays for compilation (about 20 s).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numba
import numpy as np
import numpy.typing as npt

from segue.sequencing.energy import ENERGY_DEAD_ZONE, ENERGY_DROP_COST, ENERGY_RISE_COST

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Candidate successors/predecessors per track.
NEIGHBOURS = 8
#: Near arcs tried to place a moved segment's far end (and the tracks it is moved beside).
END_NEIGHBOURS = 4
#: Kicks of the iterated local search per track (n = 1000: 18 000 kicks); with an energy
#: arc moves cost more to evaluate and the search settles sooner, so fewer.
KICKS_PER_TRACK = 18
KICKS_PER_TRACK_ARC = 3
MIN_KICKS = 2000
MIN_KICKS_ARC = 600
#: Up to this many tracks every neighbour is tried (no positive-gain pruning).
FULL_SCAN_N = 25
#: Kicks per track (at least MIN_RESTART_KICKS) without improvement before a restart.
RESTART_KICKS = 20
MIN_RESTART_KICKS = 200
#: Longest segment a kick swaps.
KICK_SEGMENT = 12
#: Kicks per compiled call; the wall clock is checked between calls.
_CHUNK = 1000
_EPS = 1e-10


# --------------------------------------------------------------------------- costs


@numba.njit(cache=True, inline="always")
def energy_term(e_from: float, e_to: float, t_from: float, t_to: float) -> float:
    """The energy term of :func:`segue.sequencing.energy.energy_term`, compiled for the kernels.

    The same formula on scalars (a test checks the two agree to the last bit), so the
    solver and the explanation compute the very same number.
    """
    arc = not (math.isnan(t_from) or math.isnan(t_to))
    cost = 0.0
    if not (math.isnan(e_from) or math.isnan(e_to)):
        planned = t_to - t_from if arc else 0.0
        err = (e_to - e_from) - planned
        if err > ENERGY_DEAD_ZONE:
            cost += ENERGY_RISE_COST * (err - ENERGY_DEAD_ZONE)
        elif err < -ENERGY_DEAD_ZONE:
            cost += ENERGY_DROP_COST * (-err - ENERGY_DEAD_ZONE)
    if arc:
        if not math.isnan(e_from):
            cost += 0.5 * abs(e_from - t_from)
        if not math.isnan(e_to):
            cost += 0.5 * abs(e_to - t_to)
    return cost


@numba.njit(cache=True, inline="always")
def _base(base: FloatArray, a: int, b: int) -> float:
    if a < 0 or b < 0:
        return 0.0
    return float(base[a, b])


@numba.njit(cache=True, inline="always")
def _arc_at(fwd: FloatArray, k: int, n: int) -> float:
    """Base cost of the path's arc from position k (0 before the start or after the end)."""
    if k < 0 or k >= n - 1:
        return 0.0
    return float(fwd[k + 1] - fwd[k])


@numba.njit(cache=True)
def _path_cost(
    p: IntArray, base: FloatArray, e: FloatArray, t: FloatArray, w_energy: float
) -> float:
    total = 0.0
    positional = len(t) > 0
    for k in range(len(p) - 1):
        total += base[p[k], p[k + 1]]
        if positional:
            total += w_energy * energy_term(e[p[k]], e[p[k + 1]], t[k], t[k + 1])
    return total


def path_cost(
    order: IntArray, base: FloatArray, energy: FloatArray, targets: FloatArray, w_energy: float
) -> float:
    """Total cost of ``order``: base arcs plus, when ``targets`` is not empty, arc energy."""
    return float(_path_cost(np.asarray(order, dtype=np.int64), base, energy, targets, w_energy))


@numba.njit(cache=True)
def _window_energy(
    p: IntArray, buf: IntArray, lo: int, hi: int, e: FloatArray, t: FloatArray
) -> float:
    """Energy of the arcs touching positions lo..hi if ``buf`` held those positions."""
    n = len(p)
    s = 0.0
    for k in range(max(lo - 1, 0), min(hi, n - 2) + 1):
        a = buf[k - lo] if lo <= k <= hi else p[k]
        b = buf[k + 1 - lo] if lo <= k + 1 <= hi else p[k + 1]
        s += energy_term(e[a], e[b], t[k], t[k + 1])
    return s


@numba.njit(cache=True)
def _prefix(
    p: IntArray, base: FloatArray, e: FloatArray, t: FloatArray,
    fwd: FloatArray, bwd: FloatArray, ecum: FloatArray, lo: int,
) -> None:  # fmt: skip
    """Prefix sums over the path's arcs, recomputed from the arc into position ``lo`` on.

    ``fwd[k]`` / ``bwd[k]``: base costs of arcs 0..k-1 walked forward / backward;
    ``ecum[k]``: their energy terms at their positions (when there is an arc).
    """
    positional = len(t) > 0
    start = max(lo - 1, 0)
    if start == 0:
        fwd[0] = bwd[0] = ecum[0] = 0.0
    for k in range(start, len(p) - 1):
        fwd[k + 1] = fwd[k] + base[p[k], p[k + 1]]
        bwd[k + 1] = bwd[k] + base[p[k + 1], p[k]]
        if positional:
            ecum[k + 1] = ecum[k] + energy_term(e[p[k]], e[p[k + 1]], t[k], t[k + 1])


# --------------------------------------------------------------------------- moves


@numba.njit(cache=True)
def _fill_oropt(p: IntArray, buf: IntArray, i: int, seg: int, g: int, rev: bool) -> int:
    """Write the new content of the window of an Or-opt move into ``buf``; return its start."""
    m = 0
    if g >= i + seg:  # forward: p[i+seg..g], then the segment
        for k in range(i + seg, g + 1):
            buf[m] = p[k]
            m += 1
    for q in range(seg):
        buf[m] = p[i + seg - 1 - q] if rev else p[i + q]
        m += 1
    if g < i:  # backward: the segment, then p[g+1..i-1]
        for k in range(g + 1, i):
            buf[m] = p[k]
            m += 1
        return g + 1
    return i


@numba.njit(cache=True, inline="always")
def _delta_oropt(
    p: IntArray, base: FloatArray, fwd: FloatArray, bwd: FloatArray,
    i: int, seg: int, g: int, rev: bool,
) -> float:  # fmt: skip
    """Base-cost change of moving p[i..i+seg-1] to just after position g (g = -1: front)."""
    n = len(p)
    a = p[i - 1] if i > 0 else -1
    b = p[i + seg] if i + seg < n else -1
    x = p[g] if g >= 0 else -1
    y = p[g + 1] if g + 1 < n else -1
    s1, s2 = p[i], p[i + seg - 1]
    head, tail = (s2, s1) if rev else (s1, s2)
    # The three arcs removed are on the path: their costs come from the prefix sums.
    d = -_arc_at(fwd, i - 1, n) - _arc_at(fwd, i + seg - 1, n) - _arc_at(fwd, g, n)
    d += _base(base, a, b) + _base(base, x, head) + _base(base, tail, y)
    if rev:
        d += float(bwd[i + seg - 1] - bwd[i]) - float(fwd[i + seg - 1] - fwd[i])
    return d


@numba.njit(cache=True, inline="always")
def _delta_reverse(
    p: IntArray, base: FloatArray, fwd: FloatArray, bwd: FloatArray, i: int, j: int
) -> float:
    """Base-cost change of reversing p[i..j]."""
    n = len(p)
    a = p[i - 1] if i > 0 else -1
    b = p[j + 1] if j + 1 < n else -1
    d = -_arc_at(fwd, i - 1, n) - _arc_at(fwd, j, n) + _base(base, a, p[j]) + _base(base, p[i], b)
    return d + float(bwd[j] - bwd[i]) - float(fwd[j] - fwd[i])


@numba.njit(cache=True, inline="always")
def _window(kind: int, i: int, x: int, g: int) -> tuple[int, int]:
    """Positions a move rewrites: kind 1 moves p[i..i+x-1] after g, kind 2 reverses p[i..x]."""
    if kind == 2:
        return i, x
    return min(g + 1, i), max(g, i + x - 1)


@numba.njit(cache=True)
def _fill(p: IntArray, buf: IntArray, kind: int, i: int, x: int, g: int, rev: bool) -> None:
    if kind == 1:
        _fill_oropt(p, buf, i, x, g, rev)
    else:
        for k in range(i, x + 1):
            buf[k - i] = p[x - (k - i)]


@numba.njit(cache=True, inline="always")
def _delta(
    p: IntArray, base: FloatArray, e: FloatArray, t: FloatArray, w_energy: float,
    fwd: FloatArray, bwd: FloatArray, ecum: FloatArray, buf: IntArray,
    kind: int, i: int, x: int, g: int, rev: bool, best: float,
) -> float:  # fmt: skip
    """Exact cost change of a move, or +inf when it cannot beat ``best``.

    The base part is O(1). With an arc, the energy of the rewritten window is
    recomputed, unless even losing all of its current energy cost (a lower
    bound, energy terms are never negative) could not beat ``best``.
    """
    if kind == 1:
        d = _delta_oropt(p, base, fwd, bwd, i, x, g, rev)
    else:
        d = _delta_reverse(p, base, fwd, bwd, i, x)
    if len(t) == 0:
        return d
    n = len(p)
    lo, hi = _window(kind, i, x, g)
    old = w_energy * float(ecum[min(hi, n - 2) + 1] - ecum[max(lo - 1, 0)])
    if d - old >= best:
        return np.inf
    _fill(p, buf, kind, i, x, g, rev)
    return d + w_energy * _window_energy(p, buf, lo, hi, e, t) - old


@numba.njit(cache=True)
def _push(queue: IntArray, queued: npt.NDArray[np.bool_], state: IntArray, v: int) -> None:
    """Mark ``v`` active (state: [head, size] of the circular queue)."""
    if v < 0 or queued[v]:
        return
    n = len(queue)
    queue[(state[0] + state[1]) % n] = v
    state[1] += 1
    queued[v] = True


@numba.njit(cache=True)
def _try(
    p: IntArray, base: FloatArray, e: FloatArray, t: FloatArray, w_energy: float,
    fwd: FloatArray, bwd: FloatArray, ecum: FloatArray, buf: IntArray,
    lo_free: int, hi_free: int, kind: int, i: int, x: int, g: int, rev: bool,
    best: FloatArray, move: IntArray,
) -> None:  # fmt: skip
    """Evaluate a move if it is valid; keep it in ``best``/``move`` if it is the best yet.

    kind 1 moves p[i..i+x-1] to just after position g (reversed if ``rev``);
    kind 2 reverses p[i..x]. Positions outside [lo_free, hi_free] stay put.
    """
    if kind == 1:
        if x < 1 or i < lo_free or i + x - 1 > hi_free or (rev and x == 1):
            return
        if i - 1 <= g <= i + x - 1 or g + 1 < lo_free or g > hi_free:
            return
    elif x <= i or i < lo_free or x > hi_free:
        return
    d = _delta(p, base, e, t, w_energy, fwd, bwd, ecum, buf, kind, i, x, g, rev, best[0])
    if d < best[0]:
        best[0] = d
        move[0], move[1], move[2], move[3], move[4] = kind, i, x, g, 1 if rev else 0


@numba.njit(cache=True, inline="always")
def _pop(queue: IntArray, queued: npt.NDArray[np.bool_], state: IntArray) -> int:
    """Take the next active track off the circular queue (state: [head, size])."""
    v = queue[state[0]]
    state[0] = (state[0] + 1) % len(queue)
    state[1] -= 1
    queued[v] = False
    return int(v)


@numba.njit(cache=True, inline="always")
def _free_end(pos: IntArray, near: IntArray, track: int, lst: int, offset: int, fixed_at: int,
              r: int, missing: int) -> int:  # fmt: skip
    """Where a moved segment's free end is.

    ``fixed_at`` for a fixed length (``r`` < 3), else the position (plus ``offset``)
    of ``track``'s ``lst``-th near neighbour (``missing`` when there is no track).
    """
    if r < 3:
        return fixed_at
    return pos[near[track, lst]] + offset if track >= 0 else missing


@numba.njit(cache=True, inline="always")
def _between_move(pos: IntArray, cand_out: IntArray, cand_in: IntArray, s1: int, s2: int,
                  r: int, k_end: int) -> tuple[int, bool]:  # fmt: skip
    """Where the tracks s1..s2 between ``c`` and ``v`` go: (after-position, reversed)."""
    lst = r % k_end
    quarter = r // k_end
    if quarter == 0:
        return pos[cand_in[s1, lst]], False
    if quarter == 1:
        return pos[cand_out[s2, lst]] - 1, False
    if quarter == 2:
        return pos[cand_in[s2, lst]], True
    return pos[cand_out[s1, lst]] - 1, True


@numba.njit(cache=True, inline="always")
def _moves_for_arc(
    p: IntArray, pos: IntArray, base: FloatArray, e: FloatArray, t: FloatArray,
    w_energy: float, cand_out: IntArray, cand_in: IntArray, lo_free: int, hi_free: int,
    fwd: FloatArray, bwd: FloatArray, ecum: FloatArray, buf: IntArray, side: int, v: int,
    c: int, best: FloatArray, move: IntArray,
) -> None:  # fmt: skip
    """Try the moves that create the arc ``c → v`` (side 0) or ``v → c`` (side 1).

    The best improving one is left in ``best``/``move``: the segment moves stop at
    the first length that improves, the moves of the tracks in between and the
    reversals are always tried.
    """
    n = len(p)
    k_end = min(cand_out.shape[1], END_NEIGHBOURS)
    pv, pc = pos[v], pos[c]
    before = p[pv - 1] if pv > 0 else -1
    after = p[pv + 1] if pv + 1 < n else -1
    c_before = p[pc - 1] if pc > 0 else -1
    c_after = p[pc + 1] if pc + 1 < n else -1
    for r in range(3 + 2 * k_end):
        lst = (r - 3) % k_end
        first = r < 3 + k_end  # near arcs around v first, then around c
        if side == 0:
            # p[pv..j] after c; p[i..pv] reversed after c; p[i..pc] before v; p[pc..j]
            # reversed before v.
            j = _free_end(pos, cand_out if first else cand_in, before if first else c_after,
                          lst, -1 if first else 0, pv + r, r, -9)
            _try(p, base, e, t, w_energy, fwd, bwd, ecum, buf, lo_free, hi_free, 1, pv,
                 j - pv + 1, pc, False, best, move)
            i = _free_end(pos, cand_in, after if first else c_after, lst, 1 if first else 0,
                          pv - r, r, n + 9)
            _try(p, base, e, t, w_energy, fwd, bwd, ecum, buf, lo_free, hi_free, 1, i,
                 pv - i + 1, pc, True, best, move)
            i = _free_end(pos, cand_out if first else cand_in, before if first else c_after,
                          lst, 0 if first else 1, pc - r, r, n + 9)
            _try(p, base, e, t, w_energy, fwd, bwd, ecum, buf, lo_free, hi_free, 1, i,
                 pc - i + 1, pv - 1, False, best, move)
            j = _free_end(pos, cand_out, before if first else c_before, lst, 0 if first else -1,
                          pc + r, r, -9)
            _try(p, base, e, t, w_energy, fwd, bwd, ecum, buf, lo_free, hi_free, 1, pc,
                 j - pc + 1, pv - 1, True, best, move)
        else:
            # p[i..pv] before c; p[pv..j] reversed before c; p[pc..j] after v; p[i..pc]
            # reversed after v.
            i = _free_end(pos, cand_in if first else cand_out, after if first else c_before,
                          lst, 1 if first else 0, pv - r, r, n + 9)
            _try(p, base, e, t, w_energy, fwd, bwd, ecum, buf, lo_free, hi_free, 1, i,
                 pv - i + 1, pc - 1, False, best, move)
            j = _free_end(pos, cand_out, before if first else c_before, lst, -1 if first else 0,
                          pv + r, r, -9)
            _try(p, base, e, t, w_energy, fwd, bwd, ecum, buf, lo_free, hi_free, 1, pv,
                 j - pv + 1, pc - 1, True, best, move)
            j = _free_end(pos, cand_in if first else cand_out, after if first else c_before,
                          lst, 0 if first else -1, pc + r, r, -9)
            _try(p, base, e, t, w_energy, fwd, bwd, ecum, buf, lo_free, hi_free, 1, pc,
                 j - pc + 1, pv, False, best, move)
            i = _free_end(pos, cand_in, after if first else c_after, lst, 0 if first else 1,
                          pc - r, r, n + 9)
            _try(p, base, e, t, w_energy, fwd, bwd, ecum, buf, lo_free, hi_free, 1, i,
                 pc - i + 1, pv, True, best, move)
        if move[0] != 0:
            break  # the other moves below still compete with it
    # The tracks between c and v (or v and c) moved elsewhere, so c and v meet.
    lo_s, hi_s = (pc + 1, pv - 1) if side == 0 else (pv + 1, pc - 1)
    if lo_s <= hi_s:
        for r in range(4 * k_end):
            g, rev = _between_move(pos, cand_out, cand_in, p[lo_s], p[hi_s], r, k_end)
            _try(p, base, e, t, w_energy, fwd, bwd, ecum, buf, lo_free, hi_free,
                 1, lo_s, hi_s - lo_s + 1, g, rev, best, move)
    # 2-opt: a reversal that makes the arc.
    lo, hi = (pc, pv) if side == 0 else (pv, pc)
    if lo < hi:
        _try(p, base, e, t, w_energy, fwd, bwd, ecum, buf, lo_free, hi_free,
             2, lo + 1, hi, 0, False, best, move)
        _try(p, base, e, t, w_energy, fwd, bwd, ecum, buf, lo_free, hi_free,
             2, lo, hi - 1, 0, False, best, move)


@numba.njit(cache=True)
def _apply(
    p: IntArray, pos: IntArray, base: FloatArray, e: FloatArray, t: FloatArray,
    fwd: FloatArray, bwd: FloatArray, ecum: FloatArray, queue: IntArray,
    queued: npt.NDArray[np.bool_], state: IntArray, buf: IntArray, v: int, move: IntArray,
) -> None:  # fmt: skip
    """Apply ``move``, update the prefix sums and re-activate the tracks at its seams."""
    n = len(p)
    kind, bi, bx, bg, brev = move[0], move[1], move[2], move[3], move[4] == 1
    lo, hi = _window(kind, bi, bx, bg)
    _fill(p, buf, kind, bi, bx, bg, brev)
    for k in range(lo, hi + 1):
        p[k] = buf[k - lo]
        pos[p[k]] = k
    _prefix(p, base, e, t, fwd, bwd, ecum, lo)
    _push(queue, queued, state, v)
    # The window's borders and, for a moved segment, its other end.
    for k in (lo - 1, lo, hi, hi + 1):
        if 0 <= k < n:
            _push(queue, queued, state, p[k])
    if kind == 1:
        ends = (bg - bx, bg - bx + 1) if bg > bi else (bg + bx, bg + bx + 1)
        for k in ends:
            if 0 <= k < n:
                _push(queue, queued, state, p[k])


@numba.njit(cache=True)
def _local_search(
    p: IntArray, pos: IntArray, base: FloatArray, e: FloatArray, t: FloatArray,
    w_energy: float, guide: FloatArray, cand_out: IntArray, cand_in: IntArray,
    lo_free: int, hi_free: int, fwd: FloatArray, bwd: FloatArray, ecum: FloatArray,
    queue: IntArray, queued: npt.NDArray[np.bool_], state: IntArray, buf: IntArray,
    prune: bool,
) -> None:  # fmt: skip
    """Improve ``p`` in place until no active track has an improving move.

    Every move tried from an active track ``v`` gives ``v`` a new arc to a
    near neighbour ``c`` that is cheaper (by ``guide``) than the arc it
    replaces at ``v``: the positive-gain criterion of Lin and Kernighan (an
    improving move has an end where this holds, and every end of an applied
    move is re-activated). With the new arc ``c → v`` (and symmetrically
    ``v → c``), the moves (:func:`_moves_for_arc`) are:

    - a segment starting at ``v`` moved after ``c``; one ending at ``v`` moved there reversed;
    - a segment ending at ``c`` moved before ``v``; one starting at ``c`` moved there reversed;
    - the tracks between ``c`` and ``v`` moved elsewhere, as they are or reversed;
    - a reversal (2-opt) that makes the arc.

    Segments are 1-3 tracks long (Or-opt) or end where the gap they leave, or
    their new seam, is closed by a near arc (segment insertion, the asymmetric
    3-opt move). The first improving move found is applied (first improvement
    beat best improvement on the benchmark). With ``prune`` False every
    neighbour is tried (small sets, where it is cheap).
    """
    n = len(p)
    best = np.empty(1)
    move = np.zeros(5, dtype=np.int64)
    while state[1] > 0:
        v = _pop(queue, queued, state)
        pv = pos[v]
        if pv < lo_free or pv > hi_free:
            continue
        before = p[pv - 1] if pv > 0 else -1
        after = p[pv + 1] if pv + 1 < n else -1
        # What v's current arcs cost; a path end has none and prunes nothing.
        limits = (guide[before, v] if before >= 0 and prune else np.inf,
                  guide[v, after] if after >= 0 and prune else np.inf)
        best[0] = -_EPS
        move[0] = 0
        for side in range(2):
            for q in range(cand_out.shape[1]):
                c = cand_in[v, q] if side == 0 else cand_out[v, q]
                if (guide[c, v] if side == 0 else guide[v, c]) >= limits[side]:
                    break
                _moves_for_arc(p, pos, base, e, t, w_energy, cand_out, cand_in, lo_free,
                               hi_free, fwd, bwd, ecum, buf, side, v, c, best, move)
                if move[0] != 0:
                    break
            if move[0] != 0:
                break
        if move[0] != 0:
            _apply(p, pos, base, e, t, fwd, bwd, ecum, queue, queued, state, buf, v, move)


# --------------------------------------------------------------------------- construction


@numba.njit(cache=True)
def _nearest_neighbour(
    start: int, last: int, base: FloatArray, e: FloatArray, t: FloatArray, w_energy: float
) -> IntArray:
    """Greedy path from ``start``; ``last`` (if ≥ 0) is kept for the end."""
    n = base.shape[0]
    used = np.zeros(n, dtype=np.bool_)
    p = np.empty(n, dtype=np.int64)
    p[0] = start
    used[start] = True
    positional = len(t) > 0
    for k in range(1, n):
        here = p[k - 1]
        best, arg = np.inf, -1
        for j in range(n):
            if used[j] or (j == last and k < n - 1):
                continue
            c = base[here, j]
            if positional:
                c += w_energy * energy_term(e[here], e[j], t[k - 1], t[k])
            if c < best:
                best, arg = c, j
        p[k] = arg
        used[arg] = True
    return p


# --------------------------------------------------------------------------- iterated search


@numba.njit(cache=True)
def _rand(rng: npt.NDArray[np.uint64], bound: int) -> int:
    """xorshift64*: a uniform integer in [0, bound)."""
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    r = (x * np.uint64(2685821657736338717)) >> np.uint64(11)
    return int(r % np.uint64(bound))


@numba.njit(cache=True)
def _kick(
    p: IntArray, pos: IntArray, buf: IntArray, rng: npt.NDArray[np.uint64],
    lo_free: int, free: int, kick_segment: int,
) -> tuple[int, int, int]:  # fmt: skip
    """Swap two adjacent random segments (A B C D → A C B D); return (start, len2, end)."""
    max_len = max(1, min(kick_segment, free // 2))
    l1 = 1 + _rand(rng, max_len)
    l2 = 1 + _rand(rng, max_len)
    if l1 + l2 > free:
        l1, l2 = 1, 1
    i = lo_free + _rand(rng, free - l1 - l2 + 1)
    for q in range(l2):
        buf[q] = p[i + l1 + q]
    for q in range(l1):
        buf[l2 + q] = p[i + q]
    hi = i + l1 + l2 - 1
    for k in range(i, hi + 1):
        p[k] = buf[k - i]
        pos[p[k]] = k
    return i, l2, hi


@numba.njit(cache=True)
def _iterate(
    p: IntArray, best_p: IntArray, base: FloatArray, e: FloatArray, t: FloatArray,
    w_energy: float, guide: FloatArray, cand_out: IntArray, cand_in: IntArray,
    lo_free: int, hi_free: int, kicks: int, kick_segment: int, rng: npt.NDArray[np.uint64],
    costs: FloatArray, prune: bool,
) -> None:  # fmt: skip
    """Run ``kicks`` kicks of iterated local search from ``p`` (the current path).

    ``costs`` holds [current cost, best cost, kicks since the current path last
    improved]; ``best_p`` the best path found. After :data:`RESTART_KICKS` per
    track (at least :data:`MIN_RESTART_KICKS`) without improvement, the current
    path takes three kicks at once and is kept whatever it costs: a way out of
    a basin that single kicks cannot leave.
    """
    n = len(p)
    pos = np.empty(n, dtype=np.int64)
    for k in range(n):
        pos[p[k]] = k
    fwd = np.zeros(n)
    bwd = np.zeros(n)
    ecum = np.zeros(n)
    _prefix(p, base, e, t, fwd, bwd, ecum, 0)
    queue = np.empty(n, dtype=np.int64)
    queued = np.zeros(n, dtype=np.bool_)
    state = np.zeros(2, dtype=np.int64)
    buf = np.empty(n, dtype=np.int64)
    saved = p.copy()
    free = hi_free - lo_free + 1
    if costs[0] == np.inf:  # first call: a local optimum to start from
        for k in range(n):
            _push(queue, queued, state, p[k])
        _local_search(p, pos, base, e, t, w_energy, guide, cand_out, cand_in, lo_free, hi_free,
                      fwd, bwd, ecum, queue, queued, state, buf, prune)
        costs[0] = _path_cost(p, base, e, t, w_energy)
        if costs[0] < costs[1]:
            costs[1] = costs[0]
            best_p[:] = p
    if free < 3:
        return
    restart_after = max(MIN_RESTART_KICKS, RESTART_KICKS * n)
    for _ in range(kicks):
        saved[:] = p
        restart = costs[2] >= restart_after
        for _k in range(3 if restart else 1):
            i, l2, hi = _kick(p, pos, buf, rng, lo_free, free, kick_segment)
            _prefix(p, base, e, t, fwd, bwd, ecum, i)
            for k in (i - 1, i, i + l2 - 1, i + l2, hi, hi + 1):
                if 0 <= k < n:
                    _push(queue, queued, state, p[k])
        _local_search(p, pos, base, e, t, w_energy, guide, cand_out, cand_in, lo_free, hi_free,
                      fwd, bwd, ecum, queue, queued, state, buf, prune)
        c = _path_cost(p, base, e, t, w_energy)
        costs[2] = 0.0 if c < costs[0] - _EPS or restart else costs[2] + 1.0
        if c <= costs[0] + _EPS or restart:
            costs[0] = c
            if c < costs[1] - _EPS:
                costs[1] = c
                best_p[:] = p
        else:
            p[:] = saved
            for k in range(n):
                pos[p[k]] = k
            _prefix(p, base, e, t, fwd, bwd, ecum, 0)


# --------------------------------------------------------------------------- entry point


def neighbour_lists(guide: FloatArray, k: int = NEIGHBOURS) -> tuple[IntArray, IntArray]:
    """The ``k`` cheapest successors (``guide[i, :]``) and predecessors (``guide[:, i]``)."""
    n = guide.shape[0]
    k = max(1, min(k, n - 1))
    g = guide.copy()
    np.fill_diagonal(g, np.inf)
    out = np.argsort(g, axis=1, kind="stable")[:, :k]
    inn = np.argsort(g.T, axis=1, kind="stable")[:, :k]
    return out.astype(np.int64), inn.astype(np.int64)


def search_order(
    base: FloatArray,
    *,
    energy: FloatArray | None = None,
    targets: FloatArray | None = None,
    w_energy: float = 0.0,
    guide: FloatArray | None = None,
    first: int | None = None,
    last: int | None = None,
    seed: int = 0,
    kicks: int | None = None,
    budget_s: float = 30.0,
    neighbours: int = NEIGHBOURS,
    kick_segment: int = KICK_SEGMENT,
) -> tuple[list[int], float]:
    """A near-optimal open path through all tracks.

    Parameters
    ----------
    base
        ``(n, n)`` position-independent arc costs (``base[i, j]``: ``j`` after ``i``).
    energy, targets, w_energy
        Track energies (NaN unknown), the arc's target at each position and the
        energy weight; with ``targets`` None the cost is ``base`` alone.
    guide
        The costs that rank neighbours (default ``base``).
    first, last
        Tracks pinned to the start and end.
    seed
        Seeds the kicks; the same seed gives the same order.
    kicks
        Kicks of the iterated local search (default :data:`KICKS_PER_TRACK` per
        track, at least :data:`MIN_KICKS`; with an arc :data:`KICKS_PER_TRACK_ARC`,
        at least :data:`MIN_KICKS_ARC`).
    budget_s
        Wall-clock safety net: stop kicking after this long (the order is then
        machine-dependent; a warning is logged).

    Returns
    -------
    tuple
        The order and its total cost.

    """
    n = base.shape[0]
    if n <= 1:
        return list(range(n)), 0.0
    base = np.ascontiguousarray(base, dtype=np.float64)
    e = np.zeros(n) if energy is None else np.ascontiguousarray(energy, dtype=np.float64)
    t = np.zeros(0) if targets is None else np.ascontiguousarray(targets, dtype=np.float64)
    last_i = -1 if last is None else last
    perm = _construct(base, e, t, w_energy, first, last_i)
    # Renumber the tracks in that order: tracks near in the path get near indices, so
    # the search reads nearby memory (several times faster for large sets).
    base_r = np.ascontiguousarray(base[np.ix_(perm, perm)])
    guide_r = base_r if guide is None else np.ascontiguousarray(guide[np.ix_(perm, perm)])
    e_r = np.ascontiguousarray(e[perm])
    cand_out, cand_in = neighbour_lists(guide_r, neighbours)
    per_track, least = (KICKS_PER_TRACK_ARC, MIN_KICKS_ARC) if len(t) else (KICKS_PER_TRACK,
                                                                              MIN_KICKS)
    total_kicks = kicks if kicks is not None else max(least, per_track * n)
    rng = np.array([0x9E3779B97F4A7C15 ^ (seed & 0xFFFFFFFF)], dtype=np.uint64)
    p = np.arange(n, dtype=np.int64)
    best_p = p.copy()
    costs = np.array([np.inf, _path_cost(perm, base, e, t, w_energy), 0.0])
    lo_free, hi_free = (1 if first is not None else 0, n - 2 if last is not None else n - 1)

    def run(count: int) -> None:
        _iterate(p, best_p, base_r, e_r, t, w_energy, guide_r, cand_out, cand_in, lo_free,
                 hi_free, count, kick_segment, rng, costs, n > FULL_SCAN_N)  # fmt: skip

    run(0)  # the first local optimum (and, on a first run, the compilation)
    _kick_for(run, total_kicks, budget_s)
    order = perm[best_p]
    return [int(v) for v in order], float(_path_cost(order, base, e, t, w_energy))


def _kick_for(run: Callable[[int], None], total_kicks: int, budget_s: float) -> None:
    """Run ``total_kicks`` kicks in chunks, stopping early only at the wall-clock budget."""
    started = time.monotonic()  # the budget guards the kicks, not the compiler
    done = 0
    while done < total_kicks:
        if time.monotonic() - started > budget_s:
            log.warning("sequencing stopped after %d of %d kicks (%.0f s budget): the order "
                        "may differ between machines", done, total_kicks, budget_s)  # fmt: skip
            break
        chunk = min(_CHUNK, total_kicks - done)
        run(chunk)
        done += chunk


def _construct(base: FloatArray, e: FloatArray, t: FloatArray, w_energy: float,
               first: int | None, last: int) -> IntArray:  # fmt: skip
    """The search's starting path.

    On an arc: tracks placed by energy, the k-th lowest target position getting the
    k-th lowest energy (the best start for the search, though not the cheapest
    path); otherwise the best nearest-neighbour path from a few starts.
    """
    if len(t):
        return _by_energy(e, t, first, None if last < 0 else last)
    starts = [first] if first is not None else _spread_starts(base.shape[0], last)
    return min((_nearest_neighbour(s, last, base, e, t, w_energy) for s in starts),
               key=lambda q: _path_cost(q, base, e, t, w_energy))  # fmt: skip


def _by_energy(e: FloatArray, t: FloatArray, first: int | None, last: int | None) -> IntArray:
    """Tracks in order of the arc: position ranks by target matched to energy ranks."""
    n = len(e)
    free = np.array([i for i in range(n) if i != first and i != last], dtype=np.int64)
    lo = 1 if first is not None else 0
    slots = np.arange(lo, lo + len(free))
    p = np.empty(n, dtype=np.int64)
    if first is not None:
        p[0] = first
    if last is not None:
        p[n - 1] = last
    by_target = slots[np.argsort(t[slots], kind="stable")]
    by_energy = free[np.argsort(np.nan_to_num(e[free], nan=np.inf), kind="stable")]
    p[by_target] = by_energy
    return p


def _spread_starts(n: int, last: int, count: int = 8) -> list[int]:
    starts = sorted({round(k * (n - 1) / max(1, count - 1)) for k in range(count)})
    return [s for s in starts if s != last] or [next(i for i in range(n) if i != last)]
