"""A small stand-in for the live show engine: tracks are pure tones, so the signal is known.

``ToneShow`` plays its tracks in order, endlessly: track ``i`` is a sine at
``freqs[i]`` Hz for ``duration_s`` seconds. It emits ``track``, ``link`` (half a
second into each track) and ``upcoming`` events from the render thread as the
contract says, and a ``skip`` makes the next rendered block the next track.
Only for transport tests that need an exactly known signal.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from segue.show.model import (
    NowPlaying,
    Played,
    Reaction,
    ReactionResult,
    ShowEvent,
    Song,
    Upcoming,
)

BLOCK_S = 0.5


class ToneShow:
    def __init__(self, freqs: list[float], *, duration_s: float = 6.0, sr: int = 44100,
                 render_delay_s: float = 0.0) -> None:
        self.sr = sr
        self.freqs = freqs
        self.duration_s = duration_s
        self.render_delay_s = render_delay_s
        self.songs = [Song(id=f"{i:012x}", title=f"Tone {f:.0f}", artist=f"Band {i}",
                           duration_s=duration_s) for i, f in enumerate(freqs)]
        self.position_s = 0.0
        self.closed = False
        self.reactions: list[Reaction] = []
        self._lock = threading.Lock()
        self._subs: list[Callable[[ShowEvent], None]] = []
        self._seq = itertools.count(1)
        self._played: list[Played] = []
        self._index = -1  # absolute track counter
        self._track_start_s = 0.0
        self._skip = False

    def _song(self, n: int) -> Song:
        return self.songs[n % len(self.songs)]

    def _emit(self, kind: str, at_s: float, data: dict) -> None:
        event = ShowEvent(seq=next(self._seq), kind=kind, at_s=at_s, data=data)  # type: ignore[arg-type]
        for cb in list(self._subs):
            cb(event)

    def _start_track(self, at_s: float) -> None:
        with self._lock:
            if self._played:
                last = self._played[-1]
                self._played[-1] = Played(last.song, last.start_s, last.played_at, last.why,
                                          ended="skipped" if self._skip else "played")
            self._index += 1
            self._track_start_s = at_s
            self._skip = False
            song = self._song(self._index)
            self._played.append(Played(song, at_s, time.time(), f"why {song.title}"))
        self._emit("track", at_s, {"song": song, "why": f"why {song.title}"})
        self._emit("link", at_s + 0.5, {"text": f"Here is {song.title} by {song.artist}."})
        self._emit("upcoming", at_s, {"upcoming": self.upcoming()})

    def blocks(self) -> Iterator[np.ndarray]:
        n = round(BLOCK_S * self.sr)
        phase = 0.0
        while not self.closed:
            if self.render_delay_s:
                time.sleep(self.render_delay_s)
            with self._lock:
                due = self._index < 0 or self._skip or \
                    self.position_s >= self._track_start_s + self.duration_s - 1e-9
            if due:
                self._start_track(self.position_s)
                phase = 0.0
            freq = self.freqs[self._index % len(self.freqs)]
            t = np.arange(n) / self.sr
            tone = (0.3 * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)
            phase += 2 * np.pi * freq * n / self.sr
            self.position_s += n / self.sr
            yield np.stack([tone, tone])

    def now_playing(self, at_s: float | None = None) -> NowPlaying:
        at = self.position_s if at_s is None else at_s
        with self._lock:
            heard = [p for p in self._played if p.start_s <= at + 1e-9]
        if not heard:
            return NowPlaying(song=None, elapsed_s=0.0, remaining_s=0.0, why="")
        p = heard[-1]
        elapsed = at - p.start_s
        link = f"Here is {p.song.title} by {p.song.artist}." if 0.5 <= elapsed < 2.5 else None
        return NowPlaying(song=p.song, elapsed_s=elapsed,
                          remaining_s=max(0.0, self.duration_s - elapsed), why=p.why, link=link)

    def upcoming(self) -> list[Upcoming]:
        return [Upcoming(self._song(self._index + k), f"after {k}") for k in (1, 2, 3)]

    def history(self, limit: int = 20) -> list[Played]:
        with self._lock:
            return list(self._played[-limit:])

    def subscribe(self, cb: Callable[[ShowEvent], None]) -> Callable[[], None]:
        self._subs.append(cb)
        return lambda: self._subs.remove(cb) if cb in self._subs else None

    def react(self, reaction: Reaction) -> ReactionResult:
        self.reactions.append(reaction)
        if reaction.type == "skip":
            with self._lock:
                self._skip = True
            message = "skipping"
        elif reaction.type == "request":
            message = f"understood {reaction.text!r}"
        else:
            message = f"noted: {reaction.type}"
        self._emit("reaction", self.position_s, {"type": reaction.type, "message": message})
        return ReactionResult(True, message, tuple(self.upcoming()), {"text": reaction.text})

    def status(self) -> dict:
        return {"backends": {}, "problems": []}

    def close(self) -> None:
        self.closed = True
