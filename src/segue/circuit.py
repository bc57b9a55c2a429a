"""Circuit breakers: a failing service is skipped for a while, not retried on every link.

Every slow outside service segue talks to (an LLM server, a speech server, a local
model) is called through a :class:`CircuitBreaker`. After ``failures`` consecutive
failures or timeouts the circuit *opens*: callers are told at once not to ask
(:meth:`CircuitBreaker.allow` is ``False``) and fall back, so a dead server costs
seconds per show, not a timeout per link. After ``cooldown_s`` one caller may try
again (*half-open*); a success closes the circuit, a failure opens it for another
cool-down. Opening is logged once per opening.

Breakers are kept in a process-wide registry by name (the one piece of global state
here, owned by this module), so the health endpoint and the timeline can report
every backend's state. Thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

State = Literal["closed", "open", "half-open"]

#: Consecutive failures that open a circuit, and how long it stays open.
DEFAULT_FAILURES = 2
DEFAULT_COOLDOWN_S = 300.0


@dataclass(frozen=True)
class BreakerStatus:
    """A breaker's state as reported by health checks and timelines."""

    name: str
    state: State
    failures: int
    last_error: str | None
    #: Seconds until an open circuit lets one caller try again (0 when not open).
    retry_in_s: float
    #: Time spent waiting on calls that failed, since the process started.
    waited_s: float


class CircuitBreaker:
    """Counts consecutive failures of one service and stops asking it for a while.

    Parameters
    ----------
    name : the service, as reported (``"llm:openai"``, ``"voice:openai"``).
    failures : consecutive failures or timeouts that open the circuit.
    cooldown_s : how long an open circuit refuses callers.
    clock : monotonic seconds (injected by tests).
    """

    def __init__(
        self,
        name: str,
        *,
        failures: int = DEFAULT_FAILURES,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = max(1, failures)
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._last_error: str | None = None
        self._waited_s = 0.0

    def allow(self) -> bool:
        """Whether a call may be made now (an open circuit says no until its cool-down ends).

        After the cool-down exactly one caller is let through (half-open) until it
        reports back with :meth:`success` or :meth:`failure`.
        """
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at < self.cooldown_s or self._probing:
                return False
            self._probing = True
            return True

    def success(self) -> None:
        """Report a call that worked: the circuit closes."""
        with self._lock:
            if self._opened_at is not None:
                log.info("%s answers again: circuit closed", self.name)
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def failure(self, why: str, *, waited_s: float = 0.0) -> None:
        """Report a call that failed or timed out after ``waited_s`` seconds."""
        with self._lock:
            self._failures += 1
            self._last_error = why
            self._waited_s += waited_s
            reopen = self._probing
            self._probing = False
            if reopen or (self._opened_at is None and self._failures >= self.threshold):
                self._opened_at = self._clock()
                log.warning("%s failed %d time(s) in a row (%s): not asked again for %.0f s",
                            self.name, self._failures, why, self.cooldown_s)  # fmt: skip

    @property
    def state(self) -> State:
        """``closed`` (calls go through), ``open`` (refused) or ``half-open`` (one may try)."""
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def status(self) -> BreakerStatus:
        """The breaker's state, failures, last error and time until it retries."""
        with self._lock:
            state = self._state_locked()
            retry = 0.0
            if state == "open" and self._opened_at is not None:
                retry = max(0.0, self.cooldown_s - (self._clock() - self._opened_at))
            return BreakerStatus(name=self.name, state=state, failures=self._failures,
                                 last_error=self._last_error, retry_in_s=round(retry, 1),
                                 waited_s=round(self._waited_s, 2))  # fmt: skip

    def open_reason(self) -> str:
        """Why callers are refused, for a fallback's recorded reason."""
        status = self.status()
        return (f"{self.name} circuit open after {status.failures} failures "
                f"({status.last_error}); retry in {status.retry_in_s:.0f} s")  # fmt: skip


_registry: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


def breaker(name: str, *, failures: int = DEFAULT_FAILURES,
            cooldown_s: float = DEFAULT_COOLDOWN_S) -> CircuitBreaker:  # fmt: skip
    """The process's breaker for service ``name``, made on first use."""
    with _registry_lock:
        found = _registry.get(name)
        if found is None:
            found = _registry[name] = CircuitBreaker(name, failures=failures,
                                                     cooldown_s=cooldown_s)  # fmt: skip
        return found


def statuses() -> dict[str, BreakerStatus]:
    """Every registered breaker's status, by name."""
    with _registry_lock:
        breakers = list(_registry.values())
    return {b.name: b.status() for b in breakers}


def reset_all() -> None:
    """Forget every breaker (tests; a new process starts empty anyway)."""
    with _registry_lock:
        _registry.clear()
