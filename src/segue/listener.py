"""Listener profiles: a small TOML file saying who is listening.

Example::

    name = "Alex"
    language = "en"
    talk = "normal"          # off | brief | normal | chatty
    recent = ["Blue Monday by New Order"]   # optional: heard lately, oldest first

    [likes]
    artists = ["Muldjord"]
    genres = ["metal", "electronic"]

    [personalisation]        # optional: how feedback on transitions shapes the order
    enabled = true           # false: plan with the default weights, ignore feedback
    feedback = "alex.feedback.jsonl"   # default: <this file's stem>.feedback.jsonl beside it
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, cast

from segue.errors import InputError
from segue.models import TALK_LEVELS, Listener, TalkLevel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


def load_listener(path: str | Path) -> Listener:
    """Read a listener profile; raise :class:`InputError` naming the file and the field."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{p}: listener profile not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read listener profile ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: not valid TOML ({exc})") from exc
    listener = listener_from_dict(data, source=str(p))
    # Feedback lives beside the profile unless the profile says where (relative to it).
    feedback = Path(listener.feedback_path or f"{p.stem}.feedback.jsonl").expanduser()
    return dataclasses.replace(listener, feedback_path=str(p.parent / feedback))


def listener_from_dict(data: dict[str, Any], *, source: str = "listener") -> Listener:
    """Validate a parsed profile into a :class:`Listener`."""
    talk = data.get("talk", data.get("talk_level", "normal"))
    if talk not in TALK_LEVELS:
        raise InputError(f"{source}: talk = {talk!r}, expected one of {', '.join(TALK_LEVELS)}")
    likes = data.get("likes", {})
    if not isinstance(likes, dict):
        raise InputError(f"{source}: [likes] must be a table with 'artists' and 'genres'")
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise InputError(f"{source}: name must be a string")
    language = data.get("language", "en")
    if not isinstance(language, str):
        raise InputError(f"{source}: language must be a string such as 'en'")
    return Listener(
        name=name.strip() or None if name else None,
        language=language,
        liked_artists=_str_list(likes.get("artists", []), f"{source}: likes.artists"),
        liked_genres=_str_list(likes.get("genres", []), f"{source}: likes.genres"),
        talk_level=cast(TalkLevel, talk),
        recent=_str_list(data.get("recent", []), f"{source}: recent"),
        **_personalisation(data.get("personalisation", {}), source),
    )


def _personalisation(table: object, source: str) -> dict[str, Any]:
    """``personalise`` and ``feedback_path`` from the ``[personalisation]`` table."""
    if not isinstance(table, dict):
        raise InputError(f"{source}: [personalisation] must be a table with 'enabled', 'feedback'")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InputError(f"{source}: personalisation.enabled must be true or false")
    feedback = table.get("feedback")
    if feedback is not None and (not isinstance(feedback, str) or not feedback.strip()):
        raise InputError(f"{source}: personalisation.feedback must be a file name")
    return {"personalise": enabled, "feedback_path": feedback.strip() if feedback else None}


def _str_list(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where} must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())
