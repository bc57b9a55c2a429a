"""The narrator interface, the offline template narrator and the guarded LLM narrator.

A narrator turns a :class:`LinkRequest` (template name, context, word budget)
into a :class:`Line`: the words of one link and who wrote them.

- :class:`TemplateNarrator` renders the template's ``line`` block itself; its
  ``pick`` filter chooses among phrasings deterministically for a seed and
  never opens two links of a set the same way. Offline, instant, the default.
- :class:`GuardedNarrator` asks a :class:`LineGenerator` (an LLM backend) for
  the line, runs the guards of :mod:`segue.narration.guards` on the answer, and
  falls back to the template narrator for that line on an error, a missed
  deadline or a failed guard, recording why.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from segue.config import Settings
from segue.errors import NarrationError
from segue.models import Delivery, LinkKind
from segue.narration.cache import LineCache, line_key
from segue.narration.guards import (
    banned_list,
    check_line,
    known_names,
    line_opener,
    line_shape,
)
from segue.narration.templates import Picker, RenderedPrompt, TemplateStore
from segue.narration.text import fit_budget, word_count

__all__ = [
    "Generation",
    "GuardedNarrator",
    "Line",
    "LineGenerator",
    "LinkRequest",
    "Narrator",
    "TemplateNarrator",
    "fit_budget",
    "word_count",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkRequest:
    """Everything a narrator needs to write one link.

    ``recent`` holds the earlier lines of the set (oldest first) and
    ``recent_openers`` their openers (:func:`~segue.narration.guards.line_opener`),
    for the variety guards.
    """

    before_track: int
    kind: LinkKind
    template: str
    context: Mapping[str, Any]
    word_budget: int
    must_mention: tuple[str, ...]
    recent: tuple[str, ...] = ()
    delivery: Delivery = "talkover"
    recent_openers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Line:
    """The words of one link and how they came to be.

    ``backend`` wrote ``text``; ``fallback_reason`` says why another backend's
    answer was refused (``None`` when it was not). ``prompt`` is what the
    template rendered, ``raw`` what the model answered, ``latency_s`` the time
    spent on the line (generation, guards and fallback), ``cached`` whether the
    answer came from the cache, ``problems`` the guards' findings on the
    refused answer.
    """

    text: str
    backend: str
    template: str
    fallback_reason: str | None = None
    prompt: RenderedPrompt | None = None
    raw: str | None = None
    latency_s: float = 0.0
    cached: bool = False
    problems: tuple[str, ...] = field(default=())


class Narrator(Protocol):
    """One interface for every way of writing links (template, LLM backends)."""

    name: str

    def narrate(self, request: LinkRequest) -> Line:
        """Return the line for ``request``."""
        ...


@dataclass(frozen=True)
class Generation:
    """A backend's raw answer; ``truncated`` when it hit the token limit."""

    text: str
    truncated: bool = False


class LineGenerator(Protocol):
    """An LLM backend: turns a rendered prompt into raw text, or raises NarrationError."""

    name: str

    @property
    def model(self) -> str:
        """The model's name (part of the cache key and of reports)."""
        ...

    def generate(
        self, prompt: RenderedPrompt, *, max_tokens: int, deadline: float, seed: int
    ) -> Generation:
        """Answer ``prompt`` before ``deadline`` (a :func:`time.monotonic` value)."""
        ...


class _SetPicker(Picker):
    """Seeded choice that avoids the openers and phrasings already used in the set.

    A phrasing is an option with the context's names masked, so "Here's A, from
    B" and "Here's C, from D" count as the same one.
    """

    def __init__(self, narrator: TemplateNarrator, request: LinkRequest) -> None:
        self.narrator = narrator
        self.before_track = request.before_track
        self.names = known_names(request.context)
        self.calls = 0

    def choose(self, options: list[str]) -> str:
        rng = random.Random(f"{self.narrator.seed}:{self.before_track}:{self.calls}")
        self.calls += 1
        used_o, used_s = self.narrator.used_openers, self.narrator.used_shapes
        shapes = {o: " ".join(line_shape(o, self.names)) for o in options}
        openers = {o: line_opener(o, self.names) for o in options}
        fresh = [o for o in options if openers[o] not in used_o and shapes[o] not in used_s]
        fresh = fresh or [o for o in options if openers[o] not in used_o]
        choice = rng.choice(fresh or options)
        used_o.add(openers[choice])
        used_s.add(shapes[choice])
        return choice


class TemplateNarrator:
    """Offline, deterministic narrator: the template's own words, varied by ``pick``."""

    name = "template"

    def __init__(self, store: TemplateStore, *, seed: int = 0) -> None:
        self.store = store
        self.seed = seed
        self.used_openers: set[str] = set()
        self.used_shapes: set[str] = set()

    def reset(self) -> None:
        """Forget the openers and phrasings used so far (call at the start of each set)."""
        self.used_openers.clear()
        self.used_shapes.clear()

    def note(self, text: str, names: Sequence[str] = ()) -> None:
        """Record a line spoken in this set (by any backend) so no later one opens like it."""
        self.used_openers.add(line_opener(text, names))

    def narrate(self, request: LinkRequest) -> Line:
        """Render the request's ``line`` block and fit it to the word budget."""
        start = time.perf_counter()
        text = self.store.render(
            request.template, request.context, _SetPicker(self, request)
        )
        text = fit_budget(text, request.word_budget, request.must_mention)
        return Line(text=text, backend=self.name, template=request.template,
                    latency_s=time.perf_counter() - start)  # fmt: skip

    def write(self, request: LinkRequest) -> str:
        """The text of :meth:`narrate` alone."""
        return self.narrate(request).text


class GuardedNarrator:
    """An LLM backend behind the guards, with the template narrator as its fallback.

    Per line: render the template's prompt, ask the backend (through the cache),
    check the answer; on a failed guard, generate once more while the deadline
    allows; on an error, a missed deadline or a second failure, speak the
    template's line instead and record the reason.
    """

    def __init__(
        self,
        backend: LineGenerator,
        store: TemplateStore,
        settings: Settings,
        *,
        cache: LineCache | None = None,
        fallback: TemplateNarrator | None = None,
        attempts: int = 2,
    ) -> None:
        self.backend = backend
        self.name = backend.name
        self.store = store
        self.settings = settings
        self.cache = cache
        self.fallback = fallback or TemplateNarrator(store, seed=settings.seed)
        self.attempts = max(1, attempts)
        self.banned = banned_list(settings.banned_phrases)

    def reset(self) -> None:
        """Start a new set: forget the openers used so far."""
        self.fallback.reset()

    def max_tokens(self, word_budget: int) -> int:
        """Token limit for a line of ``word_budget`` words (about 1.5 tokens a word, plus room)."""
        return max(16, min(self.settings.llm_max_tokens, 2 * word_budget + 16))

    def _generate(
        self, request: LinkRequest, prompt: RenderedPrompt, attempt: int, deadline: float
    ) -> tuple[Generation, bool]:
        template = self.store.get(request.template)
        max_tokens = self.max_tokens(request.word_budget)
        key = line_key(
            template=template.name, template_digest=template.digest, context=request.context,
            backend=self.backend.name, model=self.backend.model,
            variant=f"t={self.settings.llm_temperature};max={max_tokens};"
                    f"seed={self.settings.seed};try={attempt}",
        )  # fmt: skip
        if self.cache is not None and self.settings.llm_cache:
            hit = self.cache.get(key)
            if hit is not None:
                return Generation(hit[0], hit[1]), True
        gen = self.backend.generate(
            prompt, max_tokens=max_tokens, deadline=deadline,
            seed=self.settings.seed * 1000 + request.before_track * 10 + attempt,
        )  # fmt: skip
        if self.cache is not None and self.settings.llm_cache:
            self.cache.put(key, gen.text, truncated=gen.truncated, template=template.name,
                           backend=self.backend.name, model=self.backend.model)  # fmt: skip
        return gen, False

    def narrate(self, request: LinkRequest) -> Line:
        """The backend's line when it passes the guards, else the template's (see class doc)."""
        start = time.perf_counter()
        deadline = time.monotonic() + self.settings.llm_deadline_s
        prompt = self.store.render_all(request.template, request.context)
        raw: str | None = None
        problems: tuple[str, ...] = ()
        cached = False
        reason = "no answer"
        for attempt in range(self.attempts):
            if attempt and time.monotonic() >= deadline:
                reason = "deadline missed"
                break
            try:
                gen, cached = self._generate(request, prompt, attempt, deadline)
            except NarrationError as exc:
                reason = str(exc)
                log.info("%s: link before track %d: %s", self.name, request.before_track + 1,
                         reason)  # fmt: skip
                break
            raw = gen.text
            verdict = check_line(
                gen.text, context=request.context, word_budget=request.word_budget,
                recent=request.recent, banned=self.banned, truncated=gen.truncated,
                recent_openers=request.recent_openers,
            )  # fmt: skip
            if verdict.ok:
                self.fallback.note(verdict.text, known_names(request.context))
                return Line(
                    text=verdict.text, backend=self.name, template=request.template,
                    prompt=prompt, raw=raw, latency_s=time.perf_counter() - start,
                    cached=cached,
                )  # fmt: skip
            problems = verdict.problems
            reason = f"guard: {verdict.reason}"
            log.info("%s: link before track %d refused (%s): %r", self.name,
                     request.before_track + 1, verdict.reason, gen.text)  # fmt: skip
        line = self.fallback.narrate(request)
        return replace(
            line, fallback_reason=reason, prompt=prompt, raw=raw, cached=cached,
            problems=problems, latency_s=time.perf_counter() - start,
        )  # fmt: skip
