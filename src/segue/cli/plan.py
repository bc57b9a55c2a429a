"""``segue plan``: the smoothest order for a set, with every transition's terms and reason.

The sequencer (numba) is imported when the command runs, and the ``--arc`` help
is completed when help is shown, so importing this module stays light.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.table import Table
from typer.core import TyperCommand, TyperOption

from segue.cli import app, err, fail, progress_bar, skipped, warn
from segue.errors import SegueError

if TYPE_CHECKING:
    from segue.config import Settings
    from segue.models import Listener, Plan, Track

out = Console()
_ARC_OPTION_HELP = "Energy arc: flat, rise, peak, wave or fall (default: SEGUE_ARC or peak)."


class _PlanCommand(TyperCommand):
    """``segue plan``: its ``--arc`` help describes each arc, read only when help is shown."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The help, with every arc described."""
        from segue.sequencing.arcs import ARC_HELP

        for param in self.params:
            if isinstance(param, TyperOption) and param.name == "arc":
                param.help = ("Energy arc: " + "; ".join(f"{k}: {v}" for k, v in ARC_HELP.items())
                              + " (default: SEGUE_ARC or peak).")  # fmt: skip
        super().format_help(ctx, formatter)


def plan_json(plan: Plan, tracks: list[Track], matrix: list[list[float | None]] | None) -> str:
    """The plan as the JSON ``segue plan --json`` prints (``matrix`` only when given).

    ``order[k].index`` is the track's position in the input; ``from``/``to``
    are positions in ``order``; unknown numbers are null.
    """
    data: dict[str, Any] = {
        "order": [
            {
                "index": index,
                "path": t.path,
                "title": t.tags.title,
                "artist": t.tags.artist,
                "bpm": _finite(t.analysis.bpm),
                "camelot": t.analysis.camelot or None,
                "energy": _finite(t.analysis.energy),
            }
            for index, t in zip(plan.order, plan.tracks, strict=True)
        ],
        "transitions": [
            {"from": tr.from_pos, "to": tr.to_pos, "cost": tr.cost, "terms": dict(tr.terms),
             "reason": tr.reason}
            for tr in plan.transitions
        ],
        "total_cost": plan.total_cost,
    }  # fmt: skip
    if matrix is not None:
        data["matrix"] = matrix
    return json.dumps(data, indent=2, ensure_ascii=False)


def _finite(value: float) -> float | None:
    return round(float(value), 3) if math.isfinite(value) else None


def _terms_text(terms: dict[str, float]) -> str:
    shown = [f"{k.replace('_', ' ')} {v:.2f}" for k, v in terms.items() if v >= 0.005]
    return ", ".join(shown) or "–"


def _plan_table(plan: Plan) -> Table:
    arc = plan.arc != "flat"
    table = Table(title=f"{len(plan.tracks)} tracks, {plan.arc} arc", title_justify="left",
                  box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")  # fmt: skip
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("track", max_width=32, overflow="ellipsis", no_wrap=True)
    table.add_column("BPM", justify="right", no_wrap=True)
    table.add_column("key", no_wrap=True)
    table.add_column("energy", justify="right", no_wrap=True)
    if arc:
        table.add_column("target", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("terms", overflow="fold")
    table.add_column("reason", overflow="fold")
    for pos, t in enumerate(plan.tracks):
        a = t.analysis
        tr = plan.transitions[pos - 1] if pos else None
        row = [
            str(pos + 1), f"{t.tags.title} – {t.tags.artist}",
            f"{a.bpm:.1f}" if math.isfinite(a.bpm) and a.bpm > 0 else "?",
            a.camelot or "?", f"{a.energy:.2f}" if math.isfinite(a.energy) else "?",
        ]  # fmt: skip
        if arc:
            row.append(f"{plan.target_energy[pos]:.2f}")
        row += [f"{tr.cost:.2f}" if tr else "", _terms_text(dict(tr.terms)) if tr else "",
                tr.reason if tr else "opens the set"]  # fmt: skip
        table.add_row(*row)
    return table


def _matrix_table(matrix: list[list[float | None]], tracks: list[Track]) -> Table:
    table = Table(title="cost of playing the column's track right after the row's (input order, "
                  "arc ignored)", title_justify="left", box=None, header_style="bold")  # fmt: skip
    table.add_column("", no_wrap=True)
    for j in range(len(tracks)):
        table.add_column(str(j), justify="right", no_wrap=True)
    for i, row in enumerate(matrix):
        table.add_row(f"{i} {Path(tracks[i].path).name}",
                      *("–" if v is None else f"{v:.2f}" for v in row))  # fmt: skip
    return table


def _load(
    paths: list[Path], features: Path | None, settings: Settings
) -> tuple[list[Track], list[str]]:
    """Tracks from the features file, then from analysing PATHS (cached)."""
    from segue.pipeline import analyze_files, collect_inputs, distinct_audio
    from segue.sequencing.features_file import read_features_file

    tracks: list[Track] = []
    problems: list[str] = []
    if features is not None:
        tracks, problems = read_features_file(features)
    if paths:
        files, missing = collect_inputs(paths)
        problems += missing + _given_twice(paths)
        known = {Path(t.path).expanduser().resolve() for t in tracks}
        for f in files:
            if f.resolve() in known:
                problems.append(f"{f}: also in {features}, planned once")
        files = [f for f in files if f.resolve() not in known]
        files, copies = distinct_audio(files, once="planned once")
        problems += copies
        if files:
            with progress_bar(TextColumn("Analysing"), BarColumn(), MofNCompleteColumn()) as bar:
                task = bar.add_task("", total=len(files))

                def progress(stage: str, done: int, total: int) -> None:
                    bar.update(task, completed=done)

                analysed, failed = analyze_files(files, settings, progress)
            tracks += analysed
            problems += failed
    return tracks, problems


def _given_twice(paths: list[Path]) -> list[str]:
    """One message per file named again on the command line (it is planned once)."""
    seen: set[Path] = set()
    again: list[str] = []
    for p in paths:
        if p.is_file():
            key = p.resolve()
            if key in seen:
                again.append(f"{p}: given twice, planned once")
            seen.add(key)
    return again


def _profile(listener: Path | None, no_personal: bool) -> tuple[Listener | None, list[str]]:
    """The listener (personalisation off with ``--no-personal``), and what it ignored."""
    import dataclasses

    from segue.listener import read_listener

    if listener is None:
        return None, []
    profile, ignored = read_listener(listener)
    for line in ignored:
        warn(line)
    if no_personal:
        profile = dataclasses.replace(profile, personalise=False)
    return profile, ignored


def _personal_weights(
    profile: Listener | None, settings: Settings
) -> tuple[Any, list[str], list[str]]:
    """The term weights for ``profile``, notes on how they came about, and skipped lines.

    Raises
    ------
    SegueError
        When the listener's feedback file cannot be read.

    """
    from segue.sequencing import weights_from_settings
    from segue.sequencing.preference import listener_model

    base = weights_from_settings(settings)
    if profile is None:
        return base, [], []
    model, bad_lines = listener_model(profile)
    notes: list[str] = []
    if model is not None and model.fitted:
        changed = ", ".join(f"{k.replace('_', ' ')} ×{f:.2f}"
                            for k, f in model.factors().items() if abs(f - 1.0) >= 0.05)
        notes.append(f"weights personalised from {len(model.labelled)} feedback events: "
                     + (changed or "no change yet"))  # fmt: skip
    elif not profile.personalise:
        notes.append("personalisation off: default weights")
    return (model.weights(base) if model is not None else base), notes, bad_lines


@app.command(cls=_PlanCommand)
def plan(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Audio files or folders (analysed, cached).", readable=False),
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option("--features", help="What `segue analyze --json` printed (- for stdin).",
                     readable=False),
    ] = None,
    arc: Annotated[str | None, typer.Option("--arc", help=_ARC_OPTION_HELP)] = None,
    first: Annotated[
        Path | None, typer.Option("--first", help="Open with this track.", readable=False)
    ] = None,
    last: Annotated[
        Path | None, typer.Option("--last", help="End with this track.", readable=False)
    ] = None,
    listener: Annotated[
        Path | None,
        typer.Option("--listener", help="Listener profile (TOML): its feedback reweights terms.",
                     readable=False),
    ] = None,
    no_personal: Annotated[
        bool, typer.Option("--no-personal", help="Ignore the listener's feedback this time.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON on stdout.")]
    = False,
    matrix: Annotated[
        bool, typer.Option("--matrix", help="Also give the full cost matrix (arc ignored).")
    ] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: SEGUE_SEED).")]
    = None,
) -> None:
    """Order PATHS (or --features FILE) for the smoothest flow and explain each transition."""
    from segue.config import Settings
    from segue.sequencing import plan_order
    from segue.sequencing.arcs import ARCS

    if not paths and features is None:
        raise fail("nothing to plan: give audio files or folders, or --features FILE")
    if arc is not None and arc not in ARCS:
        raise fail(f"--arc {arc}: unknown energy arc; choose one of {', '.join(ARCS)}")
    try:
        settings = Settings.from_env()
        profile, problems = _profile(listener, no_personal)
        weights, notes, bad_lines = _personal_weights(profile, settings)
        tracks, skipped_inputs = _load(list(paths or []), features, settings)
    except SegueError as exc:
        raise fail(str(exc)) from exc
    for problem in [*bad_lines, *skipped_inputs]:
        skipped(problem)
    problems += [*bad_lines, *skipped_inputs]
    if not tracks:
        raise fail("nothing to plan: no usable tracks")
    if first is not None and last is not None and first == last and len(tracks) > 1:
        raise fail(f"--first and --last both name {first}: a track cannot open and close a set")
    try:
        result = plan_order(tracks, weights, arc=arc, first=first, last=last, listener=profile,
                            settings=settings, seed=seed)  # fmt: skip
    except SegueError as exc:
        raise fail(str(exc)) from exc
    _print_plan(result, tracks, matrix=matrix, as_json=as_json)
    for note in notes:
        err.print(note, highlight=False, soft_wrap=True)
    if problems:
        err.print(f"[yellow]{len(problems)} problem(s); see above.[/]")
        raise typer.Exit(1)


def _print_plan(result: Plan, tracks: list[Track], *, matrix: bool, as_json: bool) -> None:
    """The plan as a table on stdout (or JSON), with the cost matrix when asked."""
    from segue.sequencing import CostWeights, cost_matrix

    full: list[list[float | None]] | None = None
    if matrix:
        m, _ = cost_matrix(tracks, CostWeights.from_mapping(result.weights))
        full = [[None if i == j else round(float(m[i, j]), 4) for j in range(len(tracks))]
                for i in range(len(tracks))]  # fmt: skip
    if as_json:
        typer.echo(plan_json(result, tracks, full))
        return
    out.print(_plan_table(result))
    out.print(f"total cost {result.total_cost:.2f}", highlight=False)
    if full is not None:
        out.print(_matrix_table(full, tracks))
