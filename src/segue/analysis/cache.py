"""A SQLite cache of analysis results keyed by content hash and analyser version.

A file's key is the BLAKE2b hash of its bytes (streamed), so a renamed or copied
file is still a hit and an edited one is a miss; a hit under another path reads
its tags again, since an untagged file's title and artist come from its name.
Failures are stored too, with their error, so a broken file is not decoded again
until its content changes.
Results of an older :data:`~segue.analysis.analyze.ANALYZER_VERSION` are ignored.

A ``(path, size, mtime)`` table remembers each file's hash, so unchanged files
are not even re-read. Only the process that owns the cache writes to it (the
executor's parent); SQLite's WAL mode lets readers in other processes go on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segue.analysis.tags import clean_text, read_tags
from segue.errors import SegueError
from segue.models import Tags, Track, TrackAnalysis

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    hash TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT,
    path TEXT NOT NULL,
    payload TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (hash, version)
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"""


def content_hash(path: str | Path, *, block: int = 1 << 20) -> str:
    """BLAKE2b (128-bit) hex digest of the file's bytes, read in 1 MiB blocks."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def track_to_dict(track: Track) -> dict[str, Any]:
    """A JSON-ready dict of a track (tuples become lists)."""
    return dataclasses.asdict(track)


def track_from_dict(data: dict[str, Any], *, path: str | None = None) -> Track:
    """Rebuild a :class:`Track` from :func:`track_to_dict` output (optionally re-pathed)."""
    fields = {f.name: f for f in dataclasses.fields(TrackAnalysis)}
    raw: dict[str, Any] = data["analysis"]
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in fields
    }
    analysis = TrackAnalysis(**values)
    tag_fields = {f.name for f in dataclasses.fields(Tags)}
    # Cleaned again: entries written before tags were cleaned may hold control characters.
    cleaned: dict[str, Any] = {k: clean_text(v) if isinstance(v, str) else v
                               for k, v in data["tags"].items() if k in tag_fields}
    tags = Tags(**cleaned)
    return Track(path=path or data["path"], tags=tags, analysis=analysis)


@dataclass(frozen=True)
class CacheEntry:
    """A cached outcome: a track, or the error a failed analysis raised."""

    status: str
    track: Track | None
    error: str | None


class AnalysisCache:
    """The analysis cache in ``folder/analysis.sqlite``; one instance per process.

    Not thread-safe (one SQLite connection); use it from the thread that made it.
    """

    def __init__(self, folder: str | Path, version: str) -> None:
        self.version = version
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.path = folder / "analysis.sqlite"
            self._db = sqlite3.connect(self.path, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise SegueError(f"{folder}: cannot open the analysis cache ({exc})") from exc

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> AnalysisCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def file_hash(self, path: str | Path) -> str:
        """The content hash of ``path``, re-read only when its size or mtime changed."""
        p = Path(path)
        st = p.stat()
        key = _text(str(p.resolve()))
        row = self._db.execute(
            "SELECT hash FROM files WHERE path = ? AND size = ? AND mtime_ns = ?",
            (key, st.st_size, st.st_mtime_ns),
        ).fetchone()
        if row:
            return str(row[0])
        digest = content_hash(p)
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO files (path, size, mtime_ns, hash) VALUES (?, ?, ?, ?)",
                (key, st.st_size, st.st_mtime_ns, digest),
            )
        return digest

    def get(self, digest: str, path: str) -> CacheEntry | None:
        """The stored outcome for content ``digest``, re-pathed to ``path``, or ``None``."""
        row = self._db.execute(
            "SELECT status, error, path, payload FROM results WHERE hash = ? AND version = ?",
            (digest, self.version),
        ).fetchone()
        if row is None:
            return None
        status, error, old_path, payload = row
        if status == "ok":
            track = track_from_dict(json.loads(payload), path=path)
            if old_path != path:  # a copy or a rename: a title taken from the name moved too
                track = dataclasses.replace(track, tags=read_tags(path))
            return CacheEntry("ok", track, None)
        message = str(error)
        if message.startswith(f"{old_path}: "):
            message = f"{path}: {message[len(old_path) + 2 :]}"
        return CacheEntry("failed", None, message)

    def put_ok(self, digest: str, track: Track) -> None:
        """Store a successful analysis."""
        self._put(digest, "ok", None, track.path, json.dumps(track_to_dict(track)))

    def put_failed(self, digest: str, path: str, error: str) -> None:
        """Store a failure with its error message."""
        self._put(digest, "failed", error, path, None)

    def _put(self, digest: str, status: str, error: str | None, path: str,
             payload: str | None) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO results "
                "(hash, version, status, error, path, payload, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (digest, self.version, status, None if error is None else _text(error),
                 _text(path), payload, time.time()),
            )

    def count(self) -> dict[str, int]:
        """Entries of the current version by status (for summaries and tests)."""
        rows = self._db.execute(
            "SELECT status, COUNT(*) FROM results WHERE version = ? GROUP BY status",
            (self.version,),
        ).fetchall()
        return {str(s): int(n) for s, n in rows}


def _text(value: str) -> str:
    r"""``value`` as SQLite can store it, one to one.

    A file name that is not UTF-8 (whose bytes Python keeps as lone surrogates) is
    written with backslash escapes (``\xff``).
    """
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
