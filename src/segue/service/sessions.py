"""Personal sessions: a show of its own for one listener or a group, while someone listens.

Each session is a :class:`~segue.service.channel.Channel` over its own show,
paused while nobody listens, and closed (its show, encoders and threads freed)
after ``idle_s`` seconds without a listener. Their number is capped; reactions
are rate-limited per session. Ids are long random strings: knowing one is what
lets a client steer that session.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from segue.service.channel import Channel
from segue.service.shows import ShowFactory, ShowSpec

log = logging.getLogger(__name__)


class SessionLimitError(Exception):
    """No more sessions may be opened now."""


class RateLimitedError(Exception):
    """Too many reactions in too little time."""


class TokenBucket:
    """``rate_per_s`` actions per second on average, ``burst`` at once. Thread-safe."""

    def __init__(self, *, rate_per_s: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Use one token if there is one."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate_per_s)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


@dataclass
class Session:
    """One personal session: its channel, what it was asked for, its reaction budget."""

    id: str
    channel: Channel
    spec: ShowSpec
    reactions: TokenBucket
    created_at: float = field(default_factory=time.time)


class SessionManager:
    """Opens, finds, reaps and closes personal sessions; see the module docstring.

    Parameters
    ----------
    factory : makes a session's show from its spec (may take a moment).
    max_sessions : open sessions at most.
    idle_s : seconds without a listener before a session is closed.
    lead_s : the sessions' channels' lead (small, so a skip is heard soon).
    reactions_per_min, reaction_burst : each session's reaction budget.
    """

    def __init__(
        self,
        factory: ShowFactory,
        *,
        max_sessions: int = 8,
        idle_s: float = 600.0,
        lead_s: float = 1.5,
        reactions_per_min: float = 20.0,
        reaction_burst: int = 5,
    ) -> None:
        self.factory = factory
        self.max_sessions = max_sessions
        self.idle_s = idle_s
        self.lead_s = lead_s
        self.reactions_per_min = reactions_per_min
        self.reaction_burst = reaction_burst
        self._sessions: dict[str, Session] = {}
        self._opening = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="segue-session-reaper",
                                        daemon=True)  # fmt: skip

    def start(self) -> None:
        """Start the reaper thread."""
        self._reaper.start()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def create(self, spec: ShowSpec) -> Session:
        """Open a session playing ``spec`` (blocking: the show is built here).

        Raises
        ------
        SessionLimitError
            When ``max_sessions`` are open (or being opened).
        """
        with self._lock:
            if len(self._sessions) + self._opening >= self.max_sessions:
                raise SessionLimitError(
                    f"{self.max_sessions} sessions are open; close one or try later")
            self._opening += 1
        try:
            show = self.factory(spec)
            id_ = secrets.token_urlsafe(12)
            channel = Channel(show, label=f"session {id_[:6]}", lead_s=self.lead_s,
                              pause_when_idle=True, linger_s=10.0)  # fmt: skip
            bucket = TokenBucket(rate_per_s=self.reactions_per_min / 60.0,
                                 burst=self.reaction_burst)  # fmt: skip
            session = Session(id=id_, channel=channel, spec=spec, reactions=bucket)
            channel.start()
            with self._lock:
                self._sessions[id_] = session
            log.info("session %s opened", id_[:6])
            return session
        finally:
            with self._lock:
                self._opening -= 1

    def get(self, id_: str) -> Session | None:
        """The open session ``id_``, if any."""
        with self._lock:
            return self._sessions.get(id_)

    def close(self, id_: str, why: str = "closed") -> bool:
        """Close session ``id_``; whether it was open."""
        with self._lock:
            session = self._sessions.pop(id_, None)
        if session is None:
            return False
        log.info("session %s %s", id_[:6], why)
        session.channel.close()
        return True

    def reap(self) -> list[str]:
        """Close every session nobody has listened to for ``idle_s``; their ids."""
        with self._lock:
            idle = [s.id for s in self._sessions.values()
                    if s.channel.idle_for_s() >= self.idle_s]  # fmt: skip
        for id_ in idle:
            self.close(id_, f"closed after {self.idle_s:.0f} s without a listener")
        return idle

    def _reap_loop(self) -> None:
        while not self._stop.wait(min(5.0, max(0.2, self.idle_s / 4))):
            try:
                self.reap()
            except Exception:  # the reaper must outlive one bad close
                log.exception("closing idle sessions failed")

    def close_all(self) -> None:
        """Close every session and stop the reaper."""
        self._stop.set()
        with self._lock:
            ids = list(self._sessions)
        for id_ in ids:
            self.close(id_, "closed: the service stops")
