"""``segue feedback``: record, inspect, export and delete a listener's feedback on transitions.

Feedback only reweights the sequencer's named cost terms for that listener
(:mod:`segue.sequencing.preference`); it lives in one JSON-lines file beside the
listener profile, which ``reset`` deletes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from segue.cli import app, describe_os_error, err, fail, skipped, warn
from segue.errors import SegueError

if TYPE_CHECKING:
    from segue.models import Listener, Track

feedback_app = typer.Typer(
    help="A listener's feedback on transitions: add, show, export, reset.",
    no_args_is_help=True,
)
app.add_typer(feedback_app, name="feedback")
out = Console()

ListenerArg = Annotated[Path, typer.Argument(help="Listener profile (TOML).", readable=False)]


def _listener(path: Path) -> tuple[Listener, int]:
    """The profile, and how many things in it were ignored (each warned on stderr)."""
    from segue.listener import read_listener

    try:
        profile, ignored = read_listener(path)
    except SegueError as exc:
        raise fail(str(exc)) from exc
    for line in ignored:
        warn(line)
    return profile, len(ignored)


def _done(ignored: int) -> None:
    """Exit 1 when the profile had something ignored: the job is done, not all was used."""
    if ignored:
        raise typer.Exit(1)


def _track(path: Path, features: Path | None) -> Track:
    """The track at ``path``: from the features file when given, else analysed (cached)."""
    from segue.config import Settings
    from segue.pipeline import analyze_files
    from segue.sequencing.features_file import read_features_file
    from segue.sequencing.plan import find_track

    if features is not None:
        tracks, _ = read_features_file(features)
        try:
            return tracks[find_track(tracks, path)]
        except SegueError as exc:
            raise SegueError(f"{path}: not among the tracks in {features}") from exc
    if not path.is_file():
        raise SegueError(f"{path}: no such file")
    tracks, problems = analyze_files([path], Settings.from_env())
    if not tracks:
        raise SegueError("; ".join(problems) or f"{path}: analysis failed")
    return tracks[0]


@feedback_app.command("add")
def add(
    listener: ListenerArg,
    from_path: Annotated[
        Path, typer.Argument(metavar="FROM", help="The track that ended.", readable=False)
    ],
    to_path: Annotated[
        Path, typer.Argument(metavar="TO", help="The track that followed.", readable=False)
    ],
    skip_at: Annotated[
        float | None,
        typer.Option("--skip-at", help="Skipped TO after this many seconds (≤ 30: negative)."),
    ] = None,
    like: Annotated[bool, typer.Option("--like", help="Liked TO (positive).")] = False,
    full_play: Annotated[
        bool, typer.Option("--full-play", help="Played TO to the end (positive).")
    ] = False,
    features: Annotated[
        Path | None,
        typer.Option("--features", help="Take both tracks from this analysis JSON.",
                     readable=False),
    ] = None,
) -> None:
    """Record how the listener took the transition FROM → TO."""
    from segue.sequencing.preference import Outcome, append_feedback, feedback_event

    given = [skip_at is not None, like, full_play]
    if sum(given) != 1:
        raise fail("say exactly one of --skip-at SECONDS, --like, --full-play")
    if skip_at is not None and skip_at < 0:
        raise fail(f"--skip-at {skip_at}: seconds cannot be negative")
    outcome: Outcome = "skip" if skip_at is not None else "like" if like else "full_play"
    profile, ignored = _listener(listener)
    if not profile.feedback_path:
        raise fail(f"{listener}: no feedback file")
    try:
        event = feedback_event(_track(from_path, features), _track(to_path, features), outcome,
                               listened_s=skip_at)  # fmt: skip
    except SegueError as exc:
        raise fail(str(exc)) from exc
    try:
        append_feedback(profile.feedback_path, [event])
    except OSError as exc:
        where = describe_os_error(exc, profile.feedback_path)
        raise fail(f"cannot record feedback: {where}") from exc
    label = {True: "positive", False: "negative", None: "neutral (skipped after 30 s)"}
    err.print(f"recorded {outcome} ({label[event.label]}) in {profile.feedback_path}",
              highlight=False, soft_wrap=True)  # fmt: skip
    _done(ignored)


@feedback_app.command("show")
def show(listener: ListenerArg) -> None:
    """What the listener's feedback has taught: events, and each term's weight."""
    from segue.config import Settings
    from segue.sequencing import weights_from_settings
    from segue.sequencing.preference import export_feedback

    profile, ignored = _listener(listener)
    try:
        data = export_feedback(profile, weights_from_settings(Settings.from_env()))
    except SegueError as exc:
        raise fail(str(exc)) from exc
    for line in data["skipped_lines"]:
        skipped(line)
    state = "on" if data["personalise"] else "off (enabled = false in [personalisation])"
    out.print(f"personalisation {state}; feedback file {data['feedback_file']}", highlight=False)
    out.print(f"{len(data['events'])} events, {data['labelled_events']} that count",
              highlight=False)  # fmt: skip
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("term", "factor", "weight"):
        table.add_column(col, justify="left" if col == "term" else "right")
    for term, factor in data["factors"].items():
        table.add_row(term.replace("_", " "), f"×{factor:.2f}", f"{data['weights'][term]:.3f}")
    out.print(table)
    _done(len(data["skipped_lines"]) + ignored)


@feedback_app.command("export")
def export(
    listener: ListenerArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here (never overwritten).", readable=False),
    ] = None,
) -> None:
    """Everything personalisation knows about the listener, as JSON (stdout or --output)."""
    from segue.config import Settings
    from segue.sequencing import weights_from_settings
    from segue.sequencing.preference import export_feedback

    profile, ignored = _listener(listener)
    try:
        data = export_feedback(profile, weights_from_settings(Settings.from_env()))
    except SegueError as exc:
        raise fail(str(exc)) from exc
    for line in data["skipped_lines"]:
        skipped(line)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        _write_new(output, text)
        err.print(f"exported {len(data['events'])} events to {output}", highlight=False)
    _done(len(data["skipped_lines"]) + ignored)


def _write_new(output: Path, text: str) -> None:
    """Write ``text`` to a new file ``output``; an existing file is never overwritten."""
    try:
        with output.open("x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError as exc:
        kind = "a folder" if output.is_dir() else "a file"
        raise fail(f"{output}: already exists ({kind}), not overwritten") from exc
    except OSError as exc:
        raise fail(f"{output}: cannot write ({exc.strerror or exc})") from exc


@feedback_app.command("reset")
def reset(
    listener: ListenerArg,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete the feedback file.")] = False,
) -> None:
    """Delete the listener's feedback file: the order goes back to the default weights."""
    from segue.sequencing.preference import delete_feedback, read_feedback

    profile, ignored = _listener(listener)
    if not profile.feedback_path:
        raise fail(f"{listener}: no feedback file")
    try:
        events, _ = read_feedback(profile.feedback_path)
    except SegueError as exc:
        raise fail(str(exc)) from exc
    if not yes:
        raise fail(f"would delete {len(events)} events in {profile.feedback_path}; "
                   "add --yes to do it")  # fmt: skip
    try:
        deleted = delete_feedback(profile.feedback_path)
    except OSError as exc:
        raise fail(f"{profile.feedback_path}: cannot delete ({exc.strerror or exc})") from exc
    err.print(f"deleted {profile.feedback_path} ({len(events)} events)" if deleted
              else f"no feedback to delete ({profile.feedback_path})", highlight=False)
    _done(ignored)
