"""The script stage: one :class:`Link` per gap of a plan."""

from __future__ import annotations

import logging

from segue.config import Settings
from segue.errors import NarrationError
from segue.mixing.cues import WORDS_PER_SECOND, talk_window_s
from segue.models import Link, LinkKind, Listener, Plan
from segue.narration.context import build_context
from segue.narration.narrator import LinkRequest, Narrator, word_count

log = logging.getLogger(__name__)

#: Word budget bounds per talk level: at least enough to name the track, at most
#: about ten seconds of talk-over.
WORD_LIMITS = {"brief": (6, 12), "normal": (8, 20), "chatty": (10, 25)}


def word_budget(window_s: float, talk_level: str) -> int:
    """Words that fit a talk-over window at :data:`WORDS_PER_SECOND`, within limits."""
    low, high = WORD_LIMITS.get(talk_level, WORD_LIMITS["normal"])
    return max(low, min(high, int(window_s * WORDS_PER_SECOND)))


def write_script(
    plan: Plan, listener: Listener, narrator: Narrator, settings: Settings
) -> list[Link]:
    """Write the opening and one link before every later track of ``plan``.

    Returns no links when the listener's talk level is ``off``. A link whose
    template fails is dropped with a warning naming the template; the set still
    plays.
    """
    if listener.talk_level == "off":
        return []
    reset = getattr(narrator, "reset", None)
    if callable(reset):
        reset()
    links: list[Link] = []
    total = len(plan.tracks)
    for pos, track in enumerate(plan.tracks):
        prev = plan.tracks[pos - 1] if pos > 0 else None
        window = talk_window_s(prev, track, settings)
        budget = word_budget(window, listener.talk_level)
        kind: LinkKind = "opening" if pos == 0 else "link"
        reason = plan.transitions[pos - 1].reason if pos > 0 else ""
        context = build_context(
            listener=listener, prev=prev, nxt=track, reason=reason,
            position=pos + 1, total=total, window_s=window, word_budget=budget,
        )  # fmt: skip
        request = LinkRequest(
            before_track=pos,
            kind=kind,
            template=kind,
            context=context,
            word_budget=budget,
            # The opening greets the listener by name even when the intro is short.
            must_mention=(context["next"]["title"], context["next"]["artist"])
            + ((context["listener"]["name"],) if kind == "opening" and listener.name else ()),
        )
        try:
            text = narrator.write(request)
        except NarrationError as exc:
            log.warning("link before track %d dropped: %s", pos + 1, exc)
            continue
        if not text.strip():
            log.warning("link before track %d dropped: template %r wrote nothing", pos + 1, kind)
            continue
        log.debug("link %d (%d words, budget %d): %s", pos, word_count(text), budget, text)
        links.append(
            Link(before_track=pos, kind=kind, text=text, template=kind, backend=narrator.name)
        )
    return links
