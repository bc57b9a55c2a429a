"""One settings object, read once; defaults live here as data.

Every field can be overridden with an environment variable ``SEGUE_<FIELD>``
(upper case), e.g. ``SEGUE_TARGET_LUFS=-16``. A value that is not a number
where one is expected, not finite, or outside :data:`BOUNDS` is refused with
the variable named; a ``SEGUE_*`` variable segue does not know is reported by
:func:`unknown_variables` (with the nearest known name).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from segue.errors import ConfigError

#: ``SEGUE_*`` variables read outside :class:`Settings` (before settings exist, or by
#: tools); every other ``SEGUE_*`` name is a field of :class:`Settings`.
OTHER_VARIABLES = ("SEGUE_CACHE_DIR", "SEGUE_PROMPTS_DIR", "SEGUE_API_TOKEN")


def default_cache_dir() -> Path:
    """Where segue keeps caches: ``$SEGUE_CACHE_DIR`` or the XDG cache home."""
    env = os.environ.get("SEGUE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "segue"


@dataclass(frozen=True)
class Settings:
    """Tunables of the pipeline, with the defaults a radio engineer would pick."""

    #: Integrated loudness every track is normalised to (streaming services: about −14).
    target_lufs: float = -14.0
    #: Sample rate of the mix.
    sample_rate: int = 44100
    #: Sample rate the analysis works at (features do not need more).
    analysis_rate: int = 22050
    #: How far the music is ducked under the voice, at least; deeper where the music
    #: is loud, so speech stays ``voice_over_music_db`` above it (never below
    #: ``max_duck_db``).
    duck_db: float = -12.0
    voice_over_music_db: float = 11.0
    max_duck_db: float = -24.0
    #: Refine beatmatched overlaps by listening to both tracks (see segue.mixing.align).
    align_by_ear: bool = True
    #: Ducking attack and release.
    duck_down_s: float = 0.15
    duck_up_s: float = 0.5
    #: Speech loudness relative to the target loudness of the music.
    voice_offset_db: float = 0.0
    #: Talk-ups end this long before the track's intro end ("hitting the post").
    post_margin_s: float = 0.5
    #: Crossfade bounds.
    min_crossfade_s: float = 2.0
    max_crossfade_s: float = 12.0
    #: Output ceiling of the limiter.
    ceiling_dbfs: float = -1.0
    #: pyttsx3 speech rate in words per minute, and voice id (empty: engine default).
    voice_rate_wpm: int = 165
    voice_id: str = ""
    #: Seed for every random choice: the same inputs give the same set.
    seed: int = 0
    #: Who writes the links: template (offline, the default and the fallback), openai, local.
    narrator: str = "template"
    #: OpenAI-compatible server and model (empty: ``OPENAI_BASE_URL`` / the backend's default).
    llm_base_url: str = ""
    llm_model: str = ""
    #: Per request timeout, retries (with exponential backoff from ``llm_backoff_s``) and
    #: the deadline for one line over all attempts; a line past it falls back to the template.
    llm_timeout_s: float = 10.0
    llm_retries: int = 2
    llm_backoff_s: float = 0.5
    llm_deadline_s: float = 30.0
    #: Upper bound on generated tokens per line, and sampling temperature.
    llm_max_tokens: int = 80
    llm_temperature: float = 0.7
    #: CPU threads for the local model (0: all cores).
    llm_threads: int = 0
    #: Reuse generated lines from the cache (off: always generate).
    llm_cache: bool = True
    #: Say a closing line over the last track's outro.
    closing_link: bool = True
    #: The show's name, as links say it ("welcome to segue").
    station_name: str = "segue"
    #: How often the host talks: auto (by talk level: chatty every track, else in
    #: sets), every, sets (a link opening each mini-set of 3-5 tracks) or a number
    #: N (a link every N tracks). See segue.narration.talkplan.
    talk_cadence: str = "auto"
    #: Phrases a link may never contain, comma-separated (case-insensitive): radio
    #: cliches, and what no host says on air (apologies, an assistant's voice).
    banned_phrases: str = (
        "next up,coming up next,up next,stay tuned,without further ado,"
        "don't touch that dial,you're listening to,banger,let's get this party started,"
        "i'm sorry,i am sorry,as an ai,language model"
    )
    #: The energy arc a set follows: flat, rise, peak, wave or fall (see segue.sequencing.arcs).
    arc: str = "peak"
    #: Weights of the sequencer's cost terms (see segue.sequencing.costs); a listener's
    #: feedback rescales them for that listener.
    weight_tempo: float = 1.0
    weight_key: float = 1.0
    weight_energy: float = 1.0
    weight_timbre: float = 1.0
    weight_dynamics: float = 1.0
    weight_genre: float = 0.3
    weight_same_artist: float = 1.0
    weight_same_album: float = 0.5
    #: Text-to-speech engine (auto: piper when installed and the language is English,
    #: else pyttsx3; or pyttsx3, piper, openai) and the voice's language (empty: the
    #: listener's). ``voice_id`` names the engine's voice when set.
    voice_engine: str = "auto"
    voice_language: str = ""
    #: OpenAI-compatible speech: model, voice and server (empty: ``OPENAI_BASE_URL``).
    tts_model: str = "tts-1"
    tts_voice: str = "alloy"
    tts_base_url: str = ""
    tts_timeout_s: float = 30.0
    #: Downward compression of speech above this level, and its ratio.
    voice_compress_threshold_db: float = -24.0
    voice_compress_ratio: float = 3.0
    #: Parallel analysis workers (0: one per CPU core).
    analysis_jobs: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from defaults overridden by ``SEGUE_*`` variables.

        Raises
        ------
        ConfigError
            Naming the variable and its value: not of the field's type, not
            finite, or outside :data:`BOUNDS`.

        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            name = f"SEGUE_{f.name.upper()}"
            raw = env.get(name)
            if raw is not None:
                values[f.name] = _parse(name, raw, type(getattr(cls, f.name)))
                _check_bounds(name, raw, f.name, values[f.name])
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.min_crossfade_s > settings.max_crossfade_s:
            raise ConfigError(
                f"SEGUE_MIN_CROSSFADE_S={settings.min_crossfade_s:g} is longer than "
                f"SEGUE_MAX_CROSSFADE_S={settings.max_crossfade_s:g}"
            )
        return settings


#: Inclusive ranges of the numeric settings that have one (``None``: unbounded).
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "target_lufs": (-70.0, 0.0), "sample_rate": (8000, 192000), "analysis_rate": (8000, 96000),
    "duck_db": (-60.0, 0.0), "voice_over_music_db": (0.0, 40.0), "max_duck_db": (-96.0, 0.0),
    "duck_down_s": (0.0, 10.0), "duck_up_s": (0.0, 10.0), "voice_offset_db": (-40.0, 40.0),
    "post_margin_s": (0.0, 10.0), "min_crossfade_s": (0.0, 60.0),
    "max_crossfade_s": (0.0, 120.0), "ceiling_dbfs": (-20.0, 0.0),
    "voice_rate_wpm": (40, 600), "llm_timeout_s": (0.1, None), "llm_retries": (0, 20),
    "llm_backoff_s": (0.0, 60.0), "llm_deadline_s": (0.1, None), "llm_max_tokens": (1, 4096),
    "llm_temperature": (0.0, 2.0), "llm_threads": (0, None), "tts_timeout_s": (0.1, None),
    "voice_compress_threshold_db": (-96.0, 0.0), "voice_compress_ratio": (1.0, 100.0),
    "analysis_jobs": (0, None),
    **{f"weight_{term}": (0.0, None) for term in (
        "tempo", "key", "energy", "timbre", "dynamics", "genre", "same_artist", "same_album")},
}  # fmt: skip

_KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number"}


def _parse(name: str, raw: str, kind: type) -> object:
    """``raw`` as a value of ``kind``; a :class:`ConfigError` naming ``name`` if it is not one."""
    try:
        value = _parse_bool(raw) if kind is bool else kind(raw if kind is str else raw.strip())
    except ValueError as exc:
        raise ConfigError(
            f"{name}={raw!r}: expected {_KIND_NAMES.get(kind, kind.__name__)}"
        ) from exc
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name}={raw!r}: expected a finite number")
    return value


def _check_bounds(name: str, raw: str, field: str, value: object) -> None:
    low, high = BOUNDS.get(field, (None, None))
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            allowed = f"at least {low:g}"
        elif low is None:
            allowed = f"at most {high:g}"
        else:
            allowed = f"from {low:g} to {high:g}"
        raise ConfigError(f"{name}={raw!r}: must be {allowed}")


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One message per ``SEGUE_*`` variable segue does not read, with the nearest known name.

    Such a variable is ignored; it is usually a typo of a setting's name.
    """
    known = [f"SEGUE_{f.name.upper()}" for f in dataclasses.fields(Settings)]
    known += OTHER_VARIABLES
    messages = []
    for name in sorted(environ):
        if not name.startswith("SEGUE_") or name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        messages.append(f"{name}: unknown setting, ignored{hint}")
    return messages


def _parse_bool(raw: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); anything else is a ValueError."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)
