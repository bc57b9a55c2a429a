"""The narrator interface, the offline template narrator and the guarded LLM narrator.

A line is made in two steps, so a live show can ask a slow model ahead of time
and still keep the show's order (see :class:`~segue.narration.showscript.ShowScript`):

- :meth:`Narrator.propose` does the expensive, order-independent part: an LLM
  backend is asked for the line and its answer checked by the line guards.
  Thread-safe; the template narrator proposes nothing.
- :meth:`TemplateNarrator.compose` renders the template's ``line`` block with the
  show's memory (parts and phrasings least recently used), in show order; it is
  the template narrator's line, and every LLM backend's fallback.

- :class:`TemplateNarrator`: offline, deterministic for a seed, the default.
- :class:`GuardedNarrator` asks a :class:`LineGenerator` (an LLM backend) behind
  the process-wide circuit breaker of that backend (:mod:`segue.circuit`): an
  open circuit, an error, a timeout or a refused answer ends the proposal at
  once with the reason and the real time waited, and the template's line is
  spoken instead.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from segue.circuit import CircuitBreaker
from segue.config import Settings
from segue.errors import NarrationError
from segue.models import Delivery, LinkKind
from segue.narration.cache import LineCache, line_key
from segue.narration.compose import Composed, PartBook, PartRequest, ShowMemory, compose
from segue.narration.guards import banned_list, check_line, known_names
from segue.narration.templates import Picker, RenderedPrompt, TemplateStore
from segue.narration.text import fit_budget, word_count

__all__ = [
    "Generation",
    "GuardedNarrator",
    "Line",
    "LineGenerator",
    "LinkRequest",
    "Narrator",
    "Proposal",
    "TemplateNarrator",
    "fit_budget",
    "word_count",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkRequest:
    """Everything a narrator needs to write one link.

    ``recent`` holds the earlier lines of the show (oldest first, the latest
    few) and ``recent_openers`` the openers of the show's lines
    (:func:`~segue.narration.guards.line_opener`), for the variety guards.
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
    refused answer, ``parts`` the parts a composed line was made of.
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
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Proposal:
    """An LLM's candidate line for a request, before the show's order is known.

    ``text`` passed the line guards (``None``: nothing to propose, the template
    composes the line); ``reason`` says why there is none (``None`` for the
    template narrator, which proposes nothing by design); ``waited_s`` is the
    time spent waiting on the backend.
    """

    text: str | None = None
    reason: str | None = None
    raw: str | None = None
    prompt: RenderedPrompt | None = None
    problems: tuple[str, ...] = ()
    latency_s: float = 0.0
    waited_s: float = 0.0
    cached: bool = False


class Narrator(Protocol):
    """One interface for every way of writing links (template, LLM backends)."""

    name: str
    store: TemplateStore

    @property
    def template_narrator(self) -> TemplateNarrator:
        """The narrator that composes the template's line (itself, or the fallback)."""
        ...

    def propose(self, request: LinkRequest) -> Proposal:
        """A candidate line for ``request``, or why there is none (thread-safe)."""
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

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker this backend's calls go through."""
        ...

    def generate(
        self, prompt: RenderedPrompt, *, max_tokens: int, deadline: float, seed: int
    ) -> Generation:
        """Answer ``prompt`` before ``deadline`` (a :func:`time.monotonic` value)."""
        ...


class ShowPicker(Picker):
    """Least-recently-used choices over one show's memory, for one line.

    ``compose`` blocks are composed from parts (:func:`~segue.narration.compose.compose`);
    ``pick`` blocks choose the phrasing used longest ago. The parts chosen are
    kept in ``composed`` so the show can remember them once the line is said.
    """

    def __init__(self, memory: ShowMemory, request: LinkRequest, seed: int) -> None:
        self.memory = memory
        self.request = request
        self.seed = seed
        self.names = known_names(request.context)
        self.composed: list[Composed] = []
        self.picked: list[str] = []

    def choose(self, options: list[str]) -> str:
        """The phrasing of a ``pick`` block used longest ago in this show."""
        rng = random.Random(f"{self.seed}:{self.memory.count}:{len(self.picked)}")
        shuffled = list(options)
        rng.shuffle(shuffled)
        choice = min(shuffled, key=lambda o: self.memory.phrasings.get(o, -1))
        self.picked.append(choice)
        return choice

    def compose(self, structures: list[list[str]], book: PartBook,
                context: Mapping[str, Any]) -> str:  # fmt: skip
        """The composed line: least recently used structure and phrasings that fit."""
        from segue.narration.context import slots_from_context

        req = PartRequest(slots=slots_from_context(context), kinds=context,
                          word_budget=self.request.word_budget, names=self.names,
                          seed=str(self.seed), must=self._must(context))  # fmt: skip
        line = compose(structures, book, req, self.memory)
        if line is None:
            return ""
        self.composed.append(line)
        return line.text

    def _must(self, context: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
        """What the line must name: the next track (title or artist), a greeting's name."""
        nxt = context.get("next") or {}
        groups = []
        track = tuple(str(nxt[k]) for k in ("title", "artist") if nxt.get(k))
        if track:
            groups.append(track)
        listener = context.get("listener") or {}
        if context.get("kind") != "link" and listener.get("name_allowed"):
            groups.append((str(listener["name"]),))
        return tuple(groups)

    def result(self, text: str) -> Composed | None:
        """What the memory should record for the rendered ``text``."""
        parts = tuple(p for c in self.composed for p in c.parts)
        phrasings = tuple(p for c in self.composed for p in c.phrasings) + tuple(self.picked)
        key = " | ".join(c.structure_key for c in self.composed)
        if not parts and not phrasings:
            return None
        return Composed(text=text, parts=parts, phrasings=phrasings, structure_key=key)


class TemplateNarrator:
    """Offline, deterministic narrator: the template's line, composed from parts."""

    name = "template"

    def __init__(self, store: TemplateStore, *, seed: int = 0) -> None:
        self.store = store
        self.seed = seed

    @property
    def template_narrator(self) -> TemplateNarrator:
        """Itself."""
        return self

    def propose(self, request: LinkRequest) -> Proposal:
        """Nothing: the template's line is composed in show order (:meth:`compose`)."""
        return Proposal()

    def compose(self, request: LinkRequest, memory: ShowMemory) -> tuple[Line, Composed | None]:
        """Render the request's ``line`` block with the show's memory and fit it to the budget.

        Returns the line and what the memory should record of it (the caller
        records it once the line is said).
        """
        start = time.perf_counter()
        picker = ShowPicker(memory, request, self.seed)
        text = self.store.render(request.template, request.context, picker)
        text = fit_budget(text, request.word_budget, request.must_mention)
        composed = picker.result(text)
        line = Line(text=text, backend=self.name, template=request.template,
                    latency_s=time.perf_counter() - start,
                    parts=composed.parts if composed else ())  # fmt: skip
        return line, composed

    def narrate(self, request: LinkRequest, memory: ShowMemory | None = None) -> Line:
        """The composed line alone (a fresh memory unless one is given)."""
        return self.compose(request, memory or ShowMemory())[0]


class GuardedNarrator:
    """An LLM backend behind its circuit breaker and the guards, the template as fallback.

    Per line: render the template's prompt, ask the backend (through the cache),
    check the answer; on a refused answer, generate once more while the deadline
    and the circuit allow; an error or a timeout ends the line at once (a
    timed-out request is never retried for the same line).
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

    @property
    def template_narrator(self) -> TemplateNarrator:
        """The fallback that composes the template's line."""
        return self.fallback

    @property
    def breaker(self) -> CircuitBreaker:
        """The backend's circuit breaker."""
        return self.backend.breaker

    def max_tokens(self, word_budget: int) -> int:
        """Token limit for a line of ``word_budget`` words (about 1.5 tokens a word, plus room)."""
        return max(16, min(self.settings.llm_max_tokens, 2 * word_budget + 16))

    def _key(self, request: LinkRequest, attempt: int) -> str:
        template = self.store.get(request.template)
        return line_key(
            template=template.name, template_digest=template.digest, context=request.context,
            backend=self.backend.name, model=self.backend.model,
            variant=f"t={self.settings.llm_temperature};"
                    f"max={self.max_tokens(request.word_budget)};"
                    f"seed={self.settings.seed};try={attempt}",
        )  # fmt: skip

    def _generate(
        self, request: LinkRequest, prompt: RenderedPrompt, attempt: int, deadline: float
    ) -> tuple[Generation, bool]:
        use_cache = self.cache is not None and self.settings.llm_cache
        key = self._key(request, attempt) if use_cache else ""
        if self.cache is not None and use_cache:
            hit = self.cache.get(key)
            if hit is not None:
                return Generation(hit[0], hit[1]), True
        gen = self.backend.generate(
            prompt, max_tokens=self.max_tokens(request.word_budget), deadline=deadline,
            seed=self.settings.seed * 1000 + request.before_track * 10 + attempt,
        )  # fmt: skip
        if self.cache is not None and use_cache:
            self.cache.put(key, gen.text, truncated=gen.truncated, template=request.template,
                           backend=self.backend.name, model=self.backend.model)  # fmt: skip
        return gen, False

    def propose(self, request: LinkRequest) -> Proposal:
        """The backend's line when it passes the line guards, else why not (see class doc)."""
        start = time.perf_counter()
        deadline = time.monotonic() + self.settings.llm_deadline_s
        prompt = self.store.render_all(request.template, request.context)
        raw: str | None = None
        problems: tuple[str, ...] = ()
        cached = False
        reason = "no answer"
        waited = 0.0
        for attempt in range(self.attempts):
            if self.breaker.state == "open":  # asked before every attempt, retries included
                reason = self.breaker.open_reason()
                break
            if attempt and time.monotonic() >= deadline:
                reason = "deadline missed"
                break
            asked = time.perf_counter()
            try:
                gen, cached = self._generate(request, prompt, attempt, deadline)
            except NarrationError as exc:
                waited += time.perf_counter() - asked
                reason = f"{exc} (waited {waited:.1f} s)"
                log.info("%s: link before track %d: %s", self.name, request.before_track + 1,
                         reason)  # fmt: skip
                break
            waited += time.perf_counter() - asked
            raw = gen.text
            verdict = check_line(
                gen.text, context=request.context, word_budget=request.word_budget,
                recent=request.recent, banned=self.banned, truncated=gen.truncated,
                recent_openers=request.recent_openers,
            )  # fmt: skip
            if verdict.ok:
                return Proposal(text=verdict.text, raw=raw, prompt=prompt, cached=cached,
                                latency_s=time.perf_counter() - start, waited_s=waited)
            problems = verdict.problems
            reason = f"guard: {verdict.reason}"
            log.info("%s: link before track %d refused (%s): %r", self.name,
                     request.before_track + 1, verdict.reason, gen.text)  # fmt: skip
        return Proposal(reason=reason, raw=raw, prompt=prompt, problems=problems, cached=cached,
                        latency_s=time.perf_counter() - start, waited_s=waited)

    def narrate(self, request: LinkRequest, memory: ShowMemory | None = None) -> Line:
        """The backend's line when it passes, else the template's with the reason."""
        proposal = self.propose(request)
        if proposal.text is not None:
            return Line(text=proposal.text, backend=self.name, template=request.template,
                        prompt=proposal.prompt, raw=proposal.raw, cached=proposal.cached,
                        latency_s=proposal.latency_s)  # fmt: skip
        line, _ = self.fallback.compose(request, memory or ShowMemory())
        return replace(line, fallback_reason=proposal.reason, prompt=proposal.prompt,
                       raw=proposal.raw, problems=proposal.problems, cached=proposal.cached,
                       latency_s=proposal.latency_s + line.latency_s)  # fmt: skip

