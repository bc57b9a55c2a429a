"""The script stage: one :class:`Link` per gap of a plan.

A *gap* is a place for a link: the opening before the first track, a link
before every later track, and (on request) a closing after the last. Each gap
has a talk-over window; the words that fit it (2.5 per second, within the
talk level's limits) are the line's budget. When even the talk level's
minimum does not fit, the link is *standalone*: it needs time of its own (a
bed or the previous outro) and gets a fixed, short budget.

The template for a gap is the most specific variant for its kind, the
listener's talk level, the delivery and the language
(:meth:`~segue.narration.templates.TemplateStore.resolve`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from segue.config import Settings
from segue.errors import NarrationError
from segue.models import Delivery, Link, LinkKind, Listener, Plan
from segue.narration.context import build_context, track_facts
from segue.narration.guards import known_names, line_opener, readable_opener
from segue.narration.narrator import Line, LinkRequest, Narrator
from segue.narration.templates import TemplateStore
from segue.narration.text import mentions, word_count
from segue.transition.cues import WORDS_PER_SECOND, play_range_s
from segue.transition.handover import Handover, decide_handover

log = logging.getLogger(__name__)

#: Word budget bounds per talk level: at least enough to name the track, at most
#: about ten seconds of talk-over.
WORD_LIMITS = {"brief": (6, 12), "normal": (8, 20), "chatty": (10, 25)}
#: Budget of a standalone link (one whose track's intro is too short to talk over).
STANDALONE_WORDS = {"brief": 8, "normal": 14, "chatty": 20}
#: Lines between two uses of the listener's name (besides opening and closing).
NAME_GAP = 2
#: Kinds of link, in set order.
KINDS: tuple[LinkKind, ...] = ("opening", "link", "closing")


def word_budget(window_s: float, talk_level: str) -> int:
    """Words that fit a talk-over window at :data:`WORDS_PER_SECOND`, within limits."""
    low, high = WORD_LIMITS.get(talk_level, WORD_LIMITS["normal"])
    return max(low, min(high, int(window_s * WORDS_PER_SECOND)))


def delivery_for(window_s: float, talk_level: str) -> Delivery:
    """``talkover`` when the talk level's minimum fits the window, else ``standalone``."""
    low, _ = WORD_LIMITS.get(talk_level, WORD_LIMITS["normal"])
    return "talkover" if window_s * WORDS_PER_SECOND >= low else "standalone"


def budget_for(window_s: float, talk_level: str, delivery: Delivery) -> int:
    """The word budget of a link: from its window, or fixed for a standalone link."""
    if delivery == "standalone":
        return STANDALONE_WORDS.get(talk_level, STANDALONE_WORDS["normal"])
    return word_budget(window_s, talk_level)


@dataclass(frozen=True)
class Gap:
    """A place for one link: the tracks on either side (as facts) and the time it has."""

    before_track: int
    kind: LinkKind
    prev: Mapping[str, Any] | None
    next: Mapping[str, Any] | None
    reason: str
    window_s: float


def closing_window_s(plan: Plan) -> float:
    """Seconds of the last track's outro a closing line may talk over (to 1 s before the end)."""
    last = plan.tracks[-1]
    _, end = play_range_s(last)
    return round(max(0.0, end - max(last.analysis.outro_start_s, 0.0) - 1.0), 2)


def plan_gaps(
    plan: Plan, settings: Settings, *, closing: bool = False,
    handovers: Sequence[Handover] | None = None,
) -> list[Gap]:  # fmt: skip
    """The gaps of ``plan`` with their windows; a closing gap too when ``closing``.

    Each window is the one the layout will give the link: from ``handovers``, the
    decided transition into each track (default: decided from the grids alone).
    """
    facts = [track_facts(t) for t in plan.tracks]
    if handovers is None:
        handovers = [decide_handover(plan.tracks[i - 1] if i else None, t, settings, listen=False)
                     for i, t in enumerate(plan.tracks)]  # fmt: skip
    gaps: list[Gap] = []
    for pos, handover in enumerate(handovers):
        gaps.append(Gap(
            before_track=pos, kind="opening" if pos == 0 else "link",
            prev=facts[pos - 1] if pos > 0 else None, next=facts[pos],
            reason=plan.transitions[pos - 1].reason if pos > 0 else "",
            window_s=handover.window_s,
        ))  # fmt: skip
    if closing and plan.tracks:
        gaps.append(Gap(before_track=len(plan.tracks), kind="closing", prev=facts[-1],
                        next=None, reason="", window_s=closing_window_s(plan)))  # fmt: skip
    return gaps


def choose_template(
    store: TemplateStore, spec: str | None, kind: str, listener: Listener, delivery: str
) -> str | None:
    """The template for a gap of ``kind``, or ``None`` when ``spec`` does not apply to it.

    ``spec`` is ``None``/``"all"`` (every kind, best variant), a kind (its best
    variant, other kinds skipped), or a template name or ``.j2`` path (used for
    gaps of its purpose).
    """
    if spec in (None, "all") or spec == kind:
        return store.resolve(kind, listener.talk_level, delivery, listener.language)
    if spec in KINDS:
        return None
    return spec if store.get(spec).purpose == kind else None


def _heard(facts: Mapping[str, Any] | None) -> str:
    return f"{facts['title']} by {facts['artist']}" if facts else ""


def narrate_gaps(
    gaps: list[Gap],
    listener: Listener,
    narrator: Narrator,
    store: TemplateStore,
    *,
    template: str | None = None,
    now: dt.datetime | None = None,
) -> list[tuple[LinkRequest, Line]]:
    """Write a line for every gap a template applies to, in order, as one set.

    Each request carries the lines said so far (for the variety guards) and
    their opening words (``avoid_openers`` in the context). A gap whose template
    fails is logged, naming the template, and skipped.
    """
    reset = getattr(narrator, "reset", None)
    if callable(reset):
        reset()
    total = sum(1 for g in gaps if g.kind != "closing")
    said: list[str] = []
    said_openers: list[str] = []
    heard: list[str] = []
    out: list[tuple[LinkRequest, Line]] = []
    for gap in gaps:
        delivery = delivery_for(gap.window_s, listener.talk_level)
        budget = budget_for(gap.window_s, listener.talk_level, delivery)
        try:
            name = choose_template(store, template, gap.kind, listener, delivery)
        except NarrationError as exc:
            log.warning("link before track %d dropped: %s", gap.before_track + 1, exc)
            name = None
        if gap.prev is not None:
            heard.append(_heard(gap.prev))
        if name is None:
            continue
        context = build_context(
            listener=listener, prev=gap.prev, nxt=gap.next, reason=gap.reason,
            position=gap.before_track + 1, total=total, window_s=gap.window_s,
            word_budget=budget, now=now, kind=gap.kind, delivery=delivery,
            recent=heard[:-1], avoid_openers=[readable_opener(o) for o in said_openers],
            name_fresh=not (listener.name and any(
                mentions(s, listener.name) for s in said[-NAME_GAP:])),
        )  # fmt: skip
        must: tuple[str, ...] = ()
        if gap.next is not None:
            must = (str(gap.next["title"]), str(gap.next["artist"]))
        if gap.kind != "link" and context["listener"]["name"]:
            # The opening greets and the closing thanks the listener by name, even when short.
            must += (context["listener"]["name"],)
        request = LinkRequest(
            before_track=gap.before_track, kind=gap.kind, template=name, context=context,
            word_budget=budget, must_mention=must, recent=tuple(said), delivery=delivery,
            recent_openers=tuple(said_openers),
        )  # fmt: skip
        try:
            line = narrator.narrate(request)
        except NarrationError as exc:
            log.warning("link before track %d dropped: %s", gap.before_track + 1, exc)
            continue
        if not line.text.strip():
            log.warning("link before track %d dropped: template %r wrote nothing",
                        gap.before_track + 1, name)  # fmt: skip
            continue
        log.debug("link %d (%s, %d words, budget %d): %s", gap.before_track, line.backend,
                  word_count(line.text), budget, line.text)  # fmt: skip
        said.append(line.text)
        said_openers.append(line_opener(line.text, known_names(context)))
        out.append((request, line))
    return out


def store_of(narrator: Narrator) -> TemplateStore:
    """The template store a narrator renders from (a default store when it has none)."""
    store = getattr(narrator, "store", None)
    return store if isinstance(store, TemplateStore) else TemplateStore()


def write_script(
    plan: Plan,
    listener: Listener,
    narrator: Narrator,
    settings: Settings,
    *,
    closing: bool = False,
    handovers: Sequence[Handover] | None = None,
) -> list[Link]:
    """Write the opening and one link before every later track of ``plan``.

    With ``closing``, also a closing line after the last track (its
    ``before_track`` is the number of tracks). ``handovers`` give each link's
    window (see :func:`plan_gaps`). Returns no links when the listener's talk
    level is ``off``. A link whose template fails is dropped with a warning
    naming the template; the set still plays.
    """
    if listener.talk_level == "off" or not plan.tracks:
        return []
    gaps = plan_gaps(plan, settings, closing=closing, handovers=handovers)
    windows = {g.before_track: g.window_s for g in gaps}
    links: list[Link] = []
    for req, line in narrate_gaps(gaps, listener, narrator, store_of(narrator)):
        links.append(Link(
            before_track=req.before_track, kind=req.kind, text=line.text,
            template=req.template, backend=line.backend, fallback_reason=line.fallback_reason,
            delivery=req.delivery, word_budget=req.word_budget,
            window_s=windows[req.before_track],
        ))  # fmt: skip
    return links
