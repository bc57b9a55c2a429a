"""``segue render``: files in, a narrated mix with transcript and timeline out."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from segue.cli import app, err, fail
from segue.config import Settings
from segue.errors import SegueError
from segue.listener import load_listener
from segue.models import Listener
from segue.narration import make_narrator
from segue.narration.backends import llm_settings

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
    narrator_name: Annotated[
        str | None,
        typer.Option("--narrator", help="Who writes the links: template, openai or local "
                     "(default: SEGUE_NARRATOR, else template)."),
    ] = None,
    llm_base_url: Annotated[
        str | None, typer.Option("--llm-base-url", help="OpenAI-compatible server URL.")
    ] = None,
    llm_model: Annotated[
        str | None, typer.Option("--llm-model", help="Model name (openai) or GGUF path (local).")
    ] = None,
    voice: Annotated[
        str | None,
        typer.Option("--voice", help="Text-to-speech: pyttsx3, piper or openai "
                     "(default: SEGUE_VOICE_ENGINE, else pyttsx3)."),
    ] = None,
) -> None:
    """Render PATHS into one narrated, continuous mix, with transcript and timeline."""
    from segue.pipeline import render_set

    try:
        profile = load_listener(listener) if listener else Listener()
        settings = Settings.from_env()
        settings = llm_settings(settings, narrator_name, llm_base_url, llm_model)
        if voice is not None:
            settings = dataclasses.replace(settings, voice_engine=voice)
        narrator = make_narrator(settings.narrator, settings)
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
                                narrator=narrator, progress=progress)
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
    fallbacks = [lk for lk in tl.links if lk.fallback]
    if fallbacks:
        err.print(f"  {len(fallbacks)} of {len(tl.links)} links fell back to the template "
                  f"narrator (reasons in the timeline's links[].fallback)", highlight=False)
    for label, path in result.artifacts.items():
        err.print(f"  {label:<10} {path}", highlight=False, soft_wrap=True)
    if result.problems:
        err.print(f"[yellow]{len(result.problems)} problem(s); see above.[/]")
        raise typer.Exit(1)
