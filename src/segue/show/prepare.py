"""Preparing transitions ahead: cue, words and speech, in bounded background workers.

For each upcoming track the engine asks for a :class:`Prepared` transition: a
worker decides the handover (listening to both tracks where they meet), asks the
words stage for a link, waits for its turn to *commit* the words (strictly in show
order, so the narration's memory follows what is heard), and speaks the line. The
engine takes the result when it places the track: a finite render waits for it; a
live show takes whatever is ready by then and falls back (no ear, no link) rather
than stall the audio.

At most :data:`WORKERS` transitions are prepared at once, so two slow LLM calls
are waited on in parallel, never more; speech is synthesised one line at a time
(text-to-speech engines are not thread-safe).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from segue.circuit import breaker
from segue.config import Settings
from segue.models import Link, Speech, Track
from segue.narration.context import track_facts
from segue.narration.script import Gap
from segue.sequencing.rolling import Step
from segue.show.words import Script
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


@dataclass
class Prepared:
    """A transition being prepared: into ``step`` (show position ``pos``) from ``prev``."""

    pos: int
    step: Step
    prev: Track | None
    future: Future[Ready]
    committed: threading.Event = field(default_factory=threading.Event)
    discarded: threading.Event = field(default_factory=threading.Event)

    def discard(self) -> None:
        """Let the result go (the plan changed); the worker skips what it has not done."""
        self.discarded.set()


class Preparer:
    """Runs the preparation of one show's transitions (see the module docstring)."""

    def __init__(self, settings: Settings, script: Script, voice: SpeechEngine,
                 speech_cache: SpeechCache | None) -> None:  # fmt: skip
        self.settings = settings
        self.script = script
        self.voice = voice
        self.cache = speech_cache
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="segue-prep")
        self._voice_lock = threading.Lock()
        self._last: Prepared | None = None
        self._breaker = breaker(f"voice:{getattr(voice, 'name', 'voice')}")
        self._pending: list[Prepared] = []

    def submit(self, pos: int, step: Step, prev: Track | None) -> Prepared:
        """Start preparing the transition into ``step`` at show position ``pos``."""
        after = self._last
        future: Future[Ready] = Future()
        item = Prepared(pos=pos, step=step, prev=prev, future=future)
        self._last = item

        def run() -> None:
            try:
                future.set_result(self._prepare(item, after))
            except BaseException as exc:  # surfaced to the engine, which falls back
                future.set_exception(exc)
            finally:
                item.committed.set()

        self._pending.append(item)
        del self._pending[:-2 * WORKERS]
        self._pool.submit(run)
        return item

    def _prepare(self, item: Prepared, after: Prepared | None) -> Ready:
        start = time.perf_counter()
        handover = decide_handover(item.prev, item.step.track, self.settings)
        gap = Gap(before_track=item.pos, kind="opening" if item.pos == 0 else "link",
                  prev=track_facts(item.prev) if item.prev is not None else None,
                  next=track_facts(item.step.track), reason=item.step.transition.reason,
                  window_s=handover.window_s)  # fmt: skip
        if item.discarded.is_set() or not self.script.wants_link(gap):
            self._wait_turn(after)
            return Ready(handover, seconds=time.perf_counter() - start)
        draft = self.script.prepare(gap)
        self._wait_turn(after)
        if item.discarded.is_set():
            return Ready(handover, seconds=time.perf_counter() - start)
        link = self.script.commit(draft)
        if link is None:
            why = getattr(draft, "error", None)
            return Ready(handover, dropped=why, seconds=time.perf_counter() - start)
        speech, why = self.speak(link)
        return Ready(handover, link, speech, why, seconds=time.perf_counter() - start)

    @staticmethod
    def _wait_turn(after: Prepared | None) -> None:
        """Block until the transition before this one has committed its words."""
        if after is not None:
            after.committed.wait()

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

    def close(self) -> None:
        """Stop taking work; running preparations finish in the background."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        for item in self._pending:  # cancelled work never runs: release its successors
            item.discard()
            item.committed.set()
