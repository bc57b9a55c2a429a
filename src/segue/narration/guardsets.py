"""The guards measured: precision on good lines, recall on bad lines (``prompts/guards/``).

``contexts.toml`` describes a few links (listener, tracks, talk-plan facts);
``good.toml`` holds lines a good model might write for them, which the guards
must let through, and ``bad.toml`` lines they must refuse, each with ``why``
(invented name, wrong artist, wrong year, wrong album, markup, emoji, stage
direction, cliché, injection obeyed, wrong language, over budget, ...).

:func:`score_guards` reports *precision* as the share of good lines that pass
(a refused good line is a false alarm) and *recall* as the share of bad lines
refused, overall and per kind of mistake, with the guard that caught each.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segue.config import Settings
from segue.errors import InputError
from segue.listener import listener_from_dict
from segue.narration.context import build_context, facts_from_mapping, group_info
from segue.narration.guards import banned_list, check_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


@dataclass(frozen=True)
class GuardCase:
    """One line of a guard set with the context it is checked in."""

    context_name: str
    context: Mapping[str, Any]
    word_budget: int
    text: str
    why: str = ""


@dataclass(frozen=True)
class GuardResult:
    """A guard case and what the guards made of it."""

    case: GuardCase
    passed: bool
    guards: tuple[str, ...]
    problems: tuple[str, ...]


@dataclass
class GuardScore:
    """Precision on the good set, recall on the bad set, and what was missed."""

    precision: float
    recall: float
    good: int
    bad: int
    false_alarms: list[GuardResult] = field(default_factory=list)
    missed: list[GuardResult] = field(default_factory=list)
    recall_by_kind: dict[str, float] = field(default_factory=dict)
    caught_by: dict[str, dict[str, int]] = field(default_factory=dict)


def _load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from exc
    return data


def _context(name: str, spec: Mapping[str, Any], where: Path) -> tuple[dict[str, Any], int]:
    try:
        listener = listener_from_dict(dict(spec.get("listener", {})), source=f"{where}: {name}")
        prev = facts_from_mapping(spec["prev"]) if spec.get("prev") else None
        nxt = facts_from_mapping(spec["next"]) if spec.get("next") else None
        upcoming = [facts_from_mapping(u) for u in spec.get("upcoming", [])]
        size = int(spec.get("set", 0))
        budget = int(spec.get("word_budget", 20))
        hour, minute = (int(x) for x in str(spec.get("time", "23:00")).split(":"))
        context = build_context(
            listener=listener, prev=prev, nxt=nxt, position=int(spec.get("position", 2)),
            total=spec.get("total"), window_s=float(spec.get("window_s", 8.0)),
            word_budget=budget, now=dt.datetime(2024, 5, 3, hour, minute),
            kind=str(spec.get("kind", "link")), personal=list(spec.get("personal", [])),
            name_fresh=bool(spec.get("name_allowed", True)),
            set_info=group_info([nxt, *upcoming][:size]) if size and nxt else None,
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: context {name!r}: {exc}") from exc
    return context, budget


def load_guard_set(directory: Path, which: str) -> list[GuardCase]:
    """The ``good`` or ``bad`` lines of ``directory`` with their contexts.

    Raises
    ------
    InputError
        Naming the file and the entry when a line or its context is wrong.

    """
    contexts = _load(directory / "contexts.toml")
    path = directory / f"{which}.toml"
    out: list[GuardCase] = []
    built: dict[str, tuple[dict[str, Any], int]] = {}
    for i, entry in enumerate(_load(path).get("lines", [])):
        name = str(entry.get("context", ""))
        if name not in contexts:
            raise InputError(f"{path}: lines[{i}]: unknown context {name!r}")
        if name not in built:
            built[name] = _context(name, contexts[name], directory / "contexts.toml")
        context, budget = built[name]
        out.append(GuardCase(context_name=name, context=context, word_budget=budget,
                             text=str(entry.get("text", "")), why=str(entry.get("why", ""))))
    return out


def default_guards_dir(prompts_dir: Path) -> Path:
    """``guards/`` inside the prompts folder."""
    return prompts_dir / "guards"


def run_case(case: GuardCase, settings: Settings) -> GuardResult:
    """The guards' verdict on one case (no earlier lines: the line guards alone)."""
    verdict = check_line(case.text, context=case.context, word_budget=case.word_budget,
                         banned=banned_list(settings.banned_phrases))  # fmt: skip
    return GuardResult(case=case, passed=verdict.ok, guards=verdict.guards,
                       problems=verdict.problems)  # fmt: skip


def score_guards(directory: Path, settings: Settings | None = None) -> GuardScore:
    """Precision on ``good.toml`` and recall on ``bad.toml`` of ``directory`` (module doc)."""
    settings = settings or Settings()
    good = [run_case(c, settings) for c in load_guard_set(directory, "good")]
    bad = [run_case(c, settings) for c in load_guard_set(directory, "bad")]
    kinds: dict[str, list[GuardResult]] = {}
    for r in bad:
        kinds.setdefault(r.case.why or "other", []).append(r)
    caught = {k: dict(Counter(r.guards[0] for r in rs if r.guards)) for k, rs in kinds.items()}
    return GuardScore(
        precision=sum(r.passed for r in good) / len(good) if good else 0.0,
        recall=sum(not r.passed for r in bad) / len(bad) if bad else 0.0,
        good=len(good), bad=len(bad),
        false_alarms=[r for r in good if not r.passed],
        missed=[r for r in bad if r.passed],
        recall_by_kind={k: sum(not r.passed for r in rs) / len(rs) for k, rs in kinds.items()},
        caught_by=caught,
    )  # fmt: skip
