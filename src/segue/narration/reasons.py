"""Why a track follows, and what changes, in words a listener uses.

The planner explains a transition in a DJ's jargon (``"key clash 9A→2B, -26 %
tempo at double time"``); that stays in ``segue plan``. On air and in prompts a
link says what a listener hears: "picking up the pace", "same key, smoother
ride", "winding down". This module reads two tracks' facts (tempo, key, energy,
genre, as :func:`~segue.narration.context.track_facts` gives them), and the
planner's weighted terms and the arc's planned energy step when known, and
returns:

- :func:`hear_change`: the changes a listener hears, as kinds such as
  ``tempo.faster``, ``energy.down``, ``key.brighter``, ``genre.change``;
- :func:`reason_kinds`: why the track fits here, as kinds such as ``blend``
  (same key and tempo), ``builds`` (the set is climbing), ``contrast``;
- :func:`plain_reason`: one plain sentence of both, for prompts and previews.

The kinds name the phrase pools of ``prompts/parts/*.toml``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

#: Tempo steps within this many percent sound like the same pace.
SAME_TEMPO_PCT = 3.0
#: Energy steps (0–1) below this sound steady.
STEADY_ENERGY = 0.08
#: Planned arc steps beyond this are a climb or a descent the link may mention.
ARC_STEP = 0.04
#: A timbre term at or above this is a contrasting sound.
CONTRAST_TIMBRE = 0.5

_CAMELOT = re.compile(r"^(1[0-2]|[1-9])([AB])$")


def _number(facts: Mapping[str, Any], key: str) -> float:
    value = facts.get(key)
    try:
        out = float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan
    return out if (math.isfinite(out) and out > 0) or key == "energy" else math.nan


def tempo_change(prev_bpm: float, next_bpm: float) -> str:
    """``faster``, ``slower``, ``same``, ``double`` or ``half`` (octave-aware); ``""`` unknown."""
    if not (math.isfinite(prev_bpm) and math.isfinite(next_bpm)) or min(prev_bpm, next_bpm) <= 0:
        return ""
    ratio = next_bpm / prev_bpm
    for octave, word in ((2.0, "double"), (0.5, "half")):
        if abs(ratio / octave - 1.0) * 100 <= SAME_TEMPO_PCT:
            return word
    step_pct = (ratio - 1.0) * 100
    if abs(step_pct) <= SAME_TEMPO_PCT:
        return "same"
    return "faster" if step_pct > 0 else "slower"


def energy_change(prev_energy: float, next_energy: float) -> str:
    """``up``, ``down`` or ``steady``; ``""`` when either energy is unknown."""
    if not (math.isfinite(prev_energy) and math.isfinite(next_energy)):
        return ""
    step = next_energy - prev_energy
    if abs(step) < STEADY_ENERGY:
        return "steady"
    return "up" if step > 0 else "down"


def key_change(prev_camelot: str, next_camelot: str) -> str:
    """``same``, ``close`` (a neighbour on the wheel), ``brighter`` (minor to major),
    ``darker`` (major to minor), ``shift`` (far apart); ``""`` when a key is unknown.
    """  # noqa: D205
    a, b = _CAMELOT.match(prev_camelot or ""), _CAMELOT.match(next_camelot or "")
    if a is None or b is None:
        return ""
    na, nb = int(a.group(1)), int(b.group(1))
    steps = min((na - nb) % 12, (nb - na) % 12)
    same_mode = a.group(2) == b.group(2)
    if steps == 0 and same_mode:
        return "same"
    if steps == 0:
        return "brighter" if b.group(2) == "B" else "darker"
    if steps == 1 and same_mode:
        return "close"
    return "shift"


def _genres(facts: Mapping[str, Any]) -> set[str]:
    return {w for w in re.findall(r"[\w&-]+", str(facts.get("genre") or "").casefold()) if w}


def hear_change(
    prev: Mapping[str, Any], nxt: Mapping[str, Any], terms: Mapping[str, float] | None = None
) -> list[str]:
    """The changes a listener hears from ``prev`` to ``nxt``, strongest first.

    Kinds: ``tempo.{faster,slower,same,double,half}``, ``energy.{up,down,steady}``,
    ``key.{same,close,brighter,darker}`` (only when both keys are sure),
    ``genre.change`` (both tagged, no word shared), ``sound.contrast`` (the
    planner's timbre term, when ``terms`` has it).
    """
    out: list[str] = []
    energy = energy_change(_number(prev, "energy"), _number(nxt, "energy"))
    tempo = tempo_change(_number(prev, "bpm"), _number(nxt, "bpm"))
    key = key_change(str(prev.get("camelot") or ""), str(nxt.get("camelot") or ""))
    if energy in ("up", "down"):
        out.append(f"energy.{energy}")
    if tempo and tempo != "same":
        out.append(f"tempo.{tempo}")
    if key and key != "shift" and prev.get("key_sure", True) and nxt.get("key_sure", True):
        out.append(f"key.{key}")
    ga, gb = _genres(prev), _genres(nxt)
    if ga and gb and not ga & gb:
        out.append("genre.change")
    if terms is not None and terms.get("timbre", 0.0) >= CONTRAST_TIMBRE:
        out.append("sound.contrast")
    if tempo == "same":
        out.append("tempo.same")
    if energy == "steady":
        out.append("energy.steady")
    return out


def reason_kinds(
    prev: Mapping[str, Any],
    nxt: Mapping[str, Any],
    *,
    terms: Mapping[str, float] | None = None,
    planned_step: float | None = None,
) -> list[str]:
    """Why ``nxt`` fits after ``prev``, most telling first.

    ``builds`` / ``winds_down``: the arc plans a climb (descent) here and the
    energy follows; ``blend``: same or neighbouring key at the same pace;
    ``groove``: the same pace; ``harmony``: a key that sits well; ``genre``: the
    same genre carries on; ``contrast``: a deliberate change of colour.
    """
    changes = set(hear_change(prev, nxt, terms))
    out: list[str] = []
    if planned_step is not None and math.isfinite(planned_step):
        if planned_step > ARC_STEP and "energy.down" not in changes:
            out.append("builds")
        elif planned_step < -ARC_STEP and "energy.up" not in changes:
            out.append("winds_down")
    keyed = changes & {"key.same", "key.close"}
    paced = changes & {"tempo.same", "tempo.double", "tempo.half"}
    if keyed and paced:
        out.append("blend")
    elif paced:
        out.append("groove")
    elif keyed:
        out.append("harmony")
    if _genres(prev) & _genres(nxt):
        out.append("genre")
    if changes & {"genre.change", "sound.contrast"}:
        out.append("contrast")
    return out


#: Plain phrases for prompts and previews (the spoken ones live in the parts files).
_CHANGE_WORDS = {
    "tempo.faster": "picking up the pace", "tempo.slower": "slowing the pace",
    "tempo.double": "twice the pulse", "tempo.half": "half the pulse, a slower feel",
    "tempo.same": "the same pace", "energy.up": "more energy", "energy.down": "winding down",
    "energy.steady": "the energy holds", "key.same": "the same key, a smooth ride",
    "key.close": "a neighbouring key", "key.brighter": "a brighter, major key",
    "key.darker": "a darker, minor key", "genre.change": "a change of genre",
    "sound.contrast": "a different sound",
}  # fmt: skip
_REASON_WORDS = {
    "builds": "the set is building up", "winds_down": "the set is winding down",
    "blend": "it shares the key and the pace, so the two blend",
    "groove": "it keeps the pace", "harmony": "its key sits well after the last one",
    "genre": "it stays in the same genre", "contrast": "a deliberate change of colour",
}  # fmt: skip


def change_words(kinds: Sequence[str]) -> list[str]:
    """Plain phrases for change kinds (unknown kinds are skipped)."""
    return [_CHANGE_WORDS[k] for k in kinds if k in _CHANGE_WORDS]


def plain_reason(
    prev: Mapping[str, Any] | None,
    nxt: Mapping[str, Any] | None,
    *,
    terms: Mapping[str, float] | None = None,
    planned_step: float | None = None,
) -> str:
    """One plain sentence on why ``nxt`` follows ``prev`` and what changes; ``""`` if neither.

    E.g. ``"it shares the key and the pace, so the two blend; more energy"``.
    """
    if not prev or not nxt:
        return ""
    why = [_REASON_WORDS[k] for k in reason_kinds(prev, nxt, terms=terms,
                                                  planned_step=planned_step)[:2]]  # fmt: skip
    heard = [w for w in change_words(hear_change(prev, nxt, terms)[:2]) if w not in why]
    return "; ".join(p for p in (", ".join(why), ", ".join(heard)) if p)
