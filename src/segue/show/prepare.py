"""Preparing transitions ahead: cue, words and speech, in bounded background workers.

For each upcoming track the engine asks for a :class:`Prepared` transition: a
worker decides the handover (listening to both tracks where they meet) and has the
words stage draft the link; a committer thread then *commits* the words strictly in
show order (so the narration's memory follows what is heard) and speaks the line. The
engine takes the result when it places the track: a finite render waits for it; a
live show takes whatever is ready by then and falls back (no ear, no link) rather
than stall the audio.

At most :data:`WORKERS` transitions are drafted at once, so two slow LLM calls are
waited on in parallel, never more; speech is synthesised one line at a time
(text-to-speech engines are not thread-safe).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from segue.circuit import breaker
from segue.config import Settings
from segue.models import Link, Speech, Track
from segue.narration.context import track_facts
from segue.narration.script import Gap
from segue.narration.showscript import Draft
from segue.sequencing.rolling import Step
from segue.show.words import Script
from segue.transition.cues import play_range_s
from segue.transition.handover import Handover, decide_handover
from segue.voice.speech import SpeechCache, SpeechEngine, speak_links

log = logging.getLogger(__name__)

#: Transitions prepared at once.
WORKERS = 2


@dataclass(frozen=True)
class Ready:
    """A prepared transition: the handover, and the link with its speech when there is one.

    ``dropped`` says why a link that was wanted is not spoken (words or voice failed).
    """

    handover: Handover
    link: Link | None = None
    speech: Speech | None = None
    dropped: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class GapFacts:
    """What the engine knows about a gap beyond its two tracks, for the words stage.

    ``total``: tracks in a finite show (``None``: endless); ``upcoming``: the tracks
    after the next one (mini-sets); ``airs_at``: when the link will be heard (wall
    clock); ``planned_energy_step``: the arc's planned energy step into the track.
    """

    total: int | None = None
    upcoming: tuple[Track, ...] = ()
    airs_at: dt.datetime | None = None
    planned_energy_step: float | None = None


def gap_for(pos: int, step: Step, prev: Track | None, facts: GapFacts,
            window_s: float = 0.0) -> Gap:  # fmt: skip
    """The words stage's view of the gap before ``step`` (show position ``pos``)."""
    return Gap(before_track=pos, kind="opening" if pos == 0 else "link",
               prev=track_facts(prev) if prev is not None else None,
               next=track_facts(step.track), reason=step.transition.reason, window_s=window_s,
               transition=step.transition if prev is not None else None, total=facts.total,
               upcoming=tuple(track_facts(t) for t in facts.upcoming), airs_at=facts.airs_at,
               planned_energy_step=facts.planned_energy_step)  # fmt: skip


def closing_gap(pos: int, last: Track) -> Gap:
    """The gap after the last track: its outro, to a second before the end."""
    _, src_end = play_range_s(last)
    window = max(0.0, src_end - max(last.analysis.outro_start_s, 0.0) - 1.0)
    return Gap(before_track=pos, kind="closing", prev=track_facts(last), next=None, reason="",
               window_s=round(window, 2))  # fmt: skip


@dataclass
class Prepared:
    """A transition being prepared: into ``step`` (show position ``pos``) from ``prev``."""

    pos: int
    step: Step
    prev: Track | None
    future: Future[Ready]
    gap: Gap | None = None
    talk: bool = False
    discarded: threading.Event = field(default_factory=threading.Event)

    def discard(self) -> None:
        """Let the result go (the plan changed); its words are still committed, in order."""
        self.discarded.set()


@dataclass(frozen=True)
class _Drafted:
    """The order-independent part of a preparation: the handover and the draft words."""

    handover: Handover
    draft: Draft | None
    seconds: float


class Preparer:
    """Runs the preparation of one show's transitions (see the module docstring).

    Handovers and drafts are made in a pool of :data:`WORKERS` threads, in any order;
    one committer thread then takes the transitions in show order, commits their
    words and speaks them, so a worker never waits for another's turn.
    """

    def __init__(self, settings: Settings, script: Script, voice: SpeechEngine,
                 speech_cache: SpeechCache | None) -> None:  # fmt: skip
        self.settings = settings
        self.script = script
        self.voice = voice
        self.cache = speech_cache
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="segue-prep")
        self._voice_lock = threading.Lock()
        self._breaker = breaker(f"voice:{getattr(voice, 'name', 'voice')}")
        self._closing = threading.Event()
        self._order: queue.Queue[tuple[Prepared, Future[_Drafted]] | None] = queue.Queue()
        self._committer = threading.Thread(target=self._commit_in_order, daemon=True,
                                           name="segue-commit")  # fmt: skip
        self._committer.start()

    def submit(self, pos: int, step: Step, prev: Track | None, facts: GapFacts) -> Prepared:
        """Start preparing the transition into ``step`` at show position ``pos``.

        The talk plan is asked here, in show order, whether the gap gets a link.
        """
        gap = gap_for(pos, step, prev, facts)
        item = Prepared(pos=pos, step=step, prev=prev, future=Future(), gap=gap,
                        talk=self.script.wants_link(gap))  # fmt: skip
        drafted = self._pool.submit(self._draft, item)
        self._order.put((item, drafted))
        return item

    def _draft(self, item: Prepared) -> _Drafted:
        start = time.perf_counter()
        handover = decide_handover(item.prev, item.step.track, self.settings)
        draft = None
        if item.talk and item.gap is not None and not item.discarded.is_set():
            draft = self.script.prepare(replace(item.gap, window_s=handover.window_s))
        return _Drafted(handover, draft, time.perf_counter() - start)

    def _commit_in_order(self) -> None:
        while (job := self._order.get()) is not None:
            item, drafted = job
            try:
                item.future.set_result(self._finish(item, drafted.result()))
            except BaseException as exc:  # surfaced to the engine, which falls back
                item.future.set_exception(exc)

    def _finish(self, item: Prepared, drafted: _Drafted) -> Ready:
        """Commit the words (every draft, in order, even one no longer wanted) and speak them."""
        start = time.perf_counter()
        if drafted.draft is None:
            return Ready(drafted.handover, seconds=drafted.seconds)
        link = self.script.commit(drafted.draft)
        seconds = drafted.seconds + time.perf_counter() - start
        if item.discarded.is_set() or self._closing.is_set():
            return Ready(drafted.handover, seconds=seconds)
        if link is None:
            return Ready(drafted.handover, dropped=drafted.draft.problem, seconds=seconds)
        speech, why = self.speak(link)
        return Ready(drafted.handover, link, speech, why,
                     seconds=drafted.seconds + time.perf_counter() - start)

    def speak(self, link: Link) -> tuple[Speech | None, str | None]:
        """Synthesise ``link`` (one line at a time), or say why it is not spoken."""
        if not self._breaker.allow():
            return None, self._breaker.open_reason()
        began = time.monotonic()
        with self._voice_lock:
            speeches, failures = speak_links([link], self.voice, self.settings, self.cache)
        if speeches:
            self._breaker.success()
            return speeches[0], None
        why = failures.get(link.before_track, "speech failed")
        self._breaker.failure(why, waited_s=time.monotonic() - began)
        return None, why

    def close(self, *, wait_s: float = 5.0) -> None:
        """Stop taking work and let the committer end (waiting at most ``wait_s``).

        Whatever is still queued is let go, so nothing more is spoken; a line being
        spoken now finishes first, so the voice can then be closed without cutting it.
        """
        self._closing.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._order.put(None)
        self._committer.join(wait_s)
