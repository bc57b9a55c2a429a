"""Energy arcs: the shape a set's energy should follow from the first track to the last.

An arc is a function of the relative position ``x`` in the set (0 = first track,
1 = last) onto 0–1, stretched over the energy range the set actually has (its
10th to 90th percentile), so a ``rise`` climbs from the calmest tracks to the
most energetic ones whatever the music. ``flat`` is no arc at all: the energy
term then only asks for small steps, and does not depend on the position.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from segue.errors import PlanError

FloatVec = npt.NDArray[np.float64]

#: Where ``peak`` reaches its top (as a share of the set) and the levels it starts and ends at.
PEAK_AT = 0.65
PEAK_START, PEAK_END = 0.15, 0.35
#: With an arc, energy deviations count ×ARC_RANGE_REF / (the set's energy range), between
#: ×1 and ×MAX_ARC_SCALE: a set whose energies span less is judged on a finer scale.
ARC_RANGE_REF = 0.5
MAX_ARC_SCALE = 4.0
#: ``wave`` rises and falls once per this many tracks, with at least one and a half waves.
WAVE_TRACKS = 10
MIN_WAVES = 1.5


def _flat(x: FloatVec, n: int) -> FloatVec:
    return np.full(x.shape, 0.5)


def _rise(x: FloatVec, n: int) -> FloatVec:
    return np.array(x, dtype=np.float64)


def _fall(x: FloatVec, n: int) -> FloatVec:
    return 1.0 - x


def _peak(x: FloatVec, n: int) -> FloatVec:
    up = PEAK_START + (1.0 - PEAK_START) * (1.0 - np.cos(np.pi * x / PEAK_AT)) / 2.0
    down_x = (x - PEAK_AT) / (1.0 - PEAK_AT)
    down = 1.0 - (1.0 - PEAK_END) * (1.0 - np.cos(np.pi * down_x)) / 2.0
    return np.where(x <= PEAK_AT, up, down)


def _wave(x: FloatVec, n: int) -> FloatVec:
    waves = max(MIN_WAVES, n / WAVE_TRACKS)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * waves * x)


_SHAPES: dict[str, Callable[[FloatVec, int], FloatVec]] = {
    "flat": _flat,
    "rise": _rise,
    "peak": _peak,
    "wave": _wave,
    "fall": _fall,
}

#: The arc names, in the order the CLI lists them.
ARCS: tuple[str, ...] = tuple(_SHAPES)

#: One line per arc, for help texts and the README.
ARC_HELP: dict[str, str] = {
    "flat": "no arc: keep the energy steady, small steps only",
    "rise": "from the calmest tracks to the most energetic",
    "peak": "warm-up, peak at about two thirds of the set, cool-down",
    "wave": f"rises and falls about every {WAVE_TRACKS} tracks",
    "fall": "from the most energetic tracks to the calmest",
}


def check_arc(name: str) -> str:
    """Return ``name`` if it is a known arc; raise :class:`PlanError` listing the valid ones."""
    if name not in _SHAPES:
        raise PlanError(f"unknown energy arc {name!r}; choose one of {', '.join(ARCS)}")
    return name


def arc_shape(name: str, n: int) -> FloatVec:
    """The arc's 0–1 shape at each of ``n`` positions (before stretching to the set)."""
    x = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(n)
    return _SHAPES[check_arc(name)](x, n)


def arc_targets(name: str, energies: npt.ArrayLike) -> FloatVec:
    """Target energy (0–1) at each position of a set whose tracks have ``energies``.

    The shape is stretched between the 10th and 90th percentile of the known
    energies (NaN means unknown); with no known energy the targets are 0.5. For
    ``flat`` every target is the median energy.

    Parameters
    ----------
    name
        One of :data:`ARCS`.
    energies
        The tracks' energies in any order; only their distribution matters.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``: the target for position 0 (first track) to ``n - 1``.

    """
    e = np.asarray(energies, dtype=np.float64)
    n = len(e)
    known = e[np.isfinite(e)]
    if len(known) == 0:
        return np.full(n, 0.5)
    lo, mid, hi = (float(v) for v in np.percentile(known, [10, 50, 90]))
    if name == "flat" or math.isclose(lo, hi):
        check_arc(name)
        return np.full(n, mid)
    return lo + (hi - lo) * arc_shape(name, n)


def arc_scale(energies: npt.ArrayLike) -> float:
    """How much more energy deviations count on an arc over a set with ``energies``.

    ``ARC_RANGE_REF`` over the 10th-90th percentile range of the known energies,
    clipped to [1, ``MAX_ARC_SCALE``]: in a set spanning 0.3-0.8 a step against the
    arc costs as usual, in one spanning 0.45-0.6 it costs about three times as much.
    """
    e = np.asarray(energies, dtype=np.float64)
    known = e[np.isfinite(e)]
    if len(known) < 2:
        return 1.0
    lo, hi = np.percentile(known, [10, 90])
    spread = float(hi - lo)
    if spread <= 0:
        return MAX_ARC_SCALE
    return float(min(MAX_ARC_SCALE, max(1.0, ARC_RANGE_REF / spread)))
