"""How loud each track plays: normalisation gain plus make-up for the limiter."""

from __future__ import annotations

import numpy as np

from segue.models import TrackAnalysis

#: Most make-up gain for the loudness the limiter takes (see track_gain_db).
MAX_MAKEUP_DB = 4.0


def track_gain_db(analysis: TrackAnalysis, target_lufs: float, ceiling_dbfs: float) -> float:
    """Gain (dB) that brings a track to ``target_lufs`` in the mix, the limiter included.

    The plain normalisation gain, plus make-up for the loudness the output limiter
    (at ``ceiling_dbfs``) will take from the track's peaks at that gain, from the
    analysis' :attr:`~segue.models.TrackAnalysis.limiter_loss_lu`. The make-up ``m``
    solves ``m = loss(gain + m)`` (more gain, more limiting), at most
    :data:`MAX_MAKEUP_DB`: a master too dense to get there is left a little quiet
    rather than crushed.
    """
    gain = target_lufs - analysis.lufs
    curve = analysis.limiter_loss_lu
    if not curve:
        return gain

    def shortfall(makeup: float) -> float:
        excess = gain + makeup + analysis.true_peak_dbtp - ceiling_dbfs
        loss = float(np.interp(excess, np.arange(len(curve)), curve)) if excess > 0 else 0.0
        return loss - makeup

    if shortfall(MAX_MAKEUP_DB) > 0:
        return gain + MAX_MAKEUP_DB
    lo, hi = 0.0, MAX_MAKEUP_DB  # shortfall(lo) >= 0 >= shortfall(hi)
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if shortfall(mid) > 0 else (lo, mid)
    return gain + hi
