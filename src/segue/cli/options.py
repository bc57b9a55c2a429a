"""Options shared by the commands that play a set (``render``, ``serve``).

One definition of each option, and one place that turns them into the
listener, settings and narrator, so the commands cannot drift apart. The
pipeline's stages are imported inside the functions, never here, so that
importing a command stays light (see :mod:`segue.cli`).

Paths are taken as given (``readable=False``): an unreadable file is named and
skipped by the command like any other unusable input, not refused by the parser.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from segue.errors import VoiceError

if TYPE_CHECKING:
    from segue.config import Settings
    from segue.models import Listener
    from segue.narration.narrator import Narrator

PathsArg = Annotated[
    list[Path], typer.Argument(help="Audio files or folders.", readable=False)
]
log = logging.getLogger(__name__)
ListenerOpt = Annotated[
    Path | None, typer.Option("--listener", help="Listener profile (TOML).", readable=False)
]
NarratorOpt = Annotated[
    str | None,
    typer.Option("--narrator", help="Who writes the links: template, openai or local "
                 "(default: SEGUE_NARRATOR, else template)."),
]  # fmt: skip
LlmBaseUrlOpt = Annotated[
    str | None, typer.Option("--llm-base-url", help="OpenAI-compatible server URL.")
]
LlmModelOpt = Annotated[
    str | None, typer.Option("--llm-model", help="Model name (openai) or GGUF path (local).")
]
VoiceOpt = Annotated[
    str | None,
    typer.Option("--voice", help="Text-to-speech: pyttsx3, piper or openai "
                 "(default: SEGUE_VOICE_ENGINE, else pyttsx3)."),
]  # fmt: skip


def set_up(
    listener: Path | None,
    narrator_name: str | None,
    llm_base_url: str | None,
    llm_model: str | None,
    voice: str | None,
) -> tuple[Listener, Settings, Narrator]:
    """Read the listener and settings and build the narrator, before any work.

    What the profile ignores (unknown keys, an unknown language) is logged as a
    warning; :func:`prepare` returns it instead.

    Raises
    ------
    SegueError
        Naming the culprit: an unreadable profile, a bad ``SEGUE_*`` value, an
        unknown narrator or voice.

    """
    profile, settings, narrator, problems = prepare(listener, narrator_name, llm_base_url,
                                                    llm_model, voice)  # fmt: skip
    for problem in problems:
        log.warning("%s", problem)
    return profile, settings, narrator


def prepare(
    listener: Path | None,
    narrator_name: str | None,
    llm_base_url: str | None,
    llm_model: str | None,
    voice: str | None,
) -> tuple[Listener, Settings, Narrator, list[str]]:
    """:func:`set_up`, and one message per thing the listener profile ignored.

    Raises
    ------
    SegueError
        As :func:`set_up` does.

    """
    from segue.config import Settings
    from segue.listener import read_listener
    from segue.models import Listener
    from segue.narration import make_narrator
    from segue.narration.backends import llm_settings
    from segue.voice.engines import ENGINES

    profile, problems = read_listener(listener) if listener else (Listener(), [])
    settings = llm_settings(Settings.from_env(), narrator_name, llm_base_url, llm_model)
    if voice is not None:
        settings = dataclasses.replace(settings, voice_engine=voice)
    if settings.voice_engine not in ENGINES:
        raise VoiceError(
            f"unknown voice {settings.voice_engine!r}; choose one of {', '.join(ENGINES)}"
        )
    return profile, settings, make_narrator(settings.narrator, settings), problems
