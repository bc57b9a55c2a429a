"""``segue analyze``: tempo, key, loudness and cue points of files, cached, in parallel."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from segue.cli import app, err, fail, progress_bar, skipped, warn
from segue.errors import SegueError
from segue.text import readable

if TYPE_CHECKING:
    from segue.analysis.executor import Outcome

#: The JSON fields of one file, in order (the published contract; add, never remove).
JSON_FIELDS = (
    "path", "status", "error", "title", "artist", "album", "year", "genre", "duration_s",
    "bpm", "bpm_confidence", "key", "camelot", "key_confidence", "lufs",
    "loudness_range_lu", "true_peak_dbtp", "energy", "first_sound_s", "last_sound_s",
    "intro_end_s", "outro_start_s", "vocal_onset_s",
)  # fmt: skip
#: Extra fields after the contract ones.
EXTRA_FIELDS = ("vocal_confidence", "peak_dbfs", "brightness", "pulse_clarity", "timbre",
                "cached")


def _finite(value: Any) -> Any:
    """JSON has no infinities: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def outcome_json(outcome: Any) -> dict[str, Any]:
    """One file's JSON object: all :data:`JSON_FIELDS` (null when failed) and extras."""
    row: dict[str, Any] = dict.fromkeys(JSON_FIELDS + EXTRA_FIELDS)
    row["path"] = outcome.path
    row["status"] = "ok" if outcome.ok else "failed"
    row["error"] = outcome.error
    row["cached"] = outcome.cached
    if outcome.track is not None:
        tags, a = outcome.track.tags, outcome.track.analysis
        for name in ("title", "artist", "album", "year", "genre"):
            row[name] = getattr(tags, name)
        for name in JSON_FIELDS[8:] + EXTRA_FIELDS[:-1]:
            value = getattr(a, name)
            row[name] = list(value) if isinstance(value, tuple) else _finite(value)
    return row


def _short_key(key: str, camelot: str) -> str:
    """``"F# minor", "11A"`` → ``"F#m 11A"``."""
    tonic, _, mode = key.partition(" ")
    return f"{tonic}{'m' if mode == 'minor' else ''} {camelot}"


def _mmss(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def _summary_table(outcomes: list[Outcome]) -> Table:
    """One row per file, 80 columns wide: status, tempo, key, loudness, energy, cues."""
    table = Table(title=f"{len(outcomes)} file(s)", title_justify="left", box=None,

                  pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    table.add_column("file", no_wrap=True, max_width=22, overflow="ellipsis")
    widths = {"status": 6, "BPM": 5, "key": 7, "LUFS": 5, "dBTP": 5, "energy": 6, "intro": 5,
              "outro": 5, "vocal": 5}
    for col, width in widths.items():
        table.add_column(col, no_wrap=True, min_width=width,
                         justify="left" if col in ("status", "key") else "right")
    for o in outcomes:
        name = readable(Path(o.path).name)
        if o.track is None:
            table.add_row(name, "[red]failed[/]", *[""] * 8)
            continue
        a = o.track.analysis
        table.add_row(
            name, "cached" if o.cached else "[green]ok[/]", f"{a.bpm:.1f}",
            _short_key(a.key, a.camelot), f"{a.lufs:.1f}", f"{a.true_peak_dbtp:.1f}",
            f"{a.energy:.2f}", _mmss(a.intro_end_s), _mmss(a.outro_start_s),
            _mmss(a.vocal_onset_s),
        )  # fmt: skip
    return table


@app.command()
def analyze(
    paths: Annotated[
        list[Path], typer.Argument(help="Audio files or folders.", readable=False)
    ],
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=0, help="Parallel workers (0: one per core).")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array on stdout.")] = False,
    executor: Annotated[
        str, typer.Option("--executor", help="local, dask (local cluster) or dask://HOST:PORT.")
    ] = "local",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Analyse even cached files.")]
    = False,
) -> None:
    """Analyse PATHS: tempo, key, loudness, energy and cue points, one row per file."""
    from segue.analysis.executor import check_executor
    from segue.pipeline import collect_inputs

    try:
        check_executor(executor)
    except SegueError as exc:
        raise fail(str(exc)) from exc
    files, problems = collect_inputs(paths)
    if not files:  # one line names every culprit
        raise fail("nothing to analyse: " + ("; ".join(problems) or "no input files"))
    for problem in problems:
        skipped(problem)
    outcomes = _run(files, jobs=jobs, executor=executor, use_cache=not no_cache)
    table = _summary_table(outcomes)
    err.print(table)
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        err.print(f"[red]segue: failed[/] {o.error}", highlight=False, soft_wrap=True)
    cached = sum(o.cached for o in outcomes)
    err.print(f"{len(outcomes) - len(failed)} analysed, {len(failed)} failed "
              f"({cached} from the cache).", highlight=False)
    if as_json:
        typer.echo(json.dumps([outcome_json(o) for o in outcomes], indent=1))
    if failed or problems:
        raise typer.Exit(1)


def _run(files: list[Path], *, jobs: int, executor: str, use_cache: bool) -> list[Outcome]:
    """Analyse ``files`` under a progress bar, through the cache when there is one."""
    from segue.analysis.executor import analyze_paths, open_default_cache

    cache = None
    if use_cache:
        try:
            cache = open_default_cache()
        except SegueError as exc:  # an unusable cache slows analysis down, nothing more
            warn(f"analysing without a cache: {exc}")
    with progress_bar(
        TextColumn("Analysing"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.description}"), TimeRemainingColumn(),
    ) as bar:  # fmt: skip
        task = bar.add_task("", total=len(files))

        def progress(done: int, total: int, outcome: Outcome) -> None:
            bar.update(task, completed=done, description=Path(outcome.path).name)

        try:
            return analyze_paths(files, jobs=jobs, executor=executor, cache=cache,
                                 progress=progress)
        except SegueError as exc:
            bar.stop()
            raise fail(str(exc)) from exc
        finally:
            if cache is not None:
                cache.close()
