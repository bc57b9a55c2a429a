"""The set behind ``segue serve``: prepared in the background, streamed per client, paced.

A :class:`Station` owns one set of inputs. At start-up a background thread
analyses the tracks (through the analysis cache, so a second start is quick),
orders them and builds the first :class:`SetSession` (script, speech, timeline);
until then the station is not ready and a stream waits for it, bounded.

Each new stream gets its own session and its own render (one renderer, one
encoder per client): a listener hears the set from its start, at their own
pace, and a new session re-scripts with the templates as they are on disk now
(the narrator's :class:`~segue.narration.templates.TemplateStore` re-reads an
edited file), re-speaking only when the words changed. Per-client rendering
costs one renderer and one ffmpeg per listener, which is right for a personal
DJ on one machine; a shared broadcast would save CPU for many listeners but
make every new listener join mid-set with the old words.

Rendering is paced to real time plus a small lead (:attr:`Station.lead_s`), so a
slow client never makes the server render ahead without bound: memory stays a
few tracks' decoders and the lead's blocks.

Thread safety: sessions are built under one lock (the pyttsx3 engine is neither
thread-safe nor reentrant); a session's position is a pair of floats written by
its render thread and read by request handlers.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from segue.config import Settings, default_cache_dir
from segue.errors import InputError, SegueError
from segue.mixing.artifacts import timeline_dict
from segue.mixing.encode import CODEC_HEADROOM_DB, STREAM_FORMATS, encode_stream
from segue.mixing.render import render_blocks
from segue.mixing.timeline import build_timeline
from segue.models import FloatArray, Link, Listener, Plan, Timeline, Track
from segue.narration import make_narrator, write_script
from segue.narration.narrator import Narrator
from segue.sequencing import plan_order
from segue.voice.engines import close_engine, make_engine
from segue.voice.speech import SpeechCache, SpeechEngine, speak_links

log = logging.getLogger(__name__)


class NotReadyError(SegueError):
    """The set is still being prepared (or its preparation failed)."""


@dataclass
class SetSession:
    """One scripted, spoken and placed version of the set, as one client streams it.

    ``started_at`` (monotonic seconds) is set when its first block is rendered,
    ``ended_at`` when its stream ends or its client leaves; ``rendered_s`` is
    how much of the mix has been rendered so far.
    """

    id: int
    timeline: Timeline
    plan: Plan
    links: tuple[Link, ...]
    dropped: dict[int, str] = field(default_factory=dict)
    started_at: float | None = None
    rendered_s: float = 0.0
    ended_at: float | None = None

    def position_s(self, now: float | None = None) -> float:
        """Seconds of the mix heard so far: wall time since the start, bounded by the render."""
        if self.started_at is None:
            return 0.0
        now = time.monotonic() if now is None else now
        if self.ended_at is not None:
            now = min(now, self.ended_at)
        return max(0.0, min(now - self.started_at, self.rendered_s, self.timeline.duration_s))


class Station:
    """A set prepared in the background and streamed to each client on its own.

    Parameters
    ----------
    paths : audio files or folders.
    listener : who is listening (talk level, name, likes).
    settings : the one settings object of the service.
    narrator, engine : injected for tests; default from ``settings`` (kept alive, so
        template edits are picked up by the narrator's store).
    lead_s : how far rendering may run ahead of real time, in seconds.
    block_s : render block length in seconds.
    ready_timeout_s : how long a stream waits for the set to be ready.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        listener: Listener,
        settings: Settings,
        narrator: Narrator | None = None,
        engine: SpeechEngine | None = None,
        lead_s: float = 2.5,
        block_s: float = 0.5,
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.paths = list(paths)
        self.ready_timeout_s = ready_timeout_s
        self.listener = listener
        self.settings = settings
        self.lead_s = lead_s
        self.block_s = block_s
        self.state = "starting"
        self.error: str | None = None
        self.problems: list[str] = []
        self._narrator = narrator
        self._engine = engine
        self._own_engine = engine is None
        self._tracks: list[Track] = []
        self._plan: Plan | None = None
        self._latest: SetSession | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready_after_s: float | None = None

    # -- preparation -------------------------------------------------------

    def start(self) -> None:
        """Begin preparing the set in a background thread (returns at once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._prepare, name="segue-prepare",
                                            daemon=True)  # fmt: skip
            self._thread.start()

    def _prepare(self) -> None:
        from segue.pipeline import analyze_files, collect_inputs

        began = time.monotonic()
        try:
            self.state = "analysing"
            files, problems = collect_inputs(self.paths)
            tracks, failed = analyze_files(files, self.settings)
            self.problems = problems + failed
            for problem in self.problems:
                log.warning("skipped %s", problem)
            if not tracks:
                raise InputError("nothing to play: " + ("; ".join(self.problems) or "no input"))
            self._tracks = tracks
            self.state = "planning"
            self._plan = plan_order(tracks)
            self.state = "scripting"
            self._latest = self._build_session()
            self.ready_after_s = time.monotonic() - began
            self.state = "ready"
            log.info("set ready after %.1f s", self.ready_after_s)
        except SegueError as exc:
            self.error = str(exc)
            self.state = "failed"
            log.error("cannot prepare the set: %s", exc)
        except Exception as exc:  # a bug must not leave clients waiting forever
            self.error = f"unexpected error: {exc}"
            self.state = "failed"
            log.exception("cannot prepare the set")
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        """Whether a stream can start now."""
        return self.state == "ready"

    def wait_done(self, timeout_s: float | None = None) -> bool:
        """Block until preparation finished (ready or failed); ``False`` on timeout."""
        return self._done.wait(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        """Block until the set is ready, at most ``timeout_s`` seconds.

        Raises
        ------
        NotReadyError
            When preparation failed, or is still running after ``timeout_s``.

        """
        self._done.wait(timeout_s)
        if self.state == "failed":
            raise NotReadyError(f"the set could not be prepared: {self.error}")
        if not self.ready:
            raise NotReadyError(f"the set is still being prepared ({self.state})")

    # -- sessions ----------------------------------------------------------

    def _narrator_now(self) -> Narrator:
        if self._narrator is None:
            self._narrator = make_narrator(self.settings.narrator, self.settings)
        return self._narrator

    def _engine_now(self) -> SpeechEngine:
        if self._engine is None:
            self._engine = make_engine(self.settings.voice_engine, self.settings,
                                       language=self.listener.language)  # fmt: skip
        return self._engine

    def _build_session(self) -> SetSession:
        """Script the plan with the current templates; re-speak only when the words changed."""
        assert self._plan is not None
        with self._lock:
            links = tuple(write_script(self._plan, self.listener, self._narrator_now(),
                                       self.settings, closing=self.settings.closing_link))
            prev = self._latest
            if prev is not None and [lk.text for lk in prev.links] == [lk.text for lk in links]:
                timeline, dropped = prev.timeline, prev.dropped
            else:
                speeches, dropped = speak_links(links, self._engine_now(), self.settings,
                                                SpeechCache(default_cache_dir() / "speech"))
                # One timeline serves every stream format: gains are set for the
                # lowest of their limiter ceilings.
                ceiling = self.settings.ceiling_dbfs - max(
                    CODEC_HEADROOM_DB.get(f".{fmt}", 0.0) for fmt in STREAM_FORMATS)
                timeline = build_timeline(self._plan, speeches, self.settings,
                                          ceiling_dbfs=ceiling)
            session = SetSession(id=next(self._ids), timeline=timeline, plan=self._plan,
                                 links=links, dropped=dict(dropped))  # fmt: skip
        return session

    def new_session(self) -> SetSession:
        """A fresh session for a new stream, with the templates as they are now.

        Raises
        ------
        NotReadyError
            Before the set is ready.

        """
        if not self.ready:
            raise NotReadyError(f"the set is still being prepared ({self.state})")
        session = self._build_session()
        self._latest = session
        return session

    @property
    def latest(self) -> SetSession:
        """The most recent session (what ``/api/now`` and ``/api/timeline`` describe).

        Raises
        ------
        NotReadyError
            Before the set is ready.

        """
        if self._latest is None:
            raise NotReadyError(f"the set is still being prepared ({self.state})")
        return self._latest

    # -- rendering ---------------------------------------------------------

    def blocks(
        self, session: SetSession, stop: threading.Event, *, ceiling_dbfs: float | None = None
    ) -> Iterator[FloatArray]:
        """The session's mix as PCM blocks, paced to real time plus :attr:`lead_s`.

        Stops early, closing the renderer's decoders, once ``stop`` is set.
        """
        sr = session.timeline.sr
        source = render_blocks(session.timeline, self.settings, block_s=self.block_s,
                               ceiling_dbfs=ceiling_dbfs)  # fmt: skip
        sent = 0
        try:
            for block in source:
                if session.started_at is None:
                    session.started_at = time.monotonic()
                while True:
                    ahead = sent / sr - (time.monotonic() - session.started_at)
                    if ahead <= self.lead_s:
                        break
                    if stop.wait(min(ahead - self.lead_s, 0.25)):
                        return
                if stop.is_set():
                    return
                yield block
                sent += block.shape[1]
                session.rendered_s = sent / sr
        finally:
            session.ended_at = time.monotonic()
            _close(source)

    # -- descriptions ------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Health: the preparation state, any error, skipped inputs."""
        return {"state": self.state, "ready": self.ready, "error": self.error,
                "problems": list(self.problems), "ready_after_s": self.ready_after_s}  # fmt: skip

    def timeline(self) -> dict[str, Any]:
        """The latest session's timeline JSON plus where its stream is now."""
        session = self.latest
        data = timeline_dict(session.timeline, session.plan, session.dropped)
        data["session"] = session.id
        data["position_s"] = session.position_s()
        return data

    def now(self, position_s: float | None = None) -> dict[str, Any]:
        """What plays at ``position_s`` (default: the latest stream's position).

        During a crossfade the incoming track counts as playing. ``link`` is the
        link being spoken, else ``None``; ``last_link`` the latest one heard.
        """
        session = self.latest
        tl = session.timeline
        t = session.position_s() if position_s is None else max(0.0, position_s)
        track_index = 0
        for i, tr in enumerate(tl.tracks):
            if tr.start_s <= t:
                track_index = i
        tr = tl.tracks[track_index]
        speaking = [lk for lk in tl.links if lk.start_s <= t < lk.end_s]
        heard = [lk for lk in tl.links if lk.start_s <= t]
        return {
            "session": session.id,
            "position_s": t,
            "duration_s": tl.duration_s,
            "track": {"index": track_index, "title": tr.title, "artist": tr.artist,
                      "start_s": tr.start_s, "end_s": tr.end_s},
            "link": _link_json(speaking[-1]) if speaking else None,
            "last_link": _link_json(heard[-1]) if heard else None,
        }  # fmt: skip

    def close(self) -> None:
        """Release the speech engine (when the station made it)."""
        if self._own_engine and self._engine is not None:
            with self._lock:
                close_engine(self._engine)
                self._engine = None


def media_type(fmt: str) -> str:
    """The HTTP media type of stream format ``fmt`` (``mp3``, ``ogg``, ``opus``)."""
    return STREAM_FORMATS[fmt][1]


async def encoded_stream(station: Station, session: SetSession, fmt: str) -> AsyncIterator[bytes]:
    """The session's mix encoded as ``fmt``, chunk by chunk, paced to real time.

    Each chunk is read in a worker thread. When the client goes away (the
    generator is cancelled or closed), the renderer is told to stop and the
    encoder is killed, so no ffmpeg process outlives the stream.
    """
    stop = threading.Event()
    ceiling = station.settings.ceiling_dbfs - CODEC_HEADROOM_DB.get(f".{fmt}", 0.0)
    chunks = encode_stream(station.blocks(session, stop, ceiling_dbfs=ceiling),
                           sr=session.timeline.sr, fmt=fmt,
                           ceiling_dbfs=station.settings.ceiling_dbfs)  # fmt: skip
    try:
        while True:
            # Not abandoned on cancel: the read finishes first, so closing below is safe.
            chunk = await anyio.to_thread.run_sync(next, chunks, None)
            if chunk is None:
                break
            yield chunk
    finally:
        stop.set()
        _close(chunks)  # kills the encoder; the feeder's render stops at ``stop``


def _close(iterator: object) -> None:
    """Close a generator (runs its ``finally``: decoders and encoders stop)."""
    close = getattr(iterator, "close", None)
    if callable(close):
        close()


def _link_json(link: Any) -> dict[str, Any]:
    return {"text": link.text, "start_s": link.start_s, "end_s": link.end_s,
            "before_track": link.before_track}  # fmt: skip
