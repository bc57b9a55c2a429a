"""The ``segue`` command line: a thin shell over :mod:`segue.pipeline`.

One module per command in this package, each registering itself on :data:`app`.
Exit codes: 0 all good; 1 the job finished but something was skipped (each
culprit named on stderr); 2 nothing could be done (bad arguments, no usable input).
"""

from __future__ import annotations

import logging
import signal
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from segue import __version__

app = typer.Typer(
    name="segue",
    help="An open-source AI DJ: your music, ordered, narrated and mixed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

def _version(value: bool) -> None:
    if value:
        typer.echo(f"segue {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """segue: an open-source AI DJ."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_time=False, show_path=False)],
    )
    # A polite kill (SIGTERM) unwinds like Ctrl-C, so partial outputs are removed.
    signal.signal(signal.SIGTERM, _terminate)
    # numba and librosa are chatty at DEBUG; keep our own details only.
    for noisy in ("numba", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as one line on stderr and return the exit to raise."""
    err.print(f"[bold red]segue:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def skipped(what: str) -> None:
    """Print one line on stderr naming something the command skipped, and why."""
    err.print(f"[yellow]segue: skipped[/] {what}", highlight=False, soft_wrap=True)


# Commands register themselves on import; keep these imports at the bottom.
from segue.cli import analyze as analyze  # noqa: E402
from segue.cli import feedback as feedback  # noqa: E402
from segue.cli import plan as plan  # noqa: E402
from segue.cli import prompts as prompts  # noqa: E402
from segue.cli import render as render  # noqa: E402
from segue.cli import serve as serve  # noqa: E402
