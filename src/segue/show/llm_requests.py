"""Requests the rules do not understand, read by an LLM into the rules' own commands.

The offline interpreter (:mod:`segue.show.requests`) decides first. When it does not
understand a request ("put on that song about space", "etwas Ruhigeres bitte") and
the show's narrator is an LLM backend, the backend is asked, through the template
``prompts/requests/request.j2``, to rewrite the request as at most
:data:`MAX_COMMANDS` commands in the interpreter's own forms ("play Nebula", "more
ambient", "something calmer", "less talk"). Those commands are then read by the same
rules against the same library, so the LLM's answer is validated like any other:
a command that names nothing in the library, or that no rule understands, changes
nothing. The call has its own short deadline (:data:`DEADLINE_S`) and goes through
the backend's circuit breaker; when it fails the rules' answer stands.

Only the template's rendering leaves the machine: the request, and artists, genres
and titles of the library (at most :data:`MAX_NAMES` of each, those sharing words
with the request first), never file paths.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from segue.errors import NarrationError
from segue.narration.narrator import LineGenerator, Narrator
from segue.narration.templates import TemplateStore
from segue.show.requests import Catalogue, fold

log = logging.getLogger(__name__)

#: The template, in the ``requests`` folder of the prompts folder.
TEMPLATE = "request"
#: Seconds the listener waits at most for the LLM's reading.
DEADLINE_S = 5.0
MAX_COMMANDS = 4
#: Characters a command may have (longer ones are not commands but prose).
MAX_COMMAND_CHARS = 80
#: Names of each kind (artists, genres, titles) the prompt carries at most.
MAX_NAMES = 60
MAX_TOKENS = 120


@dataclass(frozen=True)
class LLMReading:
    """The commands an LLM read a request as (empty on failure), or why there are none."""

    commands: tuple[str, ...]
    problem: str | None = None


class LLMRequestReader:
    """Asks an LLM backend to rewrite a request as interpreter commands (thread-safe)."""

    def __init__(self, backend: LineGenerator, store: TemplateStore, *,
                 deadline_s: float = DEADLINE_S) -> None:  # fmt: skip
        self.backend = backend
        self.store = store
        self.deadline_s = deadline_s

    def read(self, text: str, catalogue: Catalogue, talk_level: str) -> LLMReading:
        """The commands ``text`` reads as, within :attr:`deadline_s`; never raises."""
        if self.backend.breaker.state == "open":  # the backend's own call asks it properly
            return LLMReading((), f"{self.backend.breaker.name} is resting after failures")
        try:
            prompt = self.store.render_all(TEMPLATE, _context(text, catalogue, talk_level))
            answer = self.backend.generate(prompt, max_tokens=MAX_TOKENS,
                                           deadline=time.monotonic() + self.deadline_s, seed=0)
        except NarrationError as exc:
            log.info("request %r: the LLM gave no reading (%s)", text, exc)
            return LLMReading((), str(exc))
        commands = parse_commands(answer.text)
        if commands is None:
            return LLMReading((), "the LLM's answer was not the JSON asked for")
        return LLMReading(commands)


def parse_commands(answer: str) -> tuple[str, ...] | None:
    """The ``commands`` of an answer ``{"commands": [...]}`` (fenced or not), else ``None``.

    At most :data:`MAX_COMMANDS` are kept; entries that are not short strings are dropped.
    """
    match = re.search(r"\{.*\}", answer, re.DOTALL)
    if match is None:
        return None
    try:
        data: Any = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("commands"), list):
        return None
    kept = [" ".join(c.split()) for c in data["commands"]
            if isinstance(c, str) and 0 < len(c.strip()) <= MAX_COMMAND_CHARS]
    return tuple(kept[:MAX_COMMANDS])


def _ranked(names: list[str], words: set[str]) -> list[str]:
    """``names`` with those sharing words with the request first, at most :data:`MAX_NAMES`."""
    def shared(name: str) -> int:
        return len(words & set(fold(name).split()))

    return sorted(names, key=lambda n: (-shared(n), fold(n)))[:MAX_NAMES]


def _context(text: str, catalogue: Catalogue, talk_level: str) -> dict[str, Any]:
    words = set(fold(text).split())
    titles = sorted({t.tags.title for t in catalogue.tracks.values()})
    return {"request": text, "talk_level": talk_level, "max_commands": MAX_COMMANDS,
            "artists": _ranked(list(catalogue.artists.values()), words),
            "genres": _ranked(sorted(catalogue.genres), words),
            "titles": _ranked(titles, words)}  # fmt: skip


def reader_for(narrator: Narrator) -> LLMRequestReader | None:
    """A reader on ``narrator``'s LLM backend; ``None`` for the template narrator.

    ``None`` too when the narrator's prompts folder has no ``requests/`` template (a
    custom folder made before it existed): requests are then read by the rules alone.
    """
    backend = getattr(narrator, "backend", None)
    if backend is None:
        return None
    folder = narrator.store.directory / "requests"
    if not (folder / f"{TEMPLATE}.j2").is_file():
        log.info("%s: no %s.j2, so requests are read by the rules alone", folder, TEMPLATE)
        return None
    return LLMRequestReader(backend, TemplateStore(folder))
