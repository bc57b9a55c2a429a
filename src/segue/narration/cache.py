"""A cache of generated lines in SQLite, keyed by template, context, backend and model.

The raw answer of a model is stored (before the guards), so guards and settings
can change without invalidating it; editing a template changes its digest and
so its keys. Safe to share between threads and processes: each call opens its
own connection and SQLite serialises writers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SCHEMA = """CREATE TABLE IF NOT EXISTS lines (
    key TEXT PRIMARY KEY, template TEXT, backend TEXT, model TEXT,
    text TEXT NOT NULL, truncated INTEGER NOT NULL, created REAL NOT NULL)"""


def line_key(
    *,
    template: str,
    template_digest: str,
    context: Mapping[str, Any],
    backend: str,
    model: str,
    variant: str = "",
) -> str:
    """The cache key of one generation: a hash over everything that shapes the answer.

    ``variant`` holds generation settings (temperature, token limit, attempt
    number) so a deliberate regeneration gets a new key.
    """
    payload = json.dumps(
        [template, template_digest, context, backend, model, variant],
        sort_keys=True, ensure_ascii=False, default=str,
    )  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()


class LineCache:
    """Generated lines stored in ``path`` (a SQLite file, created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute(_SCHEMA)
        return conn

    def get(self, key: str) -> tuple[str, bool] | None:
        """The cached answer and whether it was cut off, or ``None``."""
        if not self.path.exists():
            return None
        try:
            with self._connect() as conn:
                row = conn.execute(
                    "SELECT text, truncated FROM lines WHERE key = ?", (key,)
                ).fetchone()
        except sqlite3.Error as exc:
            log.warning("%s: line cache unreadable (%s); generating afresh", self.path, exc)
            return None
        return (str(row[0]), bool(row[1])) if row else None

    def put(
        self, key: str, text: str, *, truncated: bool, template: str, backend: str, model: str
    ) -> None:
        """Store one answer; a cache that cannot be written only costs time."""
        try:
            with self._connect() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO lines VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, template, backend, model, text, int(truncated), time.time()),
                )
        except (sqlite3.Error, OSError) as exc:
            log.warning("%s: line cache not written (%s)", self.path, exc)

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM lines").fetchone()[0])
