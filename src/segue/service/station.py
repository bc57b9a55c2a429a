"""The station behind ``segue serve``: a library, one broadcast, personal sessions.

A :class:`Station` owns the growing :class:`~segue.library.Library`, the
broadcast :class:`~segue.service.channel.Channel` (one show for every listener,
started as soon as the library has a playable track), the
:class:`~segue.service.sessions.SessionManager` and, when configured, the
Icecast relay. Its :meth:`health` never waits on a show: show status is polled
in the background and read from a cache.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from segue.circuit import statuses
from segue.library import Library
from segue.models import Listener
from segue.service.channel import Channel
from segue.service.security import without_paths
from segue.service.sessions import SessionManager
from segue.service.shows import ShowFactory, ShowSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StationConfig:
    """How the station presents itself and what it allows."""

    name: str = "segue"
    description: str = "An AI DJ: your music, ordered, narrated and mixed live."
    #: Required on every API and stream route when set.
    token: str | None = None
    #: Where listeners reach the service (for playlists), e.g. ``http://radio.example:8000``;
    #: empty: the request's own (validated) host.
    public_url: str = ""
    #: How far rendering runs ahead of what listeners hear: the burst a new listener gets
    #: and the slack before a slow moment of the show is heard as a gap. Four seconds
    #: for the broadcast (about Icecast's 64 KB burst at 192 kbit/s, and more); 1.5 s
    #: for a session, whose skips must be heard within 3 s.
    broadcast_lead_s: float = 4.0
    session_lead_s: float = 1.5
    max_sessions: int = 8
    session_idle_s: float = 600.0
    reactions_per_min: float = 20.0
    #: Broadcast formats encoded even while nobody listens, so that the station's first
    #: listener hears it as fast as the next (an encoder takes about 0.2 s to start).
    warm_formats: tuple[str, ...] = ("mp3",)
    #: Seconds a stream write may wait for a client that does not read.
    stall_s: float = 10.0
    #: ``icecast://source:PASSWORD@HOST:PORT/MOUNT`` to relay the broadcast to.
    icecast_url: str | None = None
    #: Stored listeners sessions may name by id (the ``--listener`` profile's file stem).
    listeners: dict[str, Listener] = field(default_factory=dict)


class Station:
    """See the module docstring.

    Parameters
    ----------
    library : the library (scanning in the background, or already filled).
    factory : makes a show from a :class:`ShowSpec`.
    config : names, limits, token.
    listener : the broadcast's listener profile.
    on_close : called once when the station closes (the shared voice engines).
    wait_for_tracks : start the broadcast only once the library has a track (a show
        that brings its own audio, as in transport tests, needs no library).
    """

    def __init__(self, library: Library, factory: ShowFactory, config: StationConfig, *,
                 listener: Listener, on_close: Callable[[], None] | None = None,
                 wait_for_tracks: bool = True) -> None:  # fmt: skip
        self.library = library
        self.wait_for_tracks = wait_for_tracks
        self.factory = factory
        self.config = config
        self.listener = listener
        self.sessions = SessionManager(factory, max_sessions=config.max_sessions,
                                       idle_s=config.session_idle_s,
                                       lead_s=config.session_lead_s,
                                       reactions_per_min=config.reactions_per_min)  # fmt: skip
        self.broadcast: Channel | None = None
        self.relay: Any = None
        self.started_at = time.monotonic()
        self._on_close = on_close
        self._error: str | None = None
        self._show_status: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._poller = threading.Thread(target=self._poll, name="segue-status", daemon=True)

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start the broadcast (now, or when the first track is analysed) and the workers."""
        self.sessions.start()
        self._unsubscribe = self.library.subscribe(lambda _: self._start_broadcast())
        self._start_broadcast()
        self._poller.start()

    def _start_broadcast(self) -> None:
        with self._lock:
            if self.broadcast is not None or self._stop.is_set() or (
                    self.wait_for_tracks and len(self.library) == 0):
                return
            try:
                show = self.factory(ShowSpec(listener=self.listener))
            except Exception as exc:  # try again at the next library change
                self._error = f"the broadcast cannot start yet: {exc}"
                log.warning("%s", self._error)
                return
            self._error = None
            self.broadcast = Channel(show, label="broadcast", lead_s=self.config.broadcast_lead_s,
                                     linger_s=60.0, warm=self.config.warm_formats)  # fmt: skip
            self.broadcast.start()
        log.info("broadcast started")
        if self.config.icecast_url:
            from segue.service.icecast import IcecastRelay

            self.relay = IcecastRelay(self.broadcast, self.config.icecast_url,
                                      name=self.config.name,
                                      description=self.config.description)  # fmt: skip
            self.relay.start()

    def close(self) -> None:
        """Stop the relay, the sessions and the broadcast; free the shared engines."""
        self._stop.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.relay is not None:
            self.relay.close()
        self.sessions.close_all()
        with self._lock:
            broadcast, self.broadcast = self.broadcast, None
        if broadcast is not None:
            broadcast.close()
        if self._on_close is not None:
            self._on_close()

    def _poll(self) -> None:
        """Refresh the shows' status every few seconds (a show may be slow to answer)."""
        while not self._stop.wait(2.0):
            channel = self.broadcast
            if channel is None:
                continue
            try:
                status = channel.show.status()
            except Exception as exc:  # report, never crash the poller
                status = {"problems": [f"show status failed: {exc}"]}
            with self._lock:
                self._show_status = status

    # -- health ------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``analysing`` (nothing playable yet), ``ready`` or ``failed`` (nothing to play)."""
        if self.broadcast is not None:
            error = self.broadcast.stats().error
            return "failed" if error else "ready"
        if self.library.scanning:
            return "analysing"
        return "failed" if len(self.library) == 0 else "starting"

    def problems(self) -> list[str]:
        """One line per unusable or vanished file and per show problem, without paths."""
        roots = self.library.roots or []
        with self._lock:
            shown = list(self._show_status.get("problems", []))
            error = self._error
        lines = [*self.library.problems, *map(str, shown)]
        if self.broadcast is not None and self.broadcast.stats().error:
            lines.append(str(self.broadcast.stats().error))
        elif error:
            lines.append(error)
        unique = list(dict.fromkeys(without_paths(line, roots) for line in lines))
        return unique[-200:]

    def health(self) -> dict[str, Any]:
        """``ready``, ``analysed``, ``total``, ``problems``, ``backends`` and more; never waits."""
        backends: dict[str, str] = {name: s.state for name, s in statuses().items()}
        with self._lock:
            for name, state in dict(self._show_status.get("backends", {})).items():
                if isinstance(state, dict):
                    state = state.get("state", "unknown")
                backends.setdefault(str(name), str(getattr(state, "state", state)))
        stats = self.broadcast.stats() if self.broadcast is not None else None
        state = self.state
        return {
            "ready": state == "ready",
            "state": state,
            "analysed": len(self.library),
            "total": max(self.library.total, len(self.library)),
            "problems": self.problems(),
            "backends": backends,
            "listeners": stats.listeners if stats else 0,
            "sessions": len(self.sessions),
            "late_s": stats.late_s if stats else 0.0,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
        }
