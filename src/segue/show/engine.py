"""The show engine: one live show, produced transition by transition.

``segue render``, ``segue serve`` and the prompt workbench all drive a
:class:`Show`. It owns the mix clock and, for each next track, runs the stages of
the data flow just ahead of the moment they are needed::

    rolling plan ─► handover (cue, ear) ─► words ─► speech ─► layout ─► renderer ─► blocks
     (sequencing)     (transition)         (narration) (voice)   (mixing, pure)

- The **rolling plan** (:mod:`segue.sequencing.rolling`) lists the next tracks and
  why; a finite show starts from the global plan (:func:`plan_order`: exact up to
  12 tracks), an endless one plans as it goes. Any change (a reaction, a request, a
  track added or lost) re-plans from the track playing now.
- **Preparation** (:mod:`.prepare`) decides the handover into the next track, then
  its words and speech, in bounded background workers.
- **Placement** happens :data:`PLACE_AHEAD_S` of audio before the transition is
  heard: the layout puts the track and its link on the clock and the renderer mixes
  them in. A finite render waits for preparation (the work decides when it is done);
  a live show takes what is ready and falls back (no ear, link dropped or attached
  late) rather than stall the audio.
- **Reactions** (:meth:`Show.react`) arrive from any thread: a skip cuts the playing
  track at the next beat within a second and fades into the next one; like and
  dislike are recorded and re-plan; a request in words becomes constraints.

Everything that happens is kept in a :class:`~.log.ShowLog` and announced as
:class:`~.model.ShowEvent` s stamped with the audio time they are heard at.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from segue.circuit import statuses
from segue.config import Settings, default_cache_dir
from segue.errors import PlanError
from segue.library import Library, song_of
from segue.mixing.render import Renderer
from segue.mixing.timeline import Layout
from segue.models import (
    FloatArray,
    Listener,
    Plan,
    Speech,
    TimelineLink,
    TimelineTrack,
    Track,
)
from segue.narration.narrator import Narrator
from segue.narration.script import Gap
from segue.sequencing.plan import plan_order, weights_from_settings
from segue.sequencing.preference import personal_weights
from segue.sequencing.rolling import ArcClock, Constraints, Heard, Rules, Step, plan_upcoming
from segue.show.llm_requests import LLMRequestReader, reader_for
from segue.show.log import LoggedTrack, ShowLog
from segue.show.model import (
    NowPlaying,
    Played,
    Reaction,
    ReactionResult,
    ShowEvent,
    Upcoming,
)
from segue.show.prepare import GapFacts, Prepared, Preparer, Ready, closing_gap, gap_for
from segue.show.reactions import apply_reaction
from segue.show.requests import Catalogue, interpret
from segue.show.words import Script
from segue.transition.cues import TransitionCue, intro_window_s, play_range_s
from segue.transition.handover import Handover, decide_handover
from segue.voice.speech import SpeechCache, SpeechEngine

log = logging.getLogger(__name__)

#: Audio seconds before a track's transition is heard that it is placed on the clock:
#: more than the longest overlap (12 s) plus the longest lead-in (6 s).
PLACE_AHEAD_S = 20.0
#: Render block length.
BLOCK_S = 0.5
#: A skip fades the playing track out over this long, from its next beat within a beat.
SKIP_FADE_S = 1.5
#: Most transitions a fast render prepares ahead (while looking for the next two links).
MAX_AHEAD = 8
#: Events kept for :meth:`Show.events_since`.
EVENT_BACKLOG = 500
#: Placed tracks kept for "now playing".
KEEP_RECENT = 6


def _default_script(listener: Listener, narrator: Narrator | None, settings: Settings
                    ) -> Script:  # fmt: skip
    """The narration's show script over ``narrator`` (default: the settings' narrator)."""
    from segue.narration.showscript import ShowScript

    if narrator is None:
        from segue.narration import make_narrator

        narrator = make_narrator(settings.narrator, settings)
    return ShowScript(listener, narrator, settings)


@dataclass
class _Placed:
    """A track on the clock: its show position, plan step and timeline entry."""

    pos: int
    step: Step
    placed: TimelineTrack
    key: int
    link_key: int | None
    ready: Ready
    ended: str | None = None

    @property
    def id(self) -> str:
        return self.step.id


class Show:
    """One show: a library, a listener and the engine that plays it (see the module docstring).

    Parameters
    ----------
    library : where the tracks come from (it may grow while the show runs).
    listener : who listens (talk level, likes, feedback that reweights the plan).
    settings : the one settings object, read at the edge.
    narrator, voice : who writes and who speaks the links (default: the settings').
    script : the words stage (default: one over ``narrator``; tests and the workbench
        may bring their own).
    endless : play forever (repeats allowed by the station's rules); else play each
        track once and end.
    plan : a finite show's global order (default: :func:`plan_order` of the library).
    track_ids : play only these library ids (a personal session's subset).
    arc : the energy arc (default: the settings'; ``wave`` for an endless show when
        the settings say nothing else).
    live : the blocks are pulled in real time: never wait on slow work.
    stop_after_s : end an endless show after the track that crosses this audio time.
    ceiling_dbfs : the limiter's ceiling (a file sink lowers it for codec headroom).
    keep_speech : keep every link's speech in the log (to render the timeline again).
    """

    def __init__(
        self,
        library: Library,
        *,
        listener: Listener,
        settings: Settings,
        narrator: Narrator | None = None,
        voice: SpeechEngine | None = None,
        script: Script | None = None,
        endless: bool = True,
        plan: Plan | None = None,
        track_ids: Sequence[str] | None = None,
        arc: str | None = None,
        live: bool = False,
        stop_after_s: float | None = None,
        ceiling_dbfs: float | None = None,
        keep_speech: bool = False,
        request_reader: LLMRequestReader | None = None,
    ) -> None:
        self.library = library
        self.listener = listener
        self.settings = settings
        self.sr = settings.sample_rate
        self.endless = endless
        self.live = live
        self.stop_after_s = stop_after_s
        self.subset = None if track_ids is None else frozenset(track_ids)
        self._own_voice = voice is None
        self._voice = voice
        self._preparer: Preparer | None = None
        self._script = script
        self._narrator = narrator
        self._reader = request_reader or (reader_for(narrator) if narrator else None)
        self.arc_name = arc or settings.arc
        self.weights = personal_weights(listener, weights_from_settings(settings))
        self.constraints = Constraints()
        self.talk_level = listener.talk_level
        self.layout = Layout(settings, ceiling_dbfs=ceiling_dbfs)
        self.renderer = Renderer(settings, sr=self.sr, ceiling_dbfs=ceiling_dbfs)
        self.log = ShowLog(keep_speech=keep_speech)
        self._initial_plan = plan
        self._lock = threading.RLock()
        self._init_clock()
        self._unsubscribe = library.subscribe(self._library_changed)

    def _init_clock(self) -> None:
        """The show's moving parts, empty: plan, queue, what is placed, events."""
        self._keys = itertools.count()
        self._upcoming: list[Step] = []
        self._queue: list[Prepared] = []
        self._placed: deque[_Placed] = deque(maxlen=KEEP_RECENT)
        self._heard: list[Heard] = []
        self._arc: ArcClock | None = None
        self._rules = Rules()
        self._count = 0
        self._total: int | None = None
        self._pending_skip: str | None = None
        self._late: tuple[_Placed, Prepared] | None = None
        self._finished = False
        self._end_s = math.inf
        self._out_samples = 0
        self._events: deque[ShowEvent] = deque(maxlen=EVENT_BACKLOG)
        self._unpublished: list[ShowEvent] = []
        self._seq = itertools.count(1)
        self._subscribers: list[Callable[[ShowEvent], None]] = []
        self._wall0: float | None = None
        self._started = False
        self._closed = False
        self._library_dirty = False

    # -- public API --------------------------------------------------------

    @property
    def voice(self) -> SpeechEngine:
        """Who speaks the links (made from the settings when first needed)."""
        if self._voice is None:
            from segue.voice.engines import make_engine

            self._voice = make_engine(self.settings.voice_engine, self.settings,
                                      language=self.listener.language)  # fmt: skip
        return self._voice

    @property
    def script(self) -> Script:
        """The words stage of this show (the narration's show script, made when first needed)."""
        if self._script is None:
            self._script = _default_script(self.listener, self._narrator, self.settings)
        return self._script

    @property
    def preparer(self) -> Preparer:
        """The background preparation of this show's transitions (made when first needed)."""
        if self._preparer is None:
            self._preparer = Preparer(self.settings, self.script, self.voice,
                                      SpeechCache(default_cache_dir() / "speech"))  # fmt: skip
        return self._preparer

    @property
    def position_s(self) -> float:
        """Audio time at the end of the last block yielded."""
        return self._out_samples / self.sr

    @property
    def finished(self) -> bool:
        """Whether a finite show has played to its end."""
        return self._finished and self._out_samples >= round(self._end_s * self.sr)

    def blocks(self, block_s: float = BLOCK_S) -> Iterator[FloatArray]:
        """The show's audio: float32 blocks of shape ``(2, n)``, endless unless finite.

        Rendered as fast as they are pulled; in a ``live`` show the caller pulls them
        in real time. Raises :class:`~segue.errors.PlanError` when there is nothing to
        play at the start.
        """
        block = max(1, round(block_s * self.sr))
        self._start()
        try:
            while True:
                self._step_engine()
                end = round(self._end_s * self.sr) if self._finished else None
                if end is not None and self.renderer.position >= end:
                    break
                n = block if end is None else min(block, end - self.renderer.position)
                out = self.renderer.render(n)
                self._after_render()
                if out.shape[1]:
                    self._out_samples += out.shape[1]
                    self._publish()
                    yield out
            tail = self.renderer.flush()
            if tail.shape[1]:
                self._out_samples += tail.shape[1]
                yield tail
            self._publish(everything=True)
        finally:
            self.renderer.close()

    def react(self, reaction: Reaction) -> ReactionResult:
        """Apply a listener's reaction (any thread); see :mod:`segue.show.reactions`."""
        reaction = self._with_llm_commands(reaction)
        with self._lock:
            if self.finished or self._closed:
                return ReactionResult(False, "the show has ended; reactions change nothing")
            result = apply_reaction(self, reaction)
            self.log.reaction(self.position_s, reaction.type,
                              {"accepted": result.accepted, "message": result.message,
                               "text": reaction.text})  # fmt: skip
            self._event("reaction", self.position_s, {"type": reaction.type,
                                                      "accepted": result.accepted,
                                                      "message": result.message})
            return result

    def _with_llm_commands(self, reaction: Reaction) -> Reaction:
        """A request the rules do not understand, with an LLM's commands for it.

        Asked outside the show's lock (the LLM has seconds; the audio has none), and
        only when the show's narrator is an LLM backend.
        """
        if reaction.type != "request" or self._reader is None or reaction.commands:
            return reaction
        with self._lock:
            pool, constraints, talk = self.pool(), self.constraints, self.talk_level
        catalogue = Catalogue.of(pool)
        if interpret(reaction.text, pool, constraints, talk, catalogue=catalogue).understood:
            return reaction
        reading = self._reader.read(reaction.text, catalogue, talk)
        if not reading.commands:
            log.info("request %r: no LLM reading (%s)", reaction.text, reading.problem)
            return reaction
        return replace(reaction, commands=reading.commands)

    def now_playing(self, at_s: float | None = None) -> NowPlaying:
        """The track audible at audio time ``at_s`` (default: the end of what was yielded)."""
        t = self.position_s if at_s is None else at_s
        with self._lock:
            entry = None
            for p in self._placed:
                if p.placed.start_s <= t:
                    entry = p
            links = list(self.log.links)[-4:]
        if entry is None:
            return NowPlaying(song=None, elapsed_s=0.0, remaining_s=0.0, why="")
        speaking = [lk.text for lk in links if lk.start_s <= t < lk.end_s]
        return NowPlaying(song=song_of(entry.step.track, entry.id),
                          elapsed_s=round(t - entry.placed.start_s, 2),
                          remaining_s=round(max(0.0, entry.placed.end_s - t), 2),
                          why=self.why(entry.step), link=speaking[-1] if speaking else None)

    def upcoming(self) -> list[Upcoming]:
        """What the rolling plan will play after the tracks already on the clock."""
        with self._lock:
            playing = self.now_playing()
            placed_next = [p.step for p in self._placed
                           if playing.song is not None and p.placed.start_s > self.position_s]
            steps = placed_next + list(self._upcoming)
        return [Upcoming(song=song_of(s.track, s.id), why=self.why(s)) for s in steps]

    def history(self, limit: int = 20) -> list[Played]:
        """Tracks that started playing, newest last."""
        wall0 = self._wall0 or time.time()
        now = self.position_s
        entries = [e for e in list(self.log.tracks) if e.placed.start_s <= now]
        placed = {p.placed.start_s: p for p in self._placed}
        out: list[Played] = []
        for e in entries[-limit:]:
            current = placed.get(e.placed.start_s)
            ended = e.ended if e.placed.end_s <= now or e.ended else None
            track = current.placed if current else e.placed
            out.append(Played(song=song_of(e.track, e.id), start_s=track.start_s,
                              played_at=round(wall0 + track.start_s, 3),
                              why=self.why(Step(e.id, e.track, e.transition)), ended=ended))
        return out

    def subscribe(self, callback: Callable[[ShowEvent], None]) -> Callable[[], None]:
        """Call ``callback`` with each event as the block that holds it is yielded."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def events_since(self, seq: int) -> list[ShowEvent]:
        """The published events after number ``seq`` (a bounded backlog)."""
        with self._lock:
            return [e for e in self._events if e.seq > seq]

    def status(self) -> dict[str, Any]:
        """Backends (circuit states), problems, and where the show is."""
        return {
            "position_s": round(self.position_s, 3),
            "tracks_played": self._count,
            "finished": self.finished,
            "talk_level": self.talk_level,
            "constraints": self.constraints.as_dict(),
            "backends": {k: asdict(v) for k, v in statuses().items()},
            "problems": list(self.library.problems),
        }

    def close(self) -> None:
        """Stop preparing, close the decoders and (when the show made it) the voice."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        if self._preparer is not None:
            self._preparer.close()
        self.renderer.close()
        if self._own_voice and self._voice is not None:
            from segue.voice.engines import close_engine

            close_engine(self._voice)

    def __enter__(self) -> Show:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def why(self, step: Step) -> str:
        """Why ``step`` comes where it does, for listeners."""
        return step.transition.reason

    # -- planning ----------------------------------------------------------

    def pool(self) -> dict[str, Track]:
        """The tracks this show may play, by library id."""
        tracks = {i: t for i in self.library.ids() if (t := self.library.get(i)) is not None}
        if self.subset is not None:
            tracks = {i: t for i, t in tracks.items() if i in self.subset}
        return tracks

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            self._plan_start()
            self._top_up()

    def _plan_start(self) -> None:
        """The first plan: the global order of a finite show, the first steps of an endless one."""
        if self._arc is None:
            pool = self.pool()
            if not pool:
                raise PlanError("nothing to play: the library has no playable track yet")
            energies = np.array([t.analysis.energy for t in pool.values()], dtype=np.float64)
            self._rules = Rules.for_library([t.analysis.duration_s for t in pool.values()])
            if self.endless:
                self._arc = ArcClock(self.arc_name, energies)
                self._replan()
            else:
                self._arc = ArcClock(self.arc_name, energies, length=len(pool))
                self._upcoming = self._global_plan(pool)
                self._total = len(self._upcoming)

    def gaps(self, *, listen: bool = False) -> list[Gap]:
        """Every gap a finite show would narrate, in order, closing included (no audio).

        The same plan, handovers and facts the show would prepare its links from; the
        workbench narrates these. ``listen`` refines beatmatches by ear (slower).
        """
        with self._lock:
            self._plan_start()
            steps = list(self._upcoming)
        out: list[Gap] = []
        prev: Track | None = None
        for k, step in enumerate(steps):
            handover = decide_handover(prev, step.track, self.settings, listen=listen)
            out.append(gap_for(k, step, prev, self._gap_facts(k, k), handover.window_s))
            prev = step.track
        if prev is not None and not self.endless:
            out.append(closing_gap(len(steps), prev))
        return out

    def _global_plan(self, pool: dict[str, Track]) -> list[Step]:
        """A finite show's whole order: the given plan, or the exact/near-optimal one."""
        plan = self._initial_plan or plan_order(
            list(pool.values()), self.weights, arc=self.arc_name, settings=self.settings)
        ids = {t.path: i for i, t in pool.items()}
        steps: list[Step] = []
        for k, track in enumerate(plan.tracks):
            transition = plan.transitions[k - 1] if k else None
            if transition is None:
                from segue.models import Transition

                transition = Transition(0, 0, 0.0, {}, "the opening track")
            steps.append(Step(id=ids.get(track.path) or self._add(track), track=track,
                              transition=transition))  # fmt: skip
        return steps

    def _add(self, track: Track) -> str:
        """A track of a given plan that is not in the library yet: add it."""
        return self.library.add(track) or track.path

    def _current(self) -> tuple[str, Track] | None:
        """The last track on the clock (the plan goes on from there)."""
        last = self._placed[-1] if self._placed else None
        return (last.id, last.step.track) if last else None

    def _replan(self) -> None:
        """Plan the upcoming tracks again from the last placed one; keep what still fits."""
        assert self._arc is not None
        pool = self.pool()
        if not self.endless:
            played = {h.id for h in self._heard}
            pool = {i: t for i, t in pool.items() if i not in played}
        steps = plan_upcoming(
            self._current(), pool, heard=self._heard, now_s=self.position_s,
            position=self._count, weights=self.weights, arc=self._arc, rules=self._rules,
            constraints=self.constraints, repeats=self.endless, seed=self.settings.seed,
        )  # fmt: skip
        self._upcoming = steps
        keep = 0
        for item, step in zip(self._queue, steps, strict=False):
            if item.step.id != step.id:
                break
            keep += 1
        for item in self._queue[keep:]:
            item.discard()
        self._queue = self._queue[:keep]
        self._top_up()
        self._event("upcoming", self.position_s,
                    {"upcoming": [asdict(u) for u in self.upcoming()]})

    def _library_changed(self, library: Library) -> None:
        """A track joined or left the library: re-plan at the next block (not per track)."""
        self._library_dirty = True

    def _replan_for_library(self) -> None:
        """Re-plan once for however many library changes came since the last block."""
        self._library_dirty = False
        with self._lock:
            if not self._started or self._closed:
                return
            if self.endless or self._count == 0:
                self._replan()
                return
            # A finite show keeps its order; a track that left the library leaves it too.
            gone = {s.id for s in self._upcoming if self.library.get(s.id) is None}
            if gone:
                self._upcoming = [s for s in self._upcoming if s.id not in gone]
                for item in self._queue:
                    item.discard()
                self._queue = []
                self._top_up()

    def _top_up(self) -> None:
        """Keep the next transitions in preparation.

        Live, one ahead: it has minutes to get ready. A fast render keeps the next two
        *links* in preparation (up to :data:`MAX_AHEAD` transitions), so two slow or
        dead LLM calls are waited on together and a failing server opens its circuit
        after one timeout's time, not two.
        """
        while len(self._queue) < len(self._upcoming) and self._wants_more():
            step = self._upcoming[len(self._queue)]
            prev = self._queue[-1].step.track if self._queue else (
                self._placed[-1].step.track if self._placed else None)  # fmt: skip
            pos = self._count + len(self._queue)
            facts = self._gap_facts(pos, len(self._queue))
            self._queue.append(self.preparer.submit(pos, step, prev, facts))
        if self.endless and len(self._upcoming) <= len(self._queue) and self._placed:
            self._extend_plan()

    def _wants_more(self) -> bool:
        if self.live:
            return len(self._queue) < 1
        talking = sum(1 for item in self._queue if item.talk)
        return len(self._queue) < 2 or (talking < 2 and len(self._queue) < MAX_AHEAD)

    def _gap_facts(self, pos: int, index: int) -> GapFacts:
        """What the words stage may know about the gap before upcoming track ``index``."""
        assert self._arc is not None
        ahead_s = max(0.0, self.layout.end_s - self.position_s) if self.live else 0.0
        targets = self._arc.targets(max(0, pos - 1), 2, self.constraints.energy_shift)
        return GapFacts(
            total=None if self.endless else self._total,
            upcoming=tuple(s.track for s in self._upcoming[index + 1 : index + 5]),
            airs_at=dt.datetime.now() + dt.timedelta(seconds=ahead_s),
            planned_energy_step=float(targets[1] - targets[0])
            if targets is not None and pos > 0 else None,
        )  # fmt: skip

    def _extend_plan(self) -> None:
        """An endless plan running short: plan on from the last queued track."""
        assert self._arc is not None
        last = self._queue[-1].step if self._queue else self._placed[-1].step
        heard = self._heard + [Heard(s.id, s.track.tags.artist, self.position_s)
                               for s in self._upcoming]  # fmt: skip
        more = plan_upcoming(
            (last.id, last.track), self.pool(), heard=heard, now_s=self.position_s,
            position=self._count + len(self._upcoming), weights=self.weights, arc=self._arc,
            rules=self._rules, constraints=self.constraints, repeats=True,
            seed=self.settings.seed,
        )  # fmt: skip
        self._upcoming += more

    # -- the render loop ----------------------------------------------------

    def _step_engine(self) -> None:
        """Before each block: apply a skip, follow the library, place what is heard soon."""
        if self._pending_skip is not None:
            self._skip_now()
        if self._library_dirty:
            self._replan_for_library()
        while not self._finished and self._needs_next():
            item = self._queue[0] if self._queue else None
            if item is None:
                with self._lock:
                    self._finish()
                break
            ready = self._wait_ready(item)
            with self._lock:
                if not self._queue or self._queue[0] is not item:
                    continue  # re-planned while waiting
                self._queue.pop(0)
                self._upcoming = self._upcoming[1:] if self._upcoming else []
                self._place(item, ready)
                self._top_up()
        self._attach_late()

    def _needs_next(self) -> bool:
        now_s = self.renderer.position / self.sr
        return not self._placed or now_s + PLACE_AHEAD_S >= self.layout.end_s

    def _wait_ready(self, item: Prepared) -> Ready | None:
        """The prepared transition; live, ``None`` when it is not ready yet (fall back)."""
        if self.live and not item.future.done():
            return None
        try:
            return item.future.result()
        except Exception as exc:  # a bug in a stage must not stop the show
            log.exception("preparing track %d failed", item.pos + 1)
            self.log.drop(item.pos, f"preparation failed ({exc})")
            return None

    def _place(self, item: Prepared, ready: Ready | None, *, skip: bool = False) -> None:
        """Put the track of ``item`` (and its link, if ready and it fits) on the clock."""
        step = item.step
        prev = self._placed[-1].step.track if self._placed else None
        late = ready is None
        if ready is None:
            ready = Ready(decide_handover(prev, step.track, self.settings, listen=False))
        handover = self._skip_handover(step.track, ready.handover) if skip else ready.handover
        speech = ready.speech
        if speech is not None and skip and speech.duration_s > handover.window_s:
            self.log.drop(item.pos, "skipped into: no time for the link")
            speech = None
        before, now_tt, link = self.layout.place(step.track, handover, speech)
        if before is not None and self._placed:
            self._update_placed(self._placed[-1], before)
        key = next(self._keys)
        self.renderer.put_track(key, now_tt)
        link_key = None
        if link is not None and speech is not None:
            link_key = self._put_link(item.pos, link, speech)
        if ready.link is not None and speech is None and not skip:
            self.log.drop(item.pos, ready.dropped or "no speech")
        entry = _Placed(pos=item.pos, step=step, placed=now_tt, key=key, link_key=link_key,
                        ready=ready)  # fmt: skip
        self._placed.append(entry)
        self.log.track(LoggedTrack(step.id, step.track, step.transition, now_tt))
        self._heard.append(Heard(step.id, step.track.tags.artist, now_tt.start_s))
        self._count += 1
        self._event("track", now_tt.start_s, {"song": asdict(song_of(step.track, step.id)),
                                              "why": self.why(step)})
        if late:
            self._late = (entry, item)
        if self.stop_after_s is not None and self.layout.end_s >= self.stop_after_s:
            self._finish()

    def _put_link(self, pos: int, link: TimelineLink, speech: Speech) -> int:
        key = next(self._keys)
        self.renderer.put_link(key, link, speech.samples)
        self.log.link(link, speech)
        self._event("link", link.start_s, {"text": link.text, "start_s": link.start_s,
                                           "end_s": link.end_s, "backend": link.backend,
                                           "fallback": link.fallback})
        return key

    def _update_placed(self, entry: _Placed, placed: TimelineTrack, ended: str | None = None
                       ) -> None:  # fmt: skip
        """A placed track changed (its fade-out was decided, or it was cut)."""
        entry.placed = placed
        entry.ended = ended or entry.ended
        self.renderer.put_track(entry.key, placed)
        self.log.track(LoggedTrack(entry.id, entry.step.track, entry.step.transition, placed,
                                   ended=entry.ended))  # fmt: skip

    def _attach_late(self) -> None:
        """A live link that was not ready when its track was placed: add it if it still fits."""
        if self._late is None:
            return
        entry, item = self._late
        if not item.future.done():
            if self.renderer.position / self.sr > entry.placed.intro_end_s:
                self._late = None
            return
        self._late = None
        if not self._placed or self._placed[-1] is not entry:
            return
        try:
            ready = item.future.result()
        except Exception:
            return
        if ready.speech is None:
            if ready.link is not None:
                self.log.drop(item.pos, ready.dropped or "no speech")
            return
        link = self.layout.attach_link(ready.handover, ready.speech,
                                       not_before_s=self.renderer.position / self.sr + 0.1)
        if link is None:
            self.log.drop(item.pos, "words and voice not ready in time")
            return
        entry.link_key = self._put_link(item.pos, link, ready.speech)

    def _after_render(self) -> None:
        """After each block: a track that stopped decoding is skipped and taken out of play."""
        for key in self.renderer.take_failed():
            with self._lock:
                entry = next((p for p in self._placed if p.key == key), None)
                if entry is None:
                    continue
                self.library.remove(entry.id, "cannot be decoded any more (deleted or damaged); "
                                              "skipped")  # fmt: skip
                self._event("problem", self.position_s,
                            {"message": f"{entry.step.track.tags.title}: cannot be decoded"})
                if entry.placed.end_s > self.renderer.position / self.sr:
                    self._pending_skip = "unplayable"

    # -- skips ---------------------------------------------------------------

    def request_skip(self, why: str = "skipped") -> None:
        """Skip the playing track at the next block (see :meth:`_skip_now`)."""
        self._pending_skip = why

    def _skip_now(self) -> None:
        """Cut the playing track at its next beat and fade into the next one."""
        why, self._pending_skip = self._pending_skip, None
        with self._lock:
            now_s = self.renderer.position / self.sr
            playing = [p for p in self._placed if p.placed.start_s <= now_s]
            if not playing or playing[-1].placed.end_s <= now_s + SKIP_FADE_S:
                return
            current = playing[-1]
            self._take_back_after(current)
            cut_at = self._next_beat(current, now_s)
            cut = self.layout.cut(cut_at + SKIP_FADE_S)
            if cut is None:
                return
            self._update_placed(current, cut, ended=why)
            if not self._queue:
                self._replan()
            if not self._queue:
                self._finish()
                return
        item = self._queue[0]
        ready = self._wait_ready(item)
        with self._lock:
            if self._queue and self._queue[0] is item:
                self._queue.pop(0)
                self._upcoming = self._upcoming[1:] if self._upcoming else []
                self._place(item, ready, skip=True)
                self._top_up()

    def _take_back_after(self, current: _Placed) -> None:
        """Tracks placed after the playing one are not heard yet: back into the queue."""
        later = [p for p in self._placed if p.placed.start_s > current.placed.start_s]
        for p in reversed(later):
            self.layout.unplace()
            self.renderer.remove_track(p.key)
            if p.link_key is not None:
                self.renderer.remove_link(p.link_key)
            self._placed.remove(p)
            self._heard.pop()
            self._count -= 1
            done: Future[Ready] = Future()
            done.set_result(p.ready)
            back = Prepared(pos=p.pos, step=p.step, prev=current.step.track, future=done)
            self._queue.insert(0, back)
            self._upcoming.insert(0, p.step)
            self.log.forget(p.id, p.pos)

    def _next_beat(self, entry: _Placed, now_s: float) -> float:
        """The first beat of ``entry`` after ``now_s`` (mix time), at most a beat away."""
        a = entry.step.track.analysis
        seg = next((s for s in entry.placed.segments if s.mix_start_s <= now_s < s.mix_end_s),
                   None)  # fmt: skip
        if seg is None or a.bpm_confidence < 0.3 or not a.beat_times_s:
            return now_s
        src = seg.source_start_s + (now_s - seg.mix_start_s) * seg.rate
        beats = np.asarray(a.beat_times_s)
        later = beats[beats > src + 0.02]
        if not len(later) or later[0] - src > 60.0 / max(a.bpm, 40.0) + 0.01:
            return now_s
        return float(now_s + (later[0] - src) / seg.rate)

    def _skip_handover(self, track: Track, decided: Handover) -> Handover:
        """The handover after a skip: a short fade, the link (if any) over the intro alone."""
        cue = TransitionCue("fade", SKIP_FADE_S, reason="skipped: a short fade")
        start, _ = play_range_s(track)
        return replace(decided, cue=cue, lead_in_s=0.0,
                       window_s=round(intro_window_s(track, self.settings), 2),
                       post_source_s=max(decided.post_source_s, start))

    # -- the end ---------------------------------------------------------------

    def _finish(self) -> None:
        """No more tracks: say the closing line over the last outro and end after it."""
        if self._finished:
            return
        self._finished = True
        for item in self._queue:
            item.discard()
        self._queue = []
        self._upcoming = []
        end = self.layout.end_s
        closing = self._closing_link()
        if closing is not None:
            end = max(end, closing.end_s + self.settings.duck_up_s)
        self._end_s = end

    def _closing_link(self) -> TimelineLink | None:
        if not (self.settings.closing_link and self._placed) or self.talk_level == "off":
            return None
        gap = closing_gap(self._count, self._placed[-1].step.track)
        if not self.script.wants_link(gap):
            return None
        link = self.script.commit(self.script.prepare(gap))
        if link is None:
            return None
        speech, why = self.preparer.speak(link)
        if speech is None:
            self.log.drop(self._count, why or "no speech")
            return None
        placed = self.layout.closing(speech)
        self._put_link(self._count, placed, speech)
        return placed

    # -- events -------------------------------------------------------------------

    def _event(self, kind: str, at_s: float, data: dict[str, Any]) -> None:
        event = ShowEvent(seq=0, kind=kind, at_s=round(at_s, 3), data=data)  # type: ignore[arg-type]
        with self._lock:
            self._unpublished.append(event)

    def _publish(self, *, everything: bool = False) -> None:
        """Hand out the events whose audio time has been yielded, in time order."""
        if self._wall0 is None:
            self._wall0 = time.time()
        now = self.position_s
        with self._lock:
            due = [e for e in self._unpublished if everything or e.at_s <= now]
            if not due:
                return
            self._unpublished = [e for e in self._unpublished if e not in due]
            due.sort(key=lambda e: e.at_s)
            numbered = [replace(e, seq=next(self._seq)) for e in due]
            self._events.extend(numbered)
            subscribers = list(self._subscribers)
        for event in numbered:
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:  # a subscriber's bug must not stop the show
                    log.exception("show event subscriber failed")
