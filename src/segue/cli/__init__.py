"""The ``segue`` command line: a thin shell over :mod:`segue.pipeline`.

One module per command in this package, each registering itself on :data:`app`.
A command's module is imported only when that command runs or shows its help
(:data:`COMMANDS`), so ``segue --help`` starts without numba, librosa or scipy.

Exit codes: 0 all good; 1 the job finished but something was skipped (each
culprit named on stderr); 2 nothing could be done (bad arguments, no usable input).
Every error ends as one line on stderr, ``segue: <culprit>: <what is wrong>``:
usage errors, segue's own errors and, as a last resort, any unexpected exception
(its traceback goes to the log, shown with ``--verbose``). The README's
"Bad input" table lists the cases; ``tests/test_cli_errors.py`` walks it.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn, cast

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup, TyperOption

from segue import __version__
from segue.errors import SegueError
from segue.text import one_line

log = logging.getLogger(__name__)
err = Console(stderr=True)

#: Every command: the module that defines it, and its summary for ``segue --help``
#: (the first line of the command's own help; a test keeps the two equal).
COMMANDS: dict[str, tuple[str, str]] = {
    "render": ("segue.cli.render",
               "Render PATHS into one narrated, continuous mix, with transcript and timeline."),
    "serve": ("segue.cli.serve",
              "Serve PATHS as a live station: streams, personal sessions and a web player at /."),
    "analyze": ("segue.cli.analyze",
                "Analyse PATHS: tempo, key, loudness, energy and cue points, one row per file."),
    "plan": ("segue.cli.plan",
             "Order PATHS (or --features FILE) for the smoothest flow and explain each "
             "transition."),
    "feedback": ("segue.cli.feedback",
                 "A listener's feedback on transitions: add, show, export, reset."),
    "prompts": ("segue.cli.prompts",
                "The prompt workbench: list, show, preview, evaluate and compare templates."),
}  # fmt: skip


def _line(text: str) -> str:
    """``text`` on one line, safe from rich markup (a ``[likes]`` stays as typed).

    See :func:`segue.text.one_line` (a file name that is not UTF-8 is shown with its
    bytes read as Latin-1).
    """
    return escape(one_line(str(text)))


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as one line on stderr and return the exit to raise."""
    err.print(f"[bold red]segue:[/] {_line(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def skipped(what: str) -> None:
    """Print one line on stderr naming something the command skipped, and why."""
    err.print(f"[yellow]segue: skipped[/] {_line(what)}", highlight=False, soft_wrap=True)


def warn(what: str) -> None:
    """Print one line on stderr naming something odd that did not stop the command."""
    err.print(f"[yellow]segue: warning:[/] {_line(what)}", highlight=False, soft_wrap=True)


def progress_bar(*columns: Any) -> Any:
    """A transient rich progress bar on stderr, shown only when stderr is a terminal.

    Redirected to a file or a pipe, stderr then holds only the lines that name
    culprits, and no control characters or blank lines from the bar.
    """
    from rich.progress import Progress

    return Progress(*columns, console=err, transient=True, disable=not err.is_terminal)


def os_error_in(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` (itself, or what it was raised from), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe_os_error(exc: OSError, fallback: str = "") -> str:
    """``"<file>: <reason>"`` for an OSError, naming ``fallback`` when it names no file."""
    where = exc.filename if exc.filename is not None else fallback
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{os.fsdecode(where)}: {reason}" if where else reason


class _LineHandler(logging.Handler):
    """Each log record as one line on stderr; tracebacks only with ``--verbose``."""

    def __init__(self, verbose: bool) -> None:
        super().__init__(logging.DEBUG if verbose else logging.WARNING)
        self.verbose = verbose

    def emit(self, record: logging.LogRecord) -> None:
        # A library's Python warning says nothing about the user's input: details only.
        if record.name == "py.warnings" and not self.verbose:
            return
        try:
            text = _line(record.getMessage())
            if record.levelno >= logging.WARNING:
                level = record.levelname.lower()
                err.print(f"[yellow]segue: {level}:[/] {text}", highlight=False, soft_wrap=True)
            else:
                err.print(f"[dim]{escape(record.name)}:[/] {text}", highlight=False,
                          soft_wrap=True)  # fmt: skip
            if record.exc_info and self.verbose:
                err.print(escape("".join(traceback.format_exception(*record.exc_info))),
                          highlight=False, soft_wrap=True)  # fmt: skip
        except Exception:  # logging must never take the command down
            self.handleError(record)


class _Placeholder(TyperCommand):
    """Stands in for a command in ``segue --help`` until the command is run."""


def load_command(name: str) -> Any:
    """Import the module of command ``name`` and return its click command."""
    importlib.import_module(COMMANDS[name][0])
    # The module registered itself on `app`; build the group again to get its command.
    return cast(TyperGroup, typer.main.get_command(app)).commands[name]


class SegueGroup(TyperGroup):
    """The root command: lazy subcommands, and one line on stderr for every error."""

    def list_commands(self, ctx: Any) -> list[str]:
        """Command names in the order of :data:`COMMANDS`, then any registered otherwise."""
        return [*COMMANDS, *(n for n in super().list_commands(ctx) if n not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command, or a placeholder carrying its summary when not imported yet."""
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and cmd_name in COMMANDS:
            cmd = _Placeholder(name=cmd_name, help=COMMANDS[cmd_name][1])
        return cmd

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """The command to run, imported now; an unknown name suggests the nearest ones."""
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            close = difflib.get_close_matches(args[0], self.list_commands(ctx), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            ctx.fail(f"no such command {args[0]!r}{hint} (commands: "
                     f"{', '.join(self.list_commands(ctx))})")  # fmt: skip
        name, cmd, rest = super().resolve_command(ctx, args)
        if isinstance(cmd, _Placeholder) and name is not None:
            cmd = self.loaded(name)
        return name, cmd, rest

    def loaded(self, name: str) -> Any:
        """Command ``name`` of :data:`COMMANDS`, imported once, in place of its placeholder."""
        if name not in self.commands or isinstance(self.commands[name], _Placeholder):
            self.commands[name] = load_command(name)
        return self.commands[name]

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; in standalone mode, turn every error into one line."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args,
                                **extra)  # fmt: skip
        empty = _empty_argument(list(sys.argv[1:] if args is None else args), self)
        if empty is not None:
            fail(f"argument {empty} is empty (an unset shell variable?); "
                 "give a file or folder, or quote what you meant")
            sys.exit(2)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args,
                                **extra)  # fmt: skip
        except typer.TyperException as exc:  # click's usage errors
            code = _usage_error(exc)
        except typer.Abort:
            err.print("[bold red]segue:[/] aborted", highlight=False)
            code = 1
        except SegueError as exc:  # raised on purpose, naming its culprit
            fail(str(exc))
            code = 2
        except Exception as exc:
            code = _last_resort(exc)
        sys.exit(code if isinstance(code, int) else 0)


def _empty_argument(argv: list[str], root: SegueGroup) -> int | None:
    """The 1-based position of the first empty positional argument, if any.

    ``segue render "$MUSIC"`` with the variable unset passes ``""``, which a path
    reads as the current folder: a whole home folder would be analysed. An option's
    value may be empty (``--name ""``); an empty word anywhere else, after a flag too
    (``segue -v ""``), is refused. The flags are those of the commands named so far.
    """
    command: TyperCommand | TyperGroup = root
    flags = _flags(root)
    for i, arg in enumerate(argv):
        before = argv[i - 1] if i else ""
        is_value = before.startswith("-") and "=" not in before and before not in flags
        if not arg.strip() and not is_value:
            return i + 1
        if arg.strip() and not is_value and not arg.startswith("-"):
            sub = _subcommand(root, command, arg)
            if sub is not None:
                command, flags = sub, flags | _flags(sub)
    return None


def _flags(command: TyperCommand | TyperGroup) -> set[str]:
    """The names of ``command``'s options that take no value."""
    return {"--help", *(name for p in command.params
                        if isinstance(p, TyperOption) and (p.is_flag or p.count)
                        for name in (*p.opts, *p.secondary_opts))}


def _subcommand(root: SegueGroup, command: TyperCommand | TyperGroup, name: str
                ) -> TyperCommand | TyperGroup | None:
    """The subcommand ``name`` of ``command`` (imported now for the root), if it is one."""
    if not isinstance(command, TyperGroup):
        return None
    found = root.loaded(name) if command is root and name in COMMANDS else (
        command.commands.get(name))
    return found if isinstance(found, TyperCommand | TyperGroup) else None


def _usage_error(exc: typer.TyperException) -> int:
    """Print a usage error on one line, with where help is; its exit code."""
    # The command already printed its help for `segue` alone (as typer does, by name).
    if type(exc).__name__ != "NoArgsIsHelpError":
        ctx = getattr(exc, "ctx", None)
        where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        fail(exc.format_message() + where)
    return exc.exit_code


def _last_resort(exc: Exception) -> int:
    """One line for an exception nobody expected; the traceback goes to the log."""
    log.debug("unexpected error", exc_info=exc)
    cause = os_error_in(exc)
    if cause is not None:
        fail(describe_os_error(cause))
    else:
        fail(f"unexpected error: {type(exc).__name__}: {exc} (a bug; --verbose shows where)")
    return 2


def _version(value: bool) -> None:
    if value:
        typer.echo(f"segue {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="segue",
    help="An open-source AI DJ: your music, ordered, narrated and mixed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=SegueGroup,
)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """segue: an open-source AI DJ."""
    from segue.config import unknown_variables

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        handlers=[_LineHandler(verbose)], force=True)  # fmt: skip
    logging.captureWarnings(True)  # multi-line warnings.warn output becomes one record
    # A polite kill (SIGTERM) unwinds like Ctrl-C, so partial outputs are removed.
    signal.signal(signal.SIGTERM, _terminate)
    # numba and librosa are chatty at DEBUG; keep our own details only.
    for noisy in ("numba", "matplotlib", "PIL", "httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for problem in unknown_variables(os.environ):
        warn(problem)


def _terminate(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)
