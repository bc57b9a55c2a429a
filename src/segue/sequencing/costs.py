"""Transition costs between two tracks: named terms that add up, each with a reason."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from segue.models import TrackAnalysis


@dataclass(frozen=True)
class CostWeights:
    """How much each named term counts; 1.0 means "one unit of discomfort"."""

    tempo: float = 1.0
    key: float = 1.0
    energy: float = 1.0
    same_artist: float = 1.0


def tempo_step_pct(a_bpm: float, b_bpm: float) -> float:
    """Signed tempo change from ``a`` to ``b`` in percent, octave-aware.

    Half- and double-time count as near: 90 → 180 BPM is a 0 % step, because a
    DJ can mix them beat on beat.
    """
    if a_bpm <= 0 or b_bpm <= 0:
        return 0.0
    candidates = (b_bpm, b_bpm * 2.0, b_bpm / 2.0)
    best = min(candidates, key=lambda c: abs(math.log(c / a_bpm)))
    return (best / a_bpm - 1.0) * 100.0


def tempo_cost(step_pct: float) -> float:
    """0 within ±2 %, gentle up to ±6 %, steep beyond ±8 %."""
    s = abs(step_pct)
    if s <= 2.0:
        return 0.0
    if s <= 6.0:
        return (s - 2.0) / 4.0 * 0.3
    if s <= 8.0:
        return 0.3 + (s - 6.0) / 2.0 * 0.4
    return 0.7 + (s - 8.0) / 4.0


def camelot_distance(a: str, b: str) -> tuple[int, bool]:
    """Steps between two Camelot codes on the wheel, and whether the letter differs."""
    na, la = int(a[:-1]), a[-1]
    nb, lb = int(b[:-1]), b[-1]
    d = abs(na - nb) % 12
    return min(d, 12 - d), la != lb


def key_cost(a: str, b: str) -> float:
    """0 for the same code; cheap for ±1 or the relative major/minor; grows with distance."""
    steps, letter_change = camelot_distance(a, b)
    if steps == 0:
        return 0.25 if letter_change else 0.0
    if steps == 1 and not letter_change:
        return 0.15
    return min(1.5, 0.35 * steps + (0.3 if letter_change else 0.0))


def transition_terms(
    a: TrackAnalysis,
    b: TrackAnalysis,
    *,
    same_artist: bool,
    weights: CostWeights,
) -> dict[str, float]:
    """The named cost terms of playing ``b`` right after ``a``.

    The key term is scaled by both tracks' key confidence: an uncertain key should
    not drive the order. Energy steps upward are cheaper than drops, so the set
    tends to build.
    """
    step = tempo_step_pct(a.bpm, b.bpm)
    key_conf = min(a.key_confidence, b.key_confidence)
    d_energy = b.energy - a.energy
    energy = d_energy * 1.5 if d_energy >= 0 else -d_energy * 2.5
    return {
        "tempo": round(weights.tempo * tempo_cost(step), 4),
        "key": round(weights.key * key_cost(a.camelot, b.camelot) * key_conf, 4),
        "energy": round(weights.energy * energy, 4),
        "same_artist": weights.same_artist * (1.0 if same_artist else 0.0),
    }


def describe(a: TrackAnalysis, b: TrackAnalysis, terms: Mapping[str, float]) -> str:
    """A one-line human reason for a transition, built from its terms."""
    parts: list[str] = []
    steps, letter = camelot_distance(a.camelot, b.camelot)
    if steps == 0 and not letter:
        parts.append(f"same key {b.camelot}")
    elif steps == 0 or (steps == 1 and not letter):
        parts.append(f"compatible keys {a.camelot}→{b.camelot}")
    else:
        parts.append(f"key change {a.camelot}→{b.camelot}")
    step = tempo_step_pct(a.bpm, b.bpm)
    parts.append(f"{step:+.0f}% tempo" if abs(step) >= 0.5 else "same tempo")
    d = b.energy - a.energy
    if abs(d) < 0.05:
        parts.append("energy steady")
    else:
        parts.append("energy rising" if d > 0 else "energy easing off")
    if terms.get("same_artist", 0.0) > 0:
        parts.append("same artist back to back")
    return ", ".join(parts)
