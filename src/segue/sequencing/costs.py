"""Transition costs between two tracks: named terms that add up, each with a reason.

Every term is a *raw* value in units of discomfort (1.0 ≈ a transition a DJ
would rather avoid) times a weight from :class:`CostWeights` (settings
``SEGUE_WEIGHT_<TERM>``, or a listener's learned weights). The terms:

``tempo``
    the octave-aware tempo step (half/double time counts as near, plus
    :data:`OCTAVE_COST`): free within ±2 %, gentle to ±6 % (0.3), 0.7 at ±8 %,
    then steep (+0.25 per further percent, capped at 3); scaled by both tracks'
    tempo confidence (each counts fully from :data:`FULL_CONFIDENCE` up).
``key``
    distance on the Camelot wheel: same code 0, ±1 0.15, relative major/minor
    0.2, otherwise 0.35 per step on the circle of fifths plus 0.3 for a change
    of mode, capped at 1.5; scaled by both tracks' key confidence.
``energy``
    the energy step measured against the target arc at that position
    (:mod:`segue.sequencing.arcs`): a step beyond the planned one costs 2 per
    unit going up and 3 going down (after a 0.03 dead zone), plus how far both
    tracks sit from their targets (half each, as each track has two
    transitions); on a set whose energies span little, deviations count more
    (:func:`~segue.sequencing.arcs.arc_scale`, ×1 to ×4). Without an arc
    (``flat``) only the step counts.
``timbre``
    Euclidean distance of mean MFCCs 1–12 over :data:`TIMBRE_SCALE`, capped at 1.
``dynamics``
    a jump in loudness range beyond 3 LU (1 per 8 LU, capped at 1) or in
    mastered loudness beyond 4 LU (1 per 10 LU, capped at 0.5): a brick-walled
    master next to a dynamic one sounds wrong even at matched loudness.
``genre``
    1 when both tracks carry genre tags and they share no word.
``same_artist``, ``same_album``
    1 for the same artist (same album and artist) back to back.

Unknown or low-confidence features make their term neutral (0), never NaN.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt
from scipy.spatial.distance import cdist

# The energy term (its constants too) is compiled for numba and called inside the
# solver, so it lives in segue.sequencing.search: numba's disk cache only notices edits
# to the file it compiles. It is part of this module's interface all the same.
from segue.sequencing.energy import energy_term as energy_term
from segue.sequencing.features import SetFeatures

FloatVec = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The term names, in the order they are shown and stored.
TERMS: tuple[str, ...] = (
    "tempo", "key", "energy", "timbre", "dynamics", "genre", "same_artist", "same_album",
)  # fmt: skip

#: Confidence (of tempo or key) from which a track's value counts fully; below, the term
#: is scaled by both tracks' confidences (each over this, multiplied).
FULL_CONFIDENCE = 0.5
#: Below this confidence a reason calls the tempo or key uncertain.
LOW_CONFIDENCE = 0.15
#: Extra cost of mixing at half or double time.
OCTAVE_COST = 0.1
#: MFCC distance that counts as one unit of discomfort.
TIMBRE_SCALE = 150.0


@dataclass(frozen=True)
class CostWeights:
    """How much each named term counts; 1.0 means one unit of discomfort per raw unit."""

    tempo: float = 1.0
    key: float = 1.0
    energy: float = 1.0
    timbre: float = 1.0
    dynamics: float = 1.0
    genre: float = 0.3
    same_artist: float = 1.0
    same_album: float = 0.5

    def as_dict(self) -> dict[str, float]:
        """The weights by term name, in :data:`TERMS` order."""
        return {name: float(getattr(self, name)) for name in TERMS}

    def scaled(self, factors: Mapping[str, float]) -> CostWeights:
        """These weights multiplied term by term by ``factors`` (missing names: ×1)."""
        return dataclasses.replace(
            self, **{k: getattr(self, k) * float(v) for k, v in factors.items() if k in TERMS}
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> CostWeights:
        """Weights from ``{"tempo": 1.0, ...}``; unknown names and bad values are ignored."""
        known: dict[str, float] = {}
        for k, v in values.items():
            try:
                f = float(v)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            if k in TERMS and math.isfinite(f) and f >= 0:
                known[k] = f
        return cls(**known)


# --------------------------------------------------------------------------- tempo


@overload
def tempo_step_pct(a_bpm: float, b_bpm: float) -> float: ...


@overload
def tempo_step_pct(a_bpm: npt.ArrayLike, b_bpm: npt.ArrayLike) -> FloatVec: ...


def tempo_step_pct(a_bpm: npt.ArrayLike, b_bpm: npt.ArrayLike) -> float | FloatVec:
    """Signed tempo change from ``a`` to ``b`` in percent, octave-aware (NaN when unknown).

    Half- and double-time count as near: 90 → 180 BPM is a 0 % step, because a
    DJ can mix them beat on beat. Two numbers give a float; arrays work
    element-wise.
    """
    a = np.asarray(a_bpm, dtype=np.float64)
    b = np.asarray(b_bpm, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.log(b / a) / math.log(2.0)
        folded = ratio - np.round(np.clip(ratio, -1.0, 1.0))
        step = np.where((a > 0) & (b > 0), (np.exp2(folded) - 1.0) * 100.0, np.nan)
    return float(step) if step.ndim == 0 else step


def octave_jump(a_bpm: npt.ArrayLike, b_bpm: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Whether going from ``a`` to ``b`` is nearest at half or double time."""
    a = np.asarray(a_bpm, dtype=np.float64)
    b = np.asarray(b_bpm, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.log(b / a) / math.log(2.0)
        return np.asarray(np.abs(np.round(np.clip(ratio, -1.0, 1.0))) == 1.0)


def tempo_cost(step_pct: npt.ArrayLike) -> FloatVec:
    """0 within ±2 %, gentle up to ±6 % (0.3), 0.7 at ±8 %, steep beyond; 0 for NaN."""
    s = np.abs(np.nan_to_num(np.asarray(step_pct, dtype=np.float64), nan=0.0))
    return np.select(
        [s <= 2.0, s <= 6.0, s <= 8.0],
        [np.zeros_like(s), (s - 2.0) / 4.0 * 0.3, 0.3 + (s - 6.0) / 2.0 * 0.4],
        np.minimum(3.0, 0.7 + (s - 8.0) / 4.0),
    )


def _confidence_factor(ca: FloatVec, cb: FloatVec) -> FloatVec:
    """Each track's confidence, counted fully from :data:`FULL_CONFIDENCE` up, multiplied."""
    return np.asarray(np.clip(ca / FULL_CONFIDENCE, 0.0, 1.0) * np.clip(cb / FULL_CONFIDENCE,
                                                                        0.0, 1.0))


# --------------------------------------------------------------------------- key


def camelot_distance(a: str, b: str) -> tuple[int, bool]:
    """Steps between two Camelot codes on the wheel, and whether the letter differs."""
    na, la = int(a[:-1]), a[-1]
    nb, lb = int(b[:-1]), b[-1]
    d = abs(na - nb) % 12
    return min(d, 12 - d), la != lb


def key_cost_steps(steps: npt.ArrayLike, mode_change: npt.ArrayLike) -> FloatVec:
    """Key cost from steps on the wheel (0–6) and whether the mode (A/B) changes."""
    d = np.asarray(steps, dtype=np.float64)
    m = np.asarray(mode_change, dtype=np.bool_)
    far = np.minimum(1.5, 0.35 * d + np.where(m, 0.3, 0.0))
    return np.select([(d == 0) & ~m, (d == 1) & ~m, (d == 0) & m], [0.0, 0.15, 0.2], far)


def key_cost(a: str, b: str) -> float:
    """0 for the same code; cheap for ±1 or the relative major/minor; grows with distance."""
    steps, change = camelot_distance(a, b)
    return float(key_cost_steps(steps, change))


# --------------------------------------------------------------------------- energy


# --------------------------------------------------------------------------- all terms


def raw_terms(
    f: SetFeatures,
    i: npt.ArrayLike,
    j: npt.ArrayLike,
    *,
    t_from: npt.ArrayLike = math.nan,
    t_to: npt.ArrayLike = math.nan,
    energy_scale: float = 1.0,
    grid: bool = False,
) -> dict[str, FloatVec]:
    """Unweighted cost terms of playing track ``j`` right after track ``i``.

    ``i`` and ``j`` are index arrays into ``f`` that broadcast against each
    other; with ``grid`` they are 1-D and every ``i`` is paired with every ``j``
    (a ``(len(i), len(j))`` matrix). ``t_from`` and ``t_to`` are the arc's
    targets at the two positions (NaN: no arc) and ``energy_scale`` multiplies the
    energy term (see :func:`segue.sequencing.arcs.arc_scale`).

    Returns
    -------
    dict
        One array per name in :data:`TERMS`, of the broadcast shape.

    """
    ii = np.asarray(i, dtype=np.int64)
    jj = np.asarray(j, dtype=np.int64)
    if grid:
        ii, jj = ii[:, None], jj[None, :]
    shape = np.broadcast_shapes(ii.shape, jj.shape)
    ii, jj = np.broadcast_to(ii, shape), np.broadcast_to(jj, shape)
    energy = np.asarray(
        energy_term(f.energy[ii], f.energy[jj], np.asarray(t_from, dtype=np.float64),
                    np.asarray(t_to, dtype=np.float64)), dtype=np.float64)  # fmt: skip
    out = {
        "tempo": _tempo_term(f, ii, jj),
        "key": _key_term(f, ii, jj),
        "energy": np.broadcast_to(energy * energy_scale, shape),
        "timbre": _timbre_term(f, ii, jj, (np.asarray(i), np.asarray(j)) if grid else None),
        "dynamics": _dynamics_term(f, ii, jj),
        "genre": f.genre_clash[ii, jj],
        "same_artist": ((f.artist[ii] >= 0) & (f.artist[ii] == f.artist[jj])).astype(np.float64),
        "same_album": ((f.album[ii] >= 0) & (f.album[ii] == f.album[jj])).astype(np.float64),
    }  # fmt: skip
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


IndexArray = npt.NDArray[np.int64]


def _tempo_term(f: SetFeatures, ii: IndexArray, jj: IndexArray) -> FloatVec:
    """Octave-aware tempo step cost, scaled by both tempo confidences (0 when unknown)."""
    step = tempo_step_pct(f.bpm[ii], f.bpm[jj])
    cost = tempo_cost(step) + OCTAVE_COST * octave_jump(f.bpm[ii], f.bpm[jj])
    out: FloatVec = np.where(np.isfinite(step), cost, 0.0) * _confidence_factor(
        f.bpm_conf[ii], f.bpm_conf[jj])  # fmt: skip
    return out


def _key_term(f: SetFeatures, ii: IndexArray, jj: IndexArray) -> FloatVec:
    """Camelot distance cost, scaled by both key confidences (0 when a key is unknown)."""
    ka, kb = f.key_num[ii], f.key_num[jj]
    d = np.abs(ka - kb) % 12
    steps = np.minimum(d, 12 - d)
    cost = key_cost_steps(steps, f.key_minor[ii] != f.key_minor[jj])
    out: FloatVec = np.where((ka > 0) & (kb > 0), cost, 0.0) * _confidence_factor(
        f.key_conf[ii], f.key_conf[jj])  # fmt: skip
    return out


def _timbre_term(f: SetFeatures, ii: IndexArray, jj: IndexArray,
                 grid: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None
                 ) -> FloatVec:  # fmt: skip
    """Distance of mean MFCCs, :data:`TIMBRE_SCALE` = 1 (at most 1; 0 when unknown).

    With ``grid`` (the 1-D index lists), pairwise distances without an (n, n, d)
    temporary.
    """
    if not f.timbre.shape[1]:
        return np.zeros(ii.shape)
    if grid is not None:
        dist = cdist(f.timbre[grid[0].astype(np.int64)], f.timbre[grid[1].astype(np.int64)])
    else:
        diff = f.timbre[ii] - f.timbre[jj]
        dist = np.sqrt(np.einsum("...k,...k->...", diff, diff))
    out: FloatVec = np.minimum(1.0, np.nan_to_num(dist / TIMBRE_SCALE, nan=0.0))
    return out


def _dynamics_term(f: SetFeatures, ii: IndexArray, jj: IndexArray) -> FloatVec:
    """Loudness-range jump beyond 3 LU, plus mastered-loudness jump beyond 4 LU."""
    d_lra = np.nan_to_num(np.abs(f.loudness_range_lu[ii] - f.loudness_range_lu[jj]), nan=0.0)
    d_lufs = np.nan_to_num(np.abs(f.lufs[ii] - f.lufs[jj]), nan=0.0)
    out: FloatVec = (np.minimum(1.0, np.maximum(0.0, d_lra - 3.0) / 8.0)
                     + np.minimum(0.5, np.maximum(0.0, d_lufs - 4.0) / 10.0))  # fmt: skip
    return out


def weigh(raw: Mapping[str, FloatVec], weights: CostWeights) -> dict[str, FloatVec]:
    """Raw terms times their weights."""
    w = weights.as_dict()
    return {k: v * w[k] for k, v in raw.items()}


def term_matrices(f: SetFeatures, weights: CostWeights) -> dict[str, FloatVec]:
    """Weighted terms for every ordered pair of tracks, without an arc (``flat``).

    ``m[name][i, j]`` is term ``name`` of playing ``j`` right after ``i``; the
    diagonal is 0.
    """
    idx = np.arange(len(f))
    mats = weigh(raw_terms(f, idx, idx, grid=True), weights)
    for m in mats.values():
        np.fill_diagonal(m, 0.0)
    return mats


def transition_terms(
    f: SetFeatures,
    i: int,
    j: int,
    weights: CostWeights,
    *,
    t_from: float = math.nan,
    t_to: float = math.nan,
) -> dict[str, float]:
    """The weighted named terms of playing track ``j`` right after track ``i``."""
    raw = raw_terms(f, np.array([i]), np.array([j]), t_from=t_from, t_to=t_to)
    return {k: float(v[0]) for k, v in weigh(raw, weights).items()}


# --------------------------------------------------------------------------- reasons


def _direction(d: float) -> str:
    if abs(d) < 0.05:
        return "steady"
    return "rising" if d > 0 else "easing off"


def describe(
    f: SetFeatures,
    i: int,
    j: int,
    *,
    t_from: float = math.nan,
    t_to: float = math.nan,
    camelot: tuple[str, str] = ("", ""),
    raw: Mapping[str, float] | None = None,
) -> str:
    """A one-line human reason for playing ``j`` after ``i``, built from its terms.

    E.g. ``"same key 8A, +3 % tempo, energy rising as planned"``. The reason
    states the musical facts behind each term whatever its weight; ``t_from`` and
    ``t_to`` are the arc's targets (NaN: no arc), ``camelot`` the two key codes
    as the analysis spelled them (for display) and ``raw`` the transition's raw
    terms when the caller has them already.
    """
    terms = dict(raw) if raw is not None else {k: float(v[0]) for k, v in raw_terms(
        f, np.array([i]), np.array([j]), t_from=t_from, t_to=t_to).items()}  # fmt: skip
    parts = [_key_phrase(f, i, j, camelot), _tempo_phrase(f, i, j),
             _energy_phrase(f, i, j, t_from, t_to)]  # fmt: skip
    return ", ".join(parts + _other_phrases(f, i, j, terms))


def _key_phrase(f: SetFeatures, i: int, j: int, camelot: tuple[str, str]) -> str:
    """``same key 8A``, ``compatible keys 8A→9A``, ``key clash 9A→2B``, ``key uncertain``."""
    key_sure = min(f.key_conf[i], f.key_conf[j]) >= LOW_CONFIDENCE
    if f.key_num[i] == 0 or f.key_num[j] == 0 or not key_sure:
        return "key uncertain"
    ca, cb = camelot
    ca = ca or f"{f.key_num[i]}{'A' if f.key_minor[i] else 'B'}"
    cb = cb or f"{f.key_num[j]}{'A' if f.key_minor[j] else 'B'}"
    d = abs(int(f.key_num[i]) - int(f.key_num[j])) % 12
    steps, change = min(d, 12 - d), bool(f.key_minor[i] != f.key_minor[j])
    if steps == 0 and not change:
        return f"same key {cb}"
    if steps == 0:
        return f"relative {'minor' if f.key_minor[j] else 'major'} {ca}→{cb}"
    if steps == 1:
        return f"{'diagonal key move' if change else 'compatible keys'} {ca}→{cb}"
    return f"key {'clash' if steps >= 3 else 'change'} {ca}→{cb}"


def _tempo_phrase(f: SetFeatures, i: int, j: int) -> str:
    """``+3 % tempo``, ``same tempo``, ``-50 % tempo at half time (...)``, ``tempo uncertain``."""
    tempo_sure = min(f.bpm_conf[i], f.bpm_conf[j]) >= LOW_CONFIDENCE
    step = float(tempo_step_pct(f.bpm[i], f.bpm[j]))
    if not math.isfinite(step) or not tempo_sure:
        return "tempo uncertain"
    label = f"{step:+.0f} % tempo" if round(abs(step)) >= 1 else "same tempo"
    if bool(octave_jump(f.bpm[i], f.bpm[j])):
        half = f.bpm[j] < f.bpm[i]
        label += f" at {'half' if half else 'double'} time ({f.bpm[i]:.0f}→{f.bpm[j]:.0f} BPM)"
    return label + (" (steep)" if abs(step) > 8.0 else "")


def _energy_phrase(f: SetFeatures, i: int, j: int, t_from: float, t_to: float) -> str:
    """The energy step, against the arc when there is one."""
    ea, eb = f.energy[i], f.energy[j]
    if math.isnan(ea) or math.isnan(eb):
        return "energy unknown"
    if math.isnan(t_from) or math.isnan(t_to):
        return f"energy {_direction(eb - ea)}"
    actual, planned = eb - ea, t_to - t_from
    if abs(actual - planned) <= 0.1:
        return f"energy {_direction(actual)} as planned"
    return f"energy {_direction(actual)}, {'above' if actual > planned else 'below'} the arc"


def _other_phrases(f: SetFeatures, i: int, j: int, terms: Mapping[str, float]) -> list[str]:
    """Timbre, dynamics, genre and same-artist/album notes, only where the term is notable."""
    parts: list[str] = []
    if terms["timbre"] >= 0.5:
        parts.append("a contrasting sound")
    if terms["dynamics"] >= 0.1:
        la, lb = f.loudness_range_lu[i], f.loudness_range_lu[j]
        if math.isfinite(la) and math.isfinite(lb) and abs(la - lb) > 3.0:
            parts.append(f"dynamics jump {la:.0f}→{lb:.0f} LU")
        else:
            parts.append(f"mastering jump {f.lufs[i]:.0f}→{f.lufs[j]:.0f} LUFS")
    if terms["genre"] > 0:
        parts.append(f"genre change {'/'.join(sorted(f.genres[i]))}→"
                     f"{'/'.join(sorted(f.genres[j]))}")  # fmt: skip
    if terms["same_album"] > 0:
        parts.append("same album back to back")
    elif terms["same_artist"] > 0:
        parts.append("same artist back to back")
    return parts
