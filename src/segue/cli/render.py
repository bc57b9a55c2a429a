"""``segue render``: files in, a narrated mix with transcript and timeline out."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, TaskID, TextColumn, TimeRemainingColumn

from segue.cli import (
    app,
    describe_os_error,
    err,
    fail,
    os_error_in,
    progress_bar,
    skipped,
    warn,
)
from segue.cli.options import (
    ArcOpt,
    DurationOpt,
    ListenerOpt,
    LlmBaseUrlOpt,
    LlmModelOpt,
    NarratorOpt,
    PathsArg,
    PromptsOpt,
    SeedOpt,
    VoiceOpt,
    parse_duration,
    prepare,
)
from segue.errors import SegueError

if TYPE_CHECKING:
    from segue.pipeline import RenderResult

_STAGES = {
    "analyse": "Analysing tracks",
    "plan": "Planning the order",
    "script": "Writing links",
    "voice": "Speaking links",
    "mix": "Mixing and encoding",
}


@app.command()
def render(
    paths: PathsArg,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Output mix: .mp3, .ogg, .opus, .flac or .wav.",
                     readable=False),
    ],
    listener: ListenerOpt = None,
    narrator_name: NarratorOpt = None,
    llm_base_url: LlmBaseUrlOpt = None,
    llm_model: LlmModelOpt = None,
    voice: VoiceOpt = None,
    duration: DurationOpt = None,
    arc: ArcOpt = None,
    seed: SeedOpt = None,
    prompts: PromptsOpt = None,
) -> None:
    """Render PATHS into one narrated, continuous mix, with transcript and timeline."""
    from segue.pipeline import render_set

    try:
        profile, settings, narrator, ignored = prepare(
            listener, narrator_name, llm_base_url, llm_model, voice, seed=seed, arc=arc,
            prompts=prompts)  # fmt: skip
        duration_s = parse_duration(duration) if duration is not None else None
    except SegueError as exc:
        raise fail(str(exc)) from exc
    for problem in ignored:
        warn(problem)

    with progress_bar(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
    ) as bar:  # fmt: skip
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        try:
            result = render_set(paths, out, listener=profile, settings=settings,
                                narrator=narrator, progress=progress, duration_s=duration_s)
        except SegueError as exc:
            bar.stop()
            raise fail(str(exc)) from exc
        except Exception as exc:
            # A full disk or a folder that vanished mid-render: name the file, no traceback.
            cause = os_error_in(exc)
            if cause is None:
                raise
            bar.stop()
            raise fail(describe_os_error(cause, str(out))) from exc

    _summarise(result, len(ignored))


def _summarise(result: RenderResult, ignored: int) -> None:
    """What was mixed, where it went, and what went wrong (exit 1 when anything did)."""
    for problem in result.problems:
        skipped(problem)
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
    problems = len(result.problems) + ignored
    if problems:
        err.print(f"[yellow]{problems} problem(s); see above.[/]")
        raise typer.Exit(1)
