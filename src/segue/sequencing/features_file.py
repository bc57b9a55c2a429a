"""Tracks from what ``segue analyze --json`` printed, so large sets can be planned without audio.

The file is a JSON array with one object per analysed file (JSON lines, or an
object with a ``tracks`` array, are read too). Each object carries ``path``,
``status`` (``ok``/``failed``), ``error``, the tags (``title``, ``artist``,
``album``, ``year``, ``genre``) and the analysis (``duration_s``, ``bpm``,
``bpm_confidence``, ``key``, ``camelot``, ``key_confidence``, ``lufs``,
``loudness_range_lu``, ``true_peak_dbtp``, ``energy``, ``first_sound_s``,
``last_sound_s``, ``intro_end_s``, ``outro_start_s``, ``vocal_onset_s`` and,
when present, ``timbre``). Anything missing, null or not a number is unknown,
and the cost term that needs it is neutral.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from segue.errors import InputError
from segue.models import Tags, Track, TrackAnalysis

_ANALYSIS_FIELDS = {f.name for f in dataclasses.fields(TrackAnalysis)}


def read_features_file(path: str | Path) -> tuple[list[Track], list[str]]:
    """Tracks from an analysis JSON file (``-``: standard input).

    Returns the usable tracks in file order and one message per entry that was
    skipped (failed analysis, no path, a path listed twice, not an object).

    Raises
    ------
    InputError
        When the file cannot be read or is not JSON of the expected shape.

    """
    name = "<stdin>" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"{name}: features file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{name}: cannot read features file ({exc})") from exc
    return tracks_from_entries(_entries(text, name), source=name)


def _entries(text: str, name: str) -> list[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        # JSON lines: one object per line.
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: not JSON ({exc})") from exc
    if isinstance(data, dict) and isinstance(data.get("tracks"), list):
        return list(data["tracks"])
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise InputError(f"{name}: expected a JSON array of analysed files")


def tracks_from_entries(entries: Iterable[Any], *, source: str = "features") -> tuple[
        list[Track], list[str]]:  # fmt: skip
    """Tracks from parsed analysis objects, and one message per skipped entry."""
    tracks: list[Track] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            problems.append(f"{source}: entry {number} is not an object")
            continue
        path = entry.get("path")
        if not isinstance(path, str) or not path.strip():
            problems.append(f"{source}: entry {number} has no path")
            continue
        if entry.get("status", "ok") != "ok":
            why = str(entry.get("error") or f"status {entry.get('status')!r}")
            why = why.removeprefix(f"{path}:").strip()
            problems.append(f"{path}: analysis failed ({why})")
            continue
        if path in seen:
            problems.append(f"{path}: listed twice in {source}, planned once")
            continue
        seen.add(path)
        tracks.append(track_from_entry(entry))
    return tracks, problems


def _num(entry: dict[str, Any], key: str, default: float = math.nan) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value) if math.isfinite(value) else default


def _text(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    return value.strip() or None if isinstance(value, str) else None


def track_from_entry(entry: dict[str, Any]) -> Track:
    """One :class:`Track` from an analysis object that has a ``path``."""
    path = str(entry["path"])
    bpm = _num(entry, "bpm")
    camelot = _text(entry, "camelot") or ""
    duration = _num(entry, "duration_s", 0.0)
    timbre_raw = entry.get("timbre")
    timbre: tuple[float, ...] = ()
    if isinstance(timbre_raw, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in timbre_raw
    ):
        timbre = tuple(float(v) for v in timbre_raw)
    values: dict[str, Any] = {
        "duration_s": duration,
        "bpm": bpm,
        # A tempo or key without a confidence is taken as moderately sure.
        "bpm_confidence": _num(entry, "bpm_confidence", 0.5 if math.isfinite(bpm) else 0.0),
        "beat_times_s": (),
        "key": _text(entry, "key") or "",
        "camelot": camelot,
        "key_confidence": _num(entry, "key_confidence", 0.5 if camelot else 0.0),
        "lufs": _num(entry, "lufs"),
        "peak_dbfs": _num(entry, "true_peak_dbtp", 0.0),
        "energy": _num(entry, "energy"),
        "first_sound_s": _num(entry, "first_sound_s", 0.0),
        "last_sound_s": _num(entry, "last_sound_s", duration),
        "intro_end_s": _num(entry, "intro_end_s", 0.0),
        "outro_start_s": _num(entry, "outro_start_s", duration),
        "timbre": timbre,
        "loudness_range_lu": _num(entry, "loudness_range_lu"),
        "true_peak_dbtp": _num(entry, "true_peak_dbtp"),
        "vocal_onset_s": None if math.isnan(_num(entry, "vocal_onset_s")) else _num(
            entry, "vocal_onset_s"),
    }
    # Fields the analysis stage has not added (yet) are left out; required ones
    # this version does not know get neutral defaults.
    analysis = TrackAnalysis(**{k: v for k, v in values.items() if k in _ANALYSIS_FIELDS})
    year = entry.get("year")
    tags = Tags(
        title=_text(entry, "title") or Path(path).stem,
        artist=_text(entry, "artist") or "Unknown artist",
        album=_text(entry, "album"),
        year=year if isinstance(year, int) and not isinstance(year, bool) else None,
        genre=_text(entry, "genre"),
    )
    return Track(path=path, tags=tags, analysis=analysis)
