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

A value of the wrong type stops with one line naming the file and the key
(``me.toml: likes must be a table, [likes] with artists and genres (got a
string)``). An unknown key is ignored with a warning that names it and the
nearest known key; a language segue does not speak is replaced by English,
saying so, so it is never sent on into prompts or guards.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import sys
from pathlib import Path
from typing import Any, cast

from segue.errors import InputError
from segue.models import TALK_LEVELS, Listener, TalkLevel
from segue.text import one_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

log = logging.getLogger(__name__)

#: A listener's name is spoken in greetings: longer is a mistake, not a name.
MAX_NAME_CHARS = 40

#: The languages a listener may choose, by code: those the narration's guards can
#: check (``segue.narration.context.LANGUAGE_NAMES``; a test keeps the two equal).
LANGUAGES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
    "nl": "Dutch", "pt": "Portuguese", "sv": "Swedish",
}  # fmt: skip
#: What an unknown language falls back to.
FALLBACK_LANGUAGE = "en"

#: The keys of a profile: top level, and the keys of each table.
KEYS: dict[str, tuple[str, ...]] = {
    "": ("name", "language", "talk", "talk_level", "recent", "likes", "personalisation"),
    "likes": ("artists", "genres"),
    "personalisation": ("enabled", "feedback"),
}


def read_listener(path: str | Path) -> tuple[Listener, list[str]]:
    """Read a listener profile: the listener and one warning per thing ignored.

    Raises
    ------
    InputError
        Naming the file and the key: missing, unreadable, not TOML, a value of
        the wrong type.

    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{p}: listener profile not found") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{p}: is a folder, expected a listener profile (TOML)") from exc
    except OSError as exc:
        raise InputError(f"{p}: cannot read listener profile ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: cannot read listener profile (not UTF-8 text)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: not valid TOML ({exc})") from exc
    problems: list[str] = []
    listener = listener_from_dict(data, source=str(p), problems=problems)
    # Feedback lives beside the profile unless the profile says where (relative to it).
    feedback = Path(listener.feedback_path or f"{p.stem}.feedback.jsonl").expanduser()
    return dataclasses.replace(listener, feedback_path=str(p.parent / feedback)), problems


def load_listener(path: str | Path) -> Listener:
    """Read a listener profile, logging a warning per thing ignored (see :func:`read_listener`)."""
    listener, problems = read_listener(path)
    for problem in problems:
        log.warning("%s", problem)
    return listener


def listener_from_dict(
    data: dict[str, Any], *, source: str = "listener", problems: list[str] | None = None
) -> Listener:
    """Validate a parsed profile into a :class:`Listener`.

    Unknown keys and an unknown language are appended to ``problems`` (logged as
    warnings when it is ``None``); a value of the wrong type raises
    :class:`InputError` naming ``source`` and the key.
    """
    found: list[str] = []
    _unknown_keys(data, source, found)
    talk = data.get("talk", data.get("talk_level", "normal"))
    if talk not in TALK_LEVELS:
        raise InputError(f"{source}: talk = {talk!r}, expected one of {', '.join(TALK_LEVELS)}"
                         + _did_you_mean(talk, TALK_LEVELS))  # fmt: skip
    likes = _table(data, "likes", source)
    listener = Listener(
        name=_name(data.get("name"), source),
        language=_language(data.get("language", FALLBACK_LANGUAGE), source, found),
        liked_artists=_str_list(likes.get("artists", []), f"{source}: likes.artists"),
        liked_genres=_str_list(likes.get("genres", []), f"{source}: likes.genres"),
        talk_level=cast(TalkLevel, talk),
        recent=_str_list(data.get("recent", []), f"{source}: recent"),
        **_personalisation(_table(data, "personalisation", source), source),
    )
    if problems is None:
        for problem in found:
            log.warning("%s", problem)
    else:
        problems += found
    return listener


def _unknown_keys(data: dict[str, Any], source: str, problems: list[str]) -> None:
    """A warning per key no table of the profile knows, with the nearest known key."""
    for table, keys in KEYS.items():
        values = data.get(table) if table else data
        if not isinstance(values, dict):
            continue
        prefix = f"{table}." if table else ""
        for key in values:
            if key not in keys:
                problems.append(f"{source}: {prefix}{key}: unknown key, ignored"
                                + _did_you_mean(key, keys, prefix))  # fmt: skip


def _language(value: object, source: str, problems: list[str]) -> str:
    """The language's code (``"en-GB"`` and ``"English"`` are ``"en"``), else the fallback."""
    if not isinstance(value, str):
        raise InputError(f"{source}: language must be a string such as 'en' "
                         f"(got {_kind(value)})")  # fmt: skip
    text = value.strip().lower()
    code = text.replace("_", "-").split("-")[0]
    if code in LANGUAGES:
        return code
    by_name = {n.lower(): c for c, n in LANGUAGES.items()}
    if text in by_name:
        return by_name[text]
    close = difflib.get_close_matches(text, list(by_name), n=1, cutoff=0.75)
    hint = f" (did you mean {by_name[close[0]]}, {close[0].title()}?)" if close else ""
    codes = ", ".join(LANGUAGES)
    problems.append(f"{source}: language {value!r} is not one segue speaks ({codes}); "
                    f"using {FALLBACK_LANGUAGE} instead{hint}")  # fmt: skip
    return FALLBACK_LANGUAGE


def _table(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    """The table ``[key]`` of the profile (empty when absent)."""
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise InputError(f"{source}: {key} must be a table, [{key}] with "
                         f"{' and '.join(KEYS[key])} (got {_kind(table)})")  # fmt: skip
    return table


def _personalisation(table: dict[str, Any], source: str) -> dict[str, Any]:
    """``personalise`` and ``feedback_path`` from the ``[personalisation]`` table."""
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InputError(f"{source}: personalisation.enabled must be true or false "
                         f"(got {_kind(enabled)})")  # fmt: skip
    feedback = table.get("feedback")
    if feedback is not None and (not isinstance(feedback, str) or not feedback.strip()):
        raise InputError(f"{source}: personalisation.feedback must be a file name "
                         f"(got {_kind(feedback)})")  # fmt: skip
    return {"personalise": enabled, "feedback_path": feedback.strip() if feedback else None}


def _str_list(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InputError(f"{where} must be a list of strings (got {_kind(value)})")
    odd = [v for v in value if not isinstance(v, str)]
    if odd:
        raise InputError(f"{where} must be a list of strings (got {_kind(odd[0])} in it)")
    return tuple(v.strip() for v in value if v.strip())


def _name(value: object, source: str) -> str | None:
    """The listener's name as the DJ says it: one line, at most :data:`MAX_NAME_CHARS`."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{source}: name must be a string (got {_kind(value)})")
    name = one_line(value)
    if len(name) > MAX_NAME_CHARS:
        raise InputError(f"{source}: name is {len(name)} characters long; the DJ says it "
                         f"aloud, so at most {MAX_NAME_CHARS}")
    return name or None


def _kind(value: object) -> str:
    """What a TOML value is, as a user would say it."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a date" if hasattr(value, "isoformat") else type(value).__name__


def _did_you_mean(value: object, choices: tuple[str, ...], prefix: str = "") -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""
