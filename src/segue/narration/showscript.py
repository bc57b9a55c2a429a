"""One show's narration: its memory of what was said, the talk plan and the name rule.

The live engine (``segue.show``) produces a show transition by transition, for
hours, and asks a :class:`ShowScript` for the words:

1. :meth:`ShowScript.wants_link` for each upcoming transition: the talk plan's
   decision (:mod:`.talkplan`);
2. :meth:`ShowScript.prepare` in a background worker, possibly for two gaps at
   once: the expensive, order-independent part (an LLM call and the line
   guards against what is known so far). Thread-safe;
3. :meth:`ShowScript.commit`, strictly in show order: what depends on order is
   checked again (variety against the lines actually said, the name rule, the
   parts memory), the template's line is composed when the LLM has none or its
   line no longer fits, the line is remembered, and the :class:`~segue.models.Link`
   returned (``None`` when nothing is to be said).

The rules that depend on order:

- **name**: the listener's name is said in the opening and the closing, in at
  most one link in four, never in two lines in a row (so not in the link just
  before a closing);
- **personal**: a personal touch (a favourite, "because you liked X", the time
  of day) only when it is true, and never in two of three links in a row;
- **variety**: no line of the show is said twice; openers and structures rotate
  least-recently-used over the whole show (:mod:`.compose`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from typing import Any

from segue.config import Settings
from segue.errors import NarrationError
from segue.models import Link, LinkKind, Listener, TalkLevel
from segue.narration.compose import Composed, ShowMemory
from segue.narration.context import build_context, group_info, liked, time_of_day
from segue.narration.guards import known_names, line_opener, line_shape, readable_opener
from segue.narration.narrator import Line, LinkRequest, Narrator, Proposal
from segue.narration.script import Gap, budget_for, choose_template, delivery_for
from segue.narration.talkplan import TalkPlan
from segue.narration.templates import TemplateStore
from segue.narration.text import fold, mentions

log = logging.getLogger(__name__)

#: A name at most once in this many links.
NAME_EVERY = 4
#: A personal touch at most once in this many links.
PERSONAL_EVERY = 3
#: Lines the LLM guards see as recent (near-repeats), and openers they refuse to repeat.
RECENT_LINES = 5
RECENT_OPENERS = 30
#: Similarity of word shapes that counts as a near-repeat.
NEAR_REPEAT_RATIO = 0.8
#: Links before a time-of-day remark is worth making.
TIME_REMARK_AFTER = 4


@dataclass(frozen=True)
class Said:
    """One line the show said, as the order-dependent rules need it."""

    before_track: int
    kind: LinkKind
    text: str
    backend: str
    opener: str
    named: bool
    personal: bool
    informative: bool
    parts: tuple[str, ...] = ()
    time_of_day: str = ""


@dataclass(frozen=True)
class Draft:
    """A gap's prepared line: the request as prepared and the LLM's proposal, if any.

    ``request`` is ``None`` when nothing is to be said (no link planned, or the
    template could not be chosen: ``problem`` says why).
    """

    gap: Gap
    request: LinkRequest | None
    proposal: Proposal | None = None
    problem: str | None = None
    prepared_s: float = 0.0


@dataclass(frozen=True)
class Committed:
    """A committed line with the request it was composed for (the workbench reads both)."""

    request: LinkRequest
    line: Line
    link: Link


def _heard_name(facts: Mapping[str, Any]) -> str:
    return f"{facts.get('title')} by {facts.get('artist')}".strip()


class ShowScript:
    """One show's narration: its memory of what was said, the talk plan, the name rule.

    Parameters
    ----------
    listener, narrator, settings : who listens, who writes, the settings.
    store : the templates (default: the narrator's).
    now : the wall clock for the time of day when a gap does not say when it airs.
    template : ``None``/``"all"``, a kind or a template name or path: only gaps
        the template serves get lines (the workbench).
    cadence : overrides ``settings.talk_cadence`` (the workbench narrates every gap).
    """

    def __init__(
        self,
        listener: Listener,
        narrator: Narrator,
        settings: Settings,
        *,
        store: TemplateStore | None = None,
        now: Callable[[], dt.datetime] | None = None,
        template: str | None = None,
        cadence: str | None = None,
    ) -> None:
        self.listener = listener
        self.narrator = narrator
        self.settings = settings
        self.store = store or narrator.store
        self.now = now or dt.datetime.now
        self.template = template
        self._lock = threading.Lock()
        self._memory = ShowMemory()
        self._said: deque[Said] = deque(maxlen=1000)
        self._heard: dict[int, Mapping[str, Any]] = {}
        self._pending: set[int] = set()
        self._level: TalkLevel = listener.talk_level
        self._plan = TalkPlan(cadence or settings.talk_cadence, listener.talk_level)
        self._last_link = -1

    # ------------------------------------------------------------------ public

    @property
    def talk_level(self) -> TalkLevel:
        """The talk level in force (the listener's, or the last reaction's)."""
        return self._level

    @property
    def history(self) -> tuple[Said, ...]:
        """The lines said so far (the latest thousand), oldest first."""
        with self._lock:
            return tuple(self._said)

    def set_talk_level(self, level: TalkLevel) -> None:
        """Talk more or less from the next transition on ("more talk"/"less talk")."""
        with self._lock:
            self._level = level
            self._plan.set_talk_level(level, self._last_link + 1)

    def wants_link(self, gap: Gap) -> bool:
        """The talk plan's decision for ``gap`` (asked again, the same answer)."""
        with self._lock:
            return self._wants(gap)

    def prepare(self, gap: Gap) -> Draft:
        """The order-independent part of ``gap``'s line (may call an LLM); thread-safe."""
        return self.propose(self.request(gap))

    def request(self, gap: Gap) -> Draft:
        """The first half of :meth:`prepare`: what would be asked, from the show so far (fast).

        Taken apart so that a caller preparing several gaps at once can fix what each
        is asked in show order; the draft carries no proposal yet.
        """
        with self._lock:
            if not self._wants(gap):
                return Draft(gap=gap, request=None, problem="no link planned here")
            try:
                request = self._request(gap, final=False)
            except NarrationError as exc:
                log.warning("link before track %d dropped: %s", gap.before_track + 1, exc)
                return Draft(gap=gap, request=None, problem=str(exc))
            if request is None:
                return Draft(gap=gap, request=None, problem="the template serves no such link")
            self._pending.add(gap.before_track)
        return Draft(gap=gap, request=request)

    def propose(self, draft: Draft) -> Draft:
        """The second half of :meth:`prepare`: the narrator's proposal (may be slow)."""
        if draft.request is None:
            return draft
        start = time.perf_counter()
        try:
            proposal = self.narrator.propose(draft.request)
        except NarrationError as exc:  # a broken template: the template line may still work
            proposal = Proposal(reason=str(exc))
        return replace(draft, proposal=proposal, prepared_s=time.perf_counter() - start)

    def commit(self, draft: Draft) -> Link | None:
        """Say ``draft``'s line in show order (see the module doc); ``None``: nothing said."""
        done = self.commit_line(draft)
        return done.link if done else None

    def commit_line(self, draft: Draft) -> Committed | None:
        """:meth:`commit`, with the request and the line (for the workbench)."""
        with self._lock:
            self._pending.discard(draft.gap.before_track)
            if draft.request is None:
                return None
            try:
                request = self._request(draft.gap, final=True)
            except NarrationError as exc:
                log.warning("link before track %d dropped: %s", draft.gap.before_track + 1, exc)
                return None
            if request is None:
                return None
            try:
                line, composed = self._line(request, draft)
            except NarrationError as exc:  # the template (or its parts) is broken: say nothing
                log.warning("link before track %d dropped: %s", draft.gap.before_track + 1, exc)
                return None
            if not line.text.strip():
                log.warning("link before track %d dropped: template %r wrote nothing",
                            draft.gap.before_track + 1, request.template)  # fmt: skip
                return None
            self._remember(request, line, composed)
        link = Link(
            before_track=request.before_track, kind=request.kind, text=line.text,
            template=request.template, backend=line.backend,
            fallback_reason=line.fallback_reason, delivery=request.delivery,
            word_budget=request.word_budget, window_s=draft.gap.window_s,
        )  # fmt: skip
        return Committed(request=request, line=line, link=link)

    # ------------------------------------------------------------------ talk plan

    def _wants(self, gap: Gap) -> bool:
        self._heard.setdefault(gap.before_track, gap.next or {})
        if gap.kind == "closing" and not self.settings.closing_link and self.template is None:
            return False
        tracks = [t for t in (gap.next, *gap.upcoming) if t]
        wanted = self._plan.wants(gap.before_track, gap.kind, tracks)
        if wanted and gap.kind != "closing":
            self._plan.open_set(gap.before_track, tracks)
        return wanted

    # ------------------------------------------------------------------ rules

    def _recent_links(self, n: int) -> list[Said]:
        return [s for s in self._said if s.kind == "link"][-n:]

    def _name_allowed(self, gap: Gap, final: bool) -> bool:
        if not self.listener.name:
            return False
        if gap.kind != "link":
            return True
        if not final and any(p < gap.before_track for p in self._pending):
            return False  # a line still being prepared may say it
        if self._said and self._said[-1].named:
            return False
        if any(s.named for s in self._recent_links(NAME_EVERY - 1)):
            return False
        # The closing says the name: the link before the last track must not.
        last = gap.total is not None and gap.before_track == gap.total - 1
        return not (last and self.settings.closing_link)

    def _because(self, gap: Gap) -> str:
        nxt = gap.next or {}
        for pos in sorted(self._heard, reverse=True):
            facts = self._heard[pos]
            if pos >= gap.before_track or not facts or not liked(self.listener, facts):
                continue
            same_artist = facts.get("artist") and facts.get("artist") == nxt.get("artist")
            same_genre = facts.get("genre") and facts.get("genre") == nxt.get("genre")
            if (same_artist or same_genre) and facts.get("title") != nxt.get("title"):
                return _heard_name(facts)
        return ""

    def _personal(self, gap: Gap, name_allowed: bool, when: dt.datetime) -> list[str]:
        if gap.kind == "closing" or gap.next is None:
            return []
        if gap.kind == "link" and any(s.personal for s in self._recent_links(PERSONAL_EVERY - 1)):
            return []
        kinds: list[str] = []
        liked_reason = liked(self.listener, gap.next)
        if liked_reason:
            kinds.append("liked_artist" if liked_reason == gap.next.get("artist")
                         else "liked_genre")  # fmt: skip
            if name_allowed:
                kinds.append("name")
        because = self._because(gap) if gap.kind == "link" else ""
        if because and not kinds:  # a favourite is said as such; "because" is for the others
            kinds.append("because")
        said_times = {s.time_of_day for s in self._said if "personal.time" in s.parts}
        if (not kinds and gap.kind == "link" and len(self._said) >= TIME_REMARK_AFTER
                and time_of_day(when) not in said_times):  # fmt: skip
            kinds.append("time")
        return kinds

    # ------------------------------------------------------------------ requests

    def _groups(self, gap: Gap) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        length = self._plan.set_at(gap.before_track)
        tracks = [t for t in (gap.next, *gap.upcoming) if t][:length]
        opened = group_info(tracks) if length >= 2 and gap.kind != "closing" else None
        since = [self._heard[p] for p in range(self._last_link, gap.before_track)
                 if p >= 0 and self._heard.get(p)]  # fmt: skip
        heard = group_info(since) if len(since) >= 2 else None
        return opened, heard

    def _request(self, gap: Gap, *, final: bool) -> LinkRequest | None:
        level = self._level if self._level != "off" else "normal"
        listener = replace(self.listener, talk_level=level)
        delivery = delivery_for(gap.window_s, level)
        budget = budget_for(gap.window_s, level, delivery)
        name = choose_template(self.store, self.template, gap.kind, listener, delivery)
        if name is None:
            return None
        when = gap.airs_at or self.now()
        name_allowed = self._name_allowed(gap, final)
        opened, heard = self._groups(gap)
        recent_heard = [_heard_name(self._heard[p]) for p in sorted(self._heard)
                        if p < gap.before_track - 1 and self._heard[p]]  # fmt: skip
        context = build_context(
            listener=listener, prev=gap.prev, nxt=gap.next, reason=gap.reason,
            position=gap.before_track + 1, total=gap.total, window_s=gap.window_s,
            word_budget=budget, now=when, kind=gap.kind, delivery=delivery,
            recent=recent_heard[-5:], name_fresh=name_allowed,
            avoid_openers=[readable_opener(s.opener) for s in list(self._said)[-RECENT_OPENERS:]],
            terms=gap.transition.terms if gap.transition is not None else None,
            planned_step=gap.planned_energy_step,
            personal=self._personal(gap, name_allowed, when),
            because=self._because(gap) if gap.kind == "link" else "",
            set_info=opened, heard=heard, station=self.settings.station_name,
        )  # fmt: skip
        must: tuple[str, ...] = ()
        if gap.next is not None:
            must = tuple(str(gap.next[k]) for k in ("title", "artist") if gap.next.get(k))
        if gap.kind != "link" and context["listener"]["name_allowed"]:
            must += (context["listener"]["name"],)  # the greeting and the thanks keep the name
        said = list(self._said)
        return LinkRequest(
            before_track=gap.before_track, kind=gap.kind, template=name, context=context,
            word_budget=budget, must_mention=must,
            recent=tuple(s.text for s in said[-RECENT_LINES:]), delivery=delivery,
            recent_openers=tuple(s.opener for s in said[-RECENT_OPENERS:]),
        )  # fmt: skip

    # ------------------------------------------------------------------ lines

    def _show_problem(self, text: str, request: LinkRequest) -> str | None:
        """What an LLM line breaks of the rules that depend on the show's order."""
        names = known_names(request.context)
        if self._memory.has_said(text):
            return "identical to an earlier line"
        opener = line_opener(text, names)
        if opener and opener in request.recent_openers:
            return f"opens like an earlier link ({readable_opener(opener)!r})"
        shape = line_shape(text, names)
        for earlier in request.recent:
            ratio = SequenceMatcher(None, shape, line_shape(earlier, names)).ratio()
            if ratio >= NEAR_REPEAT_RATIO:
                return f"near-repeat of an earlier link ({ratio:.0%} alike)"
        listener = request.context["listener"]
        if listener["name"] and not listener["name_allowed"] and mentions(text, listener["name"]):
            return "says the listener's name where the name rule forbids it"
        return None

    def _line(self, request: LinkRequest, draft: Draft) -> tuple[Line, Composed | None]:
        proposal = draft.proposal or Proposal()
        reason = proposal.reason
        if proposal.text is not None:
            problem = self._show_problem(proposal.text, request)
            if problem is None:
                return Line(text=proposal.text, backend=self.narrator.name,
                            template=request.template, prompt=proposal.prompt, raw=proposal.raw,
                            latency_s=proposal.latency_s, cached=proposal.cached), None
            reason = f"guard: {problem}"
        line, composed = self.narrator.template_narrator.compose(request, self._memory)
        if reason is not None:
            line = replace(line, fallback_reason=reason, prompt=proposal.prompt,
                           raw=proposal.raw, problems=proposal.problems, cached=proposal.cached,
                           latency_s=proposal.latency_s + line.latency_s)  # fmt: skip
        return line, composed

    def _remember(self, request: LinkRequest, line: Line, composed: Composed | None) -> None:
        names = known_names(request.context)
        opener = composed.opener if composed and composed.opener else line_opener(line.text, names)
        self._memory.record(line.text, opener, composed)
        listener = request.context["listener"]
        parts = composed.parts if composed else ()
        personal = composed.personal if composed else _sounds_personal(line.text, listener)
        self._said.append(Said(
            before_track=request.before_track, kind=request.kind, text=line.text,
            backend=line.backend, opener=opener,
            named=bool(listener["name"] and mentions(line.text, listener["name"])),
            personal=personal, informative=composed.informative if composed else False,
            parts=parts, time_of_day=str(listener["time_of_day"]),
        ))  # fmt: skip
        self._last_link = request.before_track


_PERSONAL_WORDS = ("you like", "you love", "favourite", "favorite", "for you", "your taste",
                   "you enjoyed", "you liked")  # fmt: skip


def _sounds_personal(text: str, listener: Mapping[str, Any]) -> bool:
    """Whether a generated line makes a personal remark (the name, or the listener's taste)."""
    folded = fold(text)
    if listener.get("name") and mentions(text, str(listener["name"])):
        return True
    return any(w in folded for w in _PERSONAL_WORDS)


def run_show(script: ShowScript, gaps: Sequence[Gap], *, workers: int = 2) -> list[Committed]:
    """Narrate ``gaps`` in order as the live engine does: prepare ahead, commit in order.

    With ``workers`` > 1, that many gaps are prepared at once (a slow or dead
    LLM is waited on in parallel, not serially).
    """
    wanted = [g for g in gaps if script.wants_link(g)]
    out: list[Committed] = []
    if workers <= 1:
        for gap in wanted:
            _commit_into(out, script, script.prepare(gap))
        return out
    # Each request is built on the main thread in show order, after the line ``workers``
    # gaps back was committed: what a line is asked (the openers to avoid, the names just
    # heard) then does not depend on which thread ran first, so a rerun asks the same
    # and the line cache answers it.
    ahead: deque[Future[Draft]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segue-script") as pool:
        for gap in wanted:
            if len(ahead) == workers:
                _commit_into(out, script, ahead.popleft().result())
            ahead.append(pool.submit(script.propose, script.request(gap)))
        while ahead:
            _commit_into(out, script, ahead.popleft().result())
    return out


def _commit_into(out: list[Committed], script: ShowScript, draft: Draft) -> None:
    done = script.commit_line(draft)
    if done is not None:
        out.append(done)
