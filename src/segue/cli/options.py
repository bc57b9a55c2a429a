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
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from segue.errors import SegueError, VoiceError

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
    typer.Option("--voice", help="Text-to-speech: auto (piper when installed, else "
                 "espeak-ng), pyttsx3, piper or openai (default: SEGUE_VOICE_ENGINE, else auto)."),
]  # fmt: skip


DurationOpt = Annotated[
    str | None,
    typer.Option("--duration", help="Play an endless show for this long, e.g. 3h, 90m, 45s or "
                 "seconds (it ends after the track that crosses it)."),
]  # fmt: skip
ArcOpt = Annotated[
    str | None,
    typer.Option("--arc", help="Energy arc: flat, rise, peak, wave or fall "
                 "(default: SEGUE_ARC, else peak)."),
]  # fmt: skip
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Seed for every choice (default: SEGUE_SEED, 0).")
]
PromptsOpt = Annotated[
    Path | None, typer.Option("--prompts", help="Prompts folder (default: SEGUE_PROMPTS_DIR "
                              "or ./prompts).")
]  # fmt: skip

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float:
    """Seconds in ``"3h"``, ``"90m"``, ``"45s"``, ``"1h30m"`` or plain ``"5400"``.

    Raises
    ------
    SegueError
        For anything else, or a duration that is not positive.
    """
    raw = text.strip().lower()
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                         r"(?:(\d+(?:\.\d+)?)s?)?", raw)  # fmt: skip
    if not raw or parts is None:
        raise SegueError(f"--duration {text!r}: expected e.g. 3h, 90m, 45s or seconds")
    h, m, sec = (float(g) if g else 0.0 for g in parts.groups())
    seconds = h * _UNITS["h"] + m * _UNITS["m"] + sec
    if seconds <= 0:
        raise SegueError(f"--duration {text!r}: must be longer than nothing")
    return seconds


def set_up(
    listener: Path | None,
    narrator_name: str | None,
    llm_base_url: str | None,
    llm_model: str | None,
    voice: str | None,
    *,
    seed: int | None = None,
    arc: str | None = None,
    prompts: Path | None = None,
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
                                                    llm_model, voice, seed=seed, arc=arc,
                                                    prompts=prompts)  # fmt: skip
    for problem in problems:
        log.warning("%s", problem)
    return profile, settings, narrator


def prepare(
    listener: Path | None,
    narrator_name: str | None,
    llm_base_url: str | None,
    llm_model: str | None,
    voice: str | None,
    *,
    seed: int | None = None,
    arc: str | None = None,
    prompts: Path | None = None,
) -> tuple[Listener, Settings, Narrator, list[str]]:
    """:func:`set_up`, and one message per thing the listener profile ignored.

    ``seed``, ``arc`` and ``prompts`` override the settings' seed and arc and the
    prompts folder.

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
    if seed is not None:
        settings = dataclasses.replace(settings, seed=seed)
    if arc is not None:
        from segue.sequencing.arcs import check_arc

        settings = dataclasses.replace(settings, arc=check_arc(arc))
    if settings.voice_engine not in ENGINES:
        raise VoiceError(
            f"unknown voice {settings.voice_engine!r}; choose one of {', '.join(ENGINES)}"
        )
    from segue.narration.templates import TemplateStore

    store = TemplateStore(prompts) if prompts is not None else None
    return profile, settings, make_narrator(settings.narrator, settings, store=store), problems
