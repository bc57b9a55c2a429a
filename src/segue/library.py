"""The library a show plays from: analysed tracks named by ids, growing as analysis runs.

A :class:`Library` holds every playable :class:`~segue.models.Track` under a short,
stable id (a hash of the file's resolved path), so listeners, the HTTP API and
timelines name tracks without file paths. Tracks are added as their analysis
finishes (:meth:`Library.scan` runs it in the background), removed when they turn
out unplayable (deleted, truncated or corrupt mid-show), and every change bumps
:attr:`Library.version` and tells subscribers (the show engine re-plans).

Only files inside the library's roots are taken; a symbolic link that leads out of
them is refused. Thread-safe: analysis threads add, engines and request handlers read.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from segue.models import Track
from segue.show.model import Song

log = logging.getLogger(__name__)

#: ``callback(library)``: called after every change, from the thread that made it.
LibraryListener = Callable[["Library"], None]


def track_id(path: str | Path) -> str:
    """The library id of the file at ``path``: 12 hex digits of its resolved path's hash."""
    resolved = str(Path(path).expanduser().resolve())
    return hashlib.sha1(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def song_of(track: Track, id_: str | None = None) -> Song:
    """What listeners see of ``track``: its id and tags."""
    t = track.tags
    return Song(id=id_ or track_id(track.path), title=t.title, artist=t.artist, album=t.album,
                year=t.year, genre=t.genre, duration_s=round(track.analysis.duration_s, 3))


class Library:
    """Analysed, playable tracks by id; see the module docstring.

    Parameters
    ----------
    roots : folders (or files) the library may read; ``None`` allows any path.
    """

    def __init__(self, roots: Iterable[str | Path] | None = None) -> None:
        self.roots = None if roots is None else [Path(r).expanduser().resolve() for r in roots]
        self._tracks: dict[str, Track] = {}
        self._lock = threading.Lock()
        self._listeners: list[LibraryListener] = []
        self.problems: list[str] = []
        self.total = 0
        self.version = 0
        self.scanning = False
        self._scan_done = threading.Event()
        self._scan_done.set()

    # -- contents ----------------------------------------------------------

    @classmethod
    def of(cls, tracks: Iterable[Track]) -> Library:
        """A library holding ``tracks`` (already analysed), with no root restriction."""
        library = cls()
        for track in tracks:
            library.add(track)
        return library

    def allows(self, path: str | Path) -> bool:
        """Whether ``path`` (after following links) lies inside one of the roots."""
        if self.roots is None:
            return True
        resolved = Path(path).expanduser().resolve()
        return any(resolved == root or root in resolved.parents for root in self.roots)

    def add(self, track: Track) -> str | None:
        """Add (or replace) ``track``; its id, or ``None`` when it lies outside the roots."""
        if not self.allows(track.path):
            self._problem(f"{track.path}: outside the library's folders; not played")
            return None
        id_ = track_id(track.path)
        with self._lock:
            self._tracks[id_] = track
            self.version += 1
        self._changed()
        return id_

    def remove(self, id_: str, why: str) -> None:
        """Take track ``id_`` out of play (it vanished or cannot be decoded), saying why."""
        with self._lock:
            track = self._tracks.pop(id_, None)
            if track is None:
                return
            self.version += 1
        self._problem(f"{track.path}: {why}")
        self._changed()

    def _problem(self, line: str) -> None:
        log.warning("skipped %s", line)
        with self._lock:
            self.problems.append(line)

    def tracks(self) -> list[Track]:
        """Every playable track, in the order they were added."""
        with self._lock:
            return list(self._tracks.values())

    def ids(self) -> list[str]:
        """Every playable track's id, in the order they were added."""
        with self._lock:
            return list(self._tracks)

    def get(self, id_: str) -> Track | None:
        """The track with library id ``id_``, if it is playable."""
        with self._lock:
            return self._tracks.get(id_)

    def song(self, track: Track) -> Song:
        """What listeners see of ``track``."""
        return song_of(track)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tracks)

    # -- change notification -----------------------------------------------

    def subscribe(self, listener: LibraryListener) -> Callable[[], None]:
        """Call ``listener`` after every change; returns a function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _changed(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(self)
            except Exception:  # one subscriber's bug must not stop analysis
                log.exception("library listener failed")

    # -- analysis ----------------------------------------------------------

    def scan(
        self, paths: Sequence[str | Path], *, jobs: int = 0, background: bool = True
    ) -> threading.Thread | None:
        """Analyse ``paths`` (files or folders, cached) and add each track as it is done.

        Unusable paths and files that fail are recorded in :attr:`problems`. With
        ``background`` the work runs in a daemon thread, which is returned; else it
        runs here and ``None`` is returned.
        """
        self.scanning = True
        self._scan_done.clear()
        if not background:
            self._scan(paths, jobs)
            return None
        thread = threading.Thread(target=self._scan, args=(paths, jobs), name="segue-library",
                                  daemon=True)  # fmt: skip
        thread.start()
        return thread

    def _scan(self, paths: Sequence[str | Path], jobs: int) -> None:
        from segue.analysis.executor import Outcome, analyze_paths, open_default_cache
        from segue.errors import SegueError
        from segue.pipeline import collect_inputs, distinct_audio

        def done(_: int, total: int, outcome: Outcome) -> None:
            if outcome.track is not None:
                self.add(outcome.track)
            else:
                self._problem(outcome.error or f"{outcome.path}: analysis failed")

        try:
            files, problems = collect_inputs(paths)
            files, copies = distinct_audio(files)
            for line in problems + copies:
                self._problem(line)
            inside = [f for f in files if self.allows(f)]
            for f in files:
                if f not in inside:
                    self._problem(f"{f}: outside the library's folders; not played")
            self.total = len(inside)
            try:
                cache = open_default_cache()
            except SegueError as exc:  # an unusable cache slows analysis down, nothing more
                log.warning("analysing without a cache: %s", exc)
                analyze_paths(inside, jobs=jobs, progress=done)
            else:
                with cache:
                    analyze_paths(inside, jobs=jobs, cache=cache, progress=done)
        except Exception as exc:  # the station keeps serving what it has
            log.exception("library scan stopped")
            self._problem(f"library scan stopped: {exc}")
        finally:
            self.scanning = False
            self._scan_done.set()

    def wait_scanned(self, timeout_s: float | None = None) -> bool:
        """Block until a running scan is over; ``False`` on timeout."""
        return self._scan_done.wait(timeout_s)
