"""One exception hierarchy for segue; every message names its culprit.

Each pipeline stage raises its own subclass so that the stage boundary that knows
what to do (skip a track, fall back to another engine, stop the run) can catch
exactly what it can handle.
"""

from __future__ import annotations


class SegueError(Exception):
    """Base class of every error segue raises on purpose."""


class InputError(SegueError):
    """A path given by the user is missing, unreadable or not usable."""


class DecodeError(SegueError):
    """An audio file could not be decoded (not audio, corrupt, truncated, empty)."""


class AnalysisError(SegueError):
    """Decoding worked but the audio could not be analysed (e.g. too short)."""


class PlanError(SegueError):
    """No order could be planned for the given tracks."""


class NarrationError(SegueError):
    """A link could not be written (template error, backend failure)."""


class VoiceError(SegueError):
    """Speech could not be synthesized."""


class MixError(SegueError):
    """The mix could not be rendered or encoded."""


class OutputError(SegueError):
    """The output path is unusable: wrong extension, unwritable, or an input."""


class ConfigError(SegueError):
    """A setting (a ``SEGUE_*`` variable, a listener profile's value) is unusable."""
