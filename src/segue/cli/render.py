"""``segue render``: files in, a narrated mix with transcript and timeline out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from segue.cli import app, err, fail
from segue.config import Settings
from segue.errors import SegueError
from segue.listener import load_listener
from segue.models import Listener

_STAGES = {
    "analyse": "Analysing tracks",
    "plan": "Planning the order",
    "script": "Writing links",
    "voice": "Speaking links",
    "mix": "Mixing and encoding",
}


@app.command()
def render(
    paths: Annotated[list[Path], typer.Argument(help="Audio files or folders.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output mix: .mp3, .ogg, .opus, .flac or .wav.")
    ],
    listener: Annotated[
        Path | None, typer.Option("--listener", help="Listener profile (TOML).")
    ] = None,
) -> None:
    """Render PATHS into one narrated, continuous mix, with transcript and timeline."""
    from segue.pipeline import render_set

    try:
        profile = load_listener(listener) if listener else Listener()
        settings = Settings.from_env()
    except SegueError as exc:
        raise fail(str(exc)) from exc

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(), console=err, transient=True,
    ) as bar:  # fmt: skip
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            result = render_set(paths, out, listener=profile, settings=settings,
                                progress=progress)
        except SegueError as exc:
            bar.stop()
            raise fail(str(exc)) from exc

    for problem in result.problems:
        err.print(f"[yellow]segue: skipped[/] {problem}", highlight=False, soft_wrap=True)
    tl = result.timeline
    minutes, seconds = divmod(round(tl.duration_s), 60)
    err.print(
        f"[green]Mixed {len(tl.tracks)} tracks and {len(tl.links)} links "
        f"({minutes}:{seconds:02d}).[/]", highlight=False,
    )  # fmt: skip
    for label, path in result.artifacts.items():
        err.print(f"  {label:<10} {path}", highlight=False, soft_wrap=True)
    if result.problems:
        err.print(f"[yellow]{len(result.problems)} problem(s); see above.[/]")
        raise typer.Exit(1)
