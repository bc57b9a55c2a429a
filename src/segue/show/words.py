"""The engine's words stage: one show's narration, a gap at a time, prepared ahead.

The engine asks a :class:`Script` (the narration stage's ``ShowScript`` has this
shape) whether a gap gets a link, has it *prepare* the words in a background worker
(an LLM call may be waited on there, bounded by its deadline and circuit breaker)
and *commits* them strictly in show order, where what depends on order (variety
against what was said, the name rule) is settled and the line is recorded.
:class:`GapScript` is the plain implementation over any
:class:`~segue.narration.narrator.Narrator`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from segue.config import Settings
from segue.errors import NarrationError
from segue.models import Link, Listener, TalkLevel
from segue.narration.context import build_context
from segue.narration.guards import known_names, line_opener, readable_opener
from segue.narration.narrator import Line, LinkRequest, Narrator
from segue.narration.script import (
    NAME_GAP,
    Gap,
    budget_for,
    choose_template,
    delivery_for,
    store_of,
)
from segue.narration.text import mentions


@dataclass(frozen=True)
class Draft:
    """Words prepared for one gap, not yet said: the request and the narrator's line."""

    gap: Gap
    request: LinkRequest | None
    line: Line | None
    error: str | None = None


class Script(Protocol):
    """What the engine needs from the narration stage for one show."""

    def wants_link(self, gap: Gap) -> bool:
        """Whether the talk plan puts a link in ``gap``."""
        ...

    def prepare(self, gap: Gap) -> Draft:
        """The words for ``gap``, from whatever was said so far (thread-safe)."""
        ...

    def commit(self, draft: Draft) -> Link | None:
        """Settle ``draft`` in show order and remember it; ``None`` when nothing is said."""
        ...

    def set_talk_level(self, level: TalkLevel) -> None:
        """Talk more or less from the next gap on."""
        ...


class GapScript:
    """A show's narration over one :class:`Narrator`, remembering everything said.

    The talk level decides whether a gap gets a link (``off``: none). Prepare may
    run for two gaps at once; commit runs in show order.
    """

    def __init__(self, listener: Listener, narrator: Narrator, settings: Settings, *,
                 now: Callable[[], dt.datetime] | None = None) -> None:  # fmt: skip
        self.listener = listener
        self.narrator = narrator
        self.settings = settings
        self.store = store_of(narrator)
        self.now = now or dt.datetime.now
        self._lock = threading.Lock()
        self._said: list[str] = []
        self._openers: list[str] = []
        self._heard: list[str] = []

    def set_talk_level(self, level: TalkLevel) -> None:
        """Talk more or less from the next gap on."""
        with self._lock:
            self.listener = replace(self.listener, talk_level=level)

    def wants_link(self, gap: Gap) -> bool:
        """Every gap gets a link unless the talk level is ``off``."""
        return self.listener.talk_level != "off"

    def _request(self, gap: Gap) -> LinkRequest | None:
        with self._lock:
            listener, said, openers = self.listener, list(self._said), list(self._openers)
            heard = list(self._heard)
        delivery = delivery_for(gap.window_s, listener.talk_level)
        budget = budget_for(gap.window_s, listener.talk_level, delivery)
        name = choose_template(self.store, None, gap.kind, listener, delivery)
        if name is None:
            return None
        context = build_context(
            listener=listener, prev=gap.prev, nxt=gap.next, reason=gap.reason,
            position=gap.before_track + 1, total=gap.before_track + 1, window_s=gap.window_s,
            word_budget=budget, now=self.now(), kind=gap.kind, delivery=delivery,
            recent=heard, avoid_openers=[readable_opener(o) for o in openers],
            name_fresh=not (listener.name and any(mentions(s, listener.name)
                                                  for s in said[-NAME_GAP:])),
        )  # fmt: skip
        must: tuple[str, ...] = ()
        if gap.next is not None:
            must = (str(gap.next["title"]), str(gap.next["artist"]))
        if gap.kind != "link" and context["listener"]["name"]:
            must += (context["listener"]["name"],)
        return LinkRequest(
            before_track=gap.before_track, kind=gap.kind, template=name, context=context,
            word_budget=budget, must_mention=must, recent=tuple(said), delivery=delivery,
            recent_openers=tuple(openers),
        )  # fmt: skip

    def prepare(self, gap: Gap) -> Draft:
        """The narrator's line for ``gap`` (an LLM answer, guarded, or the template's)."""
        try:
            request = self._request(gap)
            if request is None:
                return Draft(gap, None, None, "no template applies")
            return Draft(gap, request, self.narrator.narrate(request))
        except NarrationError as exc:
            return Draft(gap, None, None, str(exc))

    def commit(self, draft: Draft) -> Link | None:
        """Record the draft's line and return it as a link (``None`` if there is none)."""
        gap = draft.gap
        with self._lock:
            if gap.prev is not None:
                self._heard.append(f"{gap.prev['title']} by {gap.prev['artist']}")
        line, req = draft.line, draft.request
        if line is None or req is None or not line.text.strip():
            return None
        with self._lock:
            self._said.append(line.text)
            self._openers.append(line_opener(line.text, known_names(req.context)))
        return Link(
            before_track=req.before_track, kind=req.kind, text=line.text, template=req.template,
            backend=line.backend, fallback_reason=line.fallback_reason, delivery=req.delivery,
            word_budget=req.word_budget, window_s=gap.window_s,
        )  # fmt: skip
