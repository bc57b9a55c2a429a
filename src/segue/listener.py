"""Listener profiles: a small TOML file saying who is listening.

Example::

    name = "Alex"
    language = "en"
    talk = "normal"          # off | brief | normal | chatty
    recent = ["Blue Monday by New Order"]   # optional: heard lately, oldest first

    [likes]
    artists = ["Muldjord"]
    genres = ["metal", "electronic"]
"""

from __future__ import annotations

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
    return listener_from_dict(data, source=str(p))


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
    )


def _str_list(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where} must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())
