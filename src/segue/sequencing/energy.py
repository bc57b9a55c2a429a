"""The energy term of a transition: the step against the arc's plan, and the distance from it.

Kept apart from the compiled solver (:mod:`segue.sequencing.search`, which has the
same formula as a numba kernel) so that costs, reasons and the rolling plan of a
live show need no numba at all: a show that never plans more than twelve tracks at
once stays about 65 MB lighter. A test checks that both give the very same numbers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatVec = npt.NDArray[np.float64]

#: Energy steps within this of the plan are free; beyond, up- and down-steps cost this much.
ENERGY_DEAD_ZONE = 0.03
ENERGY_RISE_COST = 2.0
ENERGY_DROP_COST = 3.0


def energy_term(e_from: npt.ArrayLike, e_to: npt.ArrayLike, t_from: npt.ArrayLike,
                t_to: npt.ArrayLike) -> FloatVec:  # fmt: skip
    """Raw energy cost of ``e_from`` → ``e_to`` where the arc plans ``t_from`` → ``t_to``.

    Broadcasts like a ufunc. A NaN energy is unknown (its parts cost nothing); NaN
    targets mean no arc (flat: only the step counts, measured against no change).
    """
    ea, eb = np.asarray(e_from, dtype=np.float64), np.asarray(e_to, dtype=np.float64)
    ta, tb = np.asarray(t_from, dtype=np.float64), np.asarray(t_to, dtype=np.float64)
    arc = ~(np.isnan(ta) | np.isnan(tb))
    planned = np.where(arc, tb - ta, 0.0)
    err = (eb - ea) - planned
    step = np.where(err > ENERGY_DEAD_ZONE, ENERGY_RISE_COST * (err - ENERGY_DEAD_ZONE),
                    np.where(err < -ENERGY_DEAD_ZONE, ENERGY_DROP_COST * (-err - ENERGY_DEAD_ZONE),
                             0.0))  # fmt: skip
    cost = np.where(np.isnan(ea) | np.isnan(eb), 0.0, step)
    cost = cost + np.where(arc & ~np.isnan(ea), 0.5 * np.abs(ea - ta), 0.0)
    cost = cost + np.where(arc & ~np.isnan(eb), 0.5 * np.abs(eb - tb), 0.0)
    out: FloatVec = np.asarray(cost, dtype=np.float64)
    return out
