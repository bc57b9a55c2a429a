"""What the service needs of a show, and how it makes one.

The service drives :class:`segue.show.engine.Show` (the live engine) through the
small interface :class:`ShowLike`, so the transport can be tested with an exactly
known signal as well as with the real engine. :class:`ShowSpec` is what a client
may choose for a personal session; :func:`engine_factory` turns it into a real
show over the station's library.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from segue.config import Settings
from segue.library import Library
from segue.models import FloatArray, Listener
from segue.show.model import NowPlaying, Played, Reaction, ReactionResult, ShowEvent, Upcoming

log = logging.getLogger(__name__)


class ShowLike(Protocol):
    """The part of :class:`segue.show.engine.Show` the service uses."""

    @property
    def sr(self) -> int:
        """Sample rate of the blocks."""
        ...

    def blocks(self) -> Iterator[FloatArray]:
        """Endless ``(2, n)`` float32 blocks of about 0.5 s."""
        ...

    def now_playing(self, at_s: float | None = None) -> NowPlaying:
        """What is audible at audio time ``at_s``."""
        ...

    def upcoming(self) -> list[Upcoming]:
        """The planned next tracks, each with why."""
        ...

    def history(self, limit: int = 20) -> list[Played]:
        """Tracks that started, newest last."""
        ...

    def subscribe(self, callback: Callable[[ShowEvent], None]) -> Callable[[], None]:
        """Call ``callback`` for every event as it is rendered; returns the unsubscriber."""
        ...

    def react(self, reaction: Reaction) -> ReactionResult:
        """Apply a listener's reaction."""
        ...

    def status(self) -> dict[str, Any]:
        """Backends and problems of this show."""
        ...

    def close(self) -> None:
        """Release the show's workers."""
        ...


@dataclass(frozen=True)
class ShowSpec:
    """What a show plays and for whom (all optional for a personal session)."""

    listener: Listener = dataclasses.field(default_factory=Listener)
    #: Library ids of the tracks to play (``None``: the whole library).
    track_ids: tuple[str, ...] | None = None
    arc: str | None = None
    #: Narrator and voice engine names (``None``: the station's).
    narrator: str | None = None
    voice: str | None = None


ShowFactory = Callable[[ShowSpec], ShowLike]


class SharedParts:
    """Narrators and voice engines made once per name and shared by every show.

    A voice engine (espeak runs in one worker process) and a narrator (a local
    model) are heavy; sessions asking for the same name share one. Thread-safe.
    """

    def __init__(self, settings: Settings, *, narrator: Any = None, voice: Any = None) -> None:
        self.settings = settings
        self._narrators: dict[str, Any] = {}
        self._voices: dict[str, Any] = {}
        if narrator is not None:
            self._narrators[settings.narrator] = narrator
        if voice is not None:
            self._voices[settings.voice_engine] = voice
        self._lock = threading.Lock()

    def narrator(self, name: str | None) -> Any:
        """The narrator called ``name`` (default: the settings'), made on first use."""
        from segue.narration import make_narrator

        key = name or self.settings.narrator
        with self._lock:
            if key not in self._narrators:
                self._narrators[key] = make_narrator(key, self.settings)
            return self._narrators[key]

    def voice(self, name: str | None, language: str) -> Any:
        """The voice engine called ``name`` (default: the settings'), made on first use."""
        from segue.voice.engines import make_engine

        key = name or self.settings.voice_engine
        with self._lock:
            if key not in self._voices:
                self._voices[key] = make_engine(key, self.settings, language=language)
            return self._voices[key]

    def close(self) -> None:
        """Close every voice engine made here."""
        from segue.voice.engines import close_engine

        with self._lock:
            voices, self._voices = list(self._voices.values()), {}
        for engine in voices:
            close_engine(engine)


def engine_factory(library: Library, settings: Settings, parts: SharedParts) -> ShowFactory:
    """A factory of live, endless :class:`segue.show.engine.Show` objects over ``library``."""

    def make(spec: ShowSpec) -> ShowLike:
        from segue.show.engine import Show

        listener = spec.listener
        # Always the shared voice: a show left to make its own would start an engine
        # (an espeak worker) per session, even one that starts with talk off.
        voice = parts.voice(spec.voice, settings.voice_language or listener.language)
        show: ShowLike = Show(library, listener=listener, settings=settings,
                              narrator=parts.narrator(spec.narrator), voice=voice, endless=True,
                              track_ids=list(spec.track_ids) if spec.track_ids else None,
                              arc=spec.arc, live=True)  # fmt: skip
        return show

    return make
