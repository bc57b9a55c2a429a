"""The script stage: the gaps of a show and the words said in them.

A *gap* is a place for a link: the opening before the first track, a link
before every later track, and (on request) a closing after the last. Each gap
has a talk-over window; the words that fit it (2.5 per second, within the
talk level's limits) are the line's budget. When even the talk level's
minimum does not fit, the link is *standalone*: it needs time of its own (a
bed or the previous outro) and gets a fixed, short budget.

Which gaps get a link, and what each says, is one show's business: a
:class:`~segue.narration.showscript.ShowScript` (the talk plan, the show's
memory, the name rule). :func:`write_script` runs one over a finite plan, as the
live engine does over an endless one; :func:`narrate_gaps` runs one over the
workbench's cases.

The template for a gap is the most specific variant for its kind, the
listener's talk level, the delivery and the language
(:meth:`~segue.narration.templates.TemplateStore.resolve`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segue.config import Settings
from segue.models import Delivery, Link, LinkKind, Listener, Plan, Transition
from segue.narration.context import track_facts
from segue.narration.templates import TemplateStore
from segue.narration.text import WORDS_PER_SECOND

if TYPE_CHECKING:
    from segue.narration.narrator import Line, LinkRequest, Narrator
    from segue.transition.handover import Handover

# The transition stage (numpy, the sequencer's cost model, the ear) is imported only
# where a plan's gaps are made, so the workbench and `segue prompts` start light.

log = logging.getLogger(__name__)

#: Word budget bounds per talk level: at least enough to name the track, at most
#: about ten seconds of talk-over.
WORD_LIMITS = {"brief": (6, 12), "normal": (8, 20), "chatty": (10, 25)}
#: Budget of a standalone link (one whose track's intro is too short to talk over).
STANDALONE_WORDS = {"brief": 8, "normal": 14, "chatty": 20}
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
    """A place for one link: the tracks on either side (as facts) and the time it has.

    The optional fields are what the show engine knows about the transition and
    fills in; each makes the line better informed, none is needed:

    - ``transition``: the planner's :class:`~segue.models.Transition` into the
      next track (its weighted ``terms``; its jargon ``reason`` is never said);
    - ``total``: tracks in a finite show (``None``: endless);
    - ``upcoming``: facts of the tracks after ``next``, in order (for mini-sets);
    - ``airs_at``: the wall-clock time the link airs (for the time of day);
    - ``planned_energy_step``: the arc's planned energy step into ``next``
      (``None`` without an arc).
    """

    before_track: int
    kind: LinkKind
    prev: Mapping[str, Any] | None
    next: Mapping[str, Any] | None
    reason: str
    window_s: float
    transition: Transition | None = None
    total: int | None = None
    upcoming: tuple[Mapping[str, Any], ...] = ()
    airs_at: dt.datetime | None = None
    planned_energy_step: float | None = None


def closing_window_s(plan: Plan) -> float:
    """Seconds of the last track's outro a closing line may talk over (to 1 s before the end)."""
    last = plan.tracks[-1]
    from segue.transition.cues import play_range_s

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
    from segue.transition.handover import decide_handover

    facts = [track_facts(t) for t in plan.tracks]
    if handovers is None:
        handovers = [decide_handover(plan.tracks[i - 1] if i else None, t, settings, listen=False)
                     for i, t in enumerate(plan.tracks)]  # fmt: skip
    targets = plan.target_energy
    total = len(plan.tracks)
    gaps: list[Gap] = []
    for pos, handover in enumerate(handovers):
        transition = plan.transitions[pos - 1] if pos > 0 else None
        step = (targets[pos] - targets[pos - 1]) if pos > 0 and len(targets) == total else None
        gaps.append(Gap(
            before_track=pos, kind="opening" if pos == 0 else "link",
            prev=facts[pos - 1] if pos > 0 else None, next=facts[pos],
            reason=transition.reason if transition else "", window_s=handover.window_s,
            transition=transition,
            total=total, upcoming=tuple(facts[pos + 1:]), planned_energy_step=step,
        ))  # fmt: skip
    if closing and plan.tracks:
        gaps.append(Gap(before_track=total, kind="closing", prev=facts[-1], next=None, reason="",
                        window_s=closing_window_s(plan), total=total))  # fmt: skip
    return gaps


def choose_template(
    store: TemplateStore, spec: str | None, kind: str, listener: Listener, delivery: str
) -> str | None:
    """The template for a gap of ``kind``, or ``None`` when ``spec`` does not apply to it.

    ``spec`` is ``None``/``"all"`` (every kind, best variant), a kind (its best
    variant, other kinds skipped), or a template name or ``.j2`` path: used only
    for the gaps that template would serve, those whose best variant has its
    name (a draft of ``link`` never replaces ``link.de`` for a German listener,
    nor ``link.standalone`` for a track without an intro).
    """
    best = store.resolve(kind, listener.talk_level, delivery, listener.language)
    if spec in (None, "all") or spec == kind:
        return best
    if spec in KINDS:
        return None
    template = store.get(spec)
    return spec if template.purpose == kind and template.name == best else None


def narrate_gaps(
    gaps: list[Gap],
    listener: Listener,
    narrator: Narrator,
    store: TemplateStore,
    *,
    template: str | None = None,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
) -> list[tuple[LinkRequest, Line]]:
    """Write a line for every gap a template applies to, in order, as one show.

    The workbench's view: every gap gets a line (cadence ``every``) so each
    case's lines can be scored; the show's memory, name rule and variety apply
    as on air. A gap whose template fails is logged, naming the template, and
    skipped.
    """
    from segue.narration.showscript import ShowScript, run_show

    clock = (lambda: now) if now is not None else None
    script = ShowScript(listener, narrator, settings or Settings(), store=store,
                        now=clock, template=template, cadence="every")  # fmt: skip
    return [(c.request, c.line) for c in run_show(script, gaps, workers=1)]


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
    """The links of ``plan``: one :class:`~segue.narration.showscript.ShowScript` over its gaps.

    The talk plan (``settings.talk_cadence``) decides which gaps get a link; the
    opening always does, and with ``closing`` a closing line follows the last
    track (its ``before_track`` is the number of tracks). ``handovers`` give each
    link's window (see :func:`plan_gaps`). An LLM narrator's lines are prepared
    two at a time, as the live engine does, and committed in order. Returns no
    links when the listener's talk level is ``off``. A link whose template fails
    is dropped with a warning naming the template; the set still plays.
    """
    from segue.narration.narrator import TemplateNarrator
    from segue.narration.showscript import ShowScript, run_show

    if listener.talk_level == "off" or not plan.tracks:
        return []
    gaps = plan_gaps(plan, settings, closing=closing, handovers=handovers)
    script = ShowScript(listener, narrator, settings, store=store_of(narrator))
    workers = 1 if isinstance(narrator, TemplateNarrator) else 2
    return [c.link for c in run_show(script, gaps, workers=workers)]
