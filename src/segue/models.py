"""The typed values passed between pipeline stages.

files → :class:`Track` (tags + :class:`TrackAnalysis`) → :class:`Plan` →
:class:`Link` per gap → :class:`Speech` → :class:`Timeline` → sink.

Every value is a frozen dataclass so a stage can be run, tested and cached on its
own. Times are seconds, levels dB/LUFS, as their names say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

TalkLevel = Literal["off", "brief", "normal", "chatty"]
TALK_LEVELS: tuple[TalkLevel, ...] = ("off", "brief", "normal", "chatty")

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Tags:
    """Descriptive metadata of a track; title and artist are never empty."""

    title: str
    artist: str
    album: str | None = None
    year: int | None = None
    genre: str | None = None


@dataclass(frozen=True)
class TrackAnalysis:
    """What the analysis stage knows about one track's audio.

    Attributes
    ----------
    duration_s : length of the decoded audio.
    bpm, bpm_confidence : tempo in beats per minute and a 0–1 confidence.
    beat_times_s : the beat grid.
    key, camelot, key_confidence : e.g. ``"A minor"``, ``"8A"`` and a 0–1 confidence.
    lufs : integrated loudness (ITU-R BS.1770) of the whole track.
    peak_dbfs : sample peak over all channels.
    energy : 0–1 scalar, see :func:`segue.analysis.features.energy_score`.
    first_sound_s, last_sound_s : first and last moment above −60 dBFS.
    intro_end_s : where the song arrives after its intro (the talk-over window ends here).
    outro_start_s : where the ending begins (the next track may come in from here).
    timbre : 13 mean MFCCs, see :func:`segue.analysis.features.timbre_summary`.
    loudness_range_lu : EBU Tech 3342 loudness range (LRA).
    true_peak_dbtp : 4× oversampled peak (BS.1770-4 Annex 2), dB true peak.
    short_term_lufs : 3 s loudness once per second (value ``i`` centred on ``i + 0.5`` s).
    energy_curve : 0–1 energy once per second, see
        :func:`segue.analysis.features.energy_curve`.
    brightness : share of spectral energy above 1.5 kHz, 0–1.
    pulse_clarity : 0–1, how clearly a steady beat is heard (onset autocorrelation at
        the beat period).
    downbeat_times_s : the first beat of every bar (4/4 assumed).
    vocal_onset_s, vocal_confidence : where a voice probably enters (``None`` when no
        voice was found) and a 0–1 confidence.
    limiter_loss_lu : entry ``k``: loudness (LU) the output limiter takes when the track
        plays with its true peak ``k`` dB over the ceiling, see
        :func:`segue.analysis.loudness.limiter_loss_curve`.

    """

    duration_s: float
    bpm: float
    bpm_confidence: float
    beat_times_s: tuple[float, ...]
    key: str
    camelot: str
    key_confidence: float
    lufs: float
    peak_dbfs: float
    energy: float
    first_sound_s: float
    last_sound_s: float
    intro_end_s: float
    outro_start_s: float
    timbre: tuple[float, ...] = ()
    loudness_range_lu: float = 0.0
    true_peak_dbtp: float = 0.0
    short_term_lufs: tuple[float, ...] = ()
    energy_curve: tuple[float, ...] = ()
    brightness: float = 0.0
    pulse_clarity: float = 0.0
    downbeat_times_s: tuple[float, ...] = ()
    vocal_onset_s: float | None = None
    vocal_confidence: float = 0.0
    limiter_loss_lu: tuple[float, ...] = ()


@dataclass(frozen=True)
class Track:
    """A playable file with its tags and analysis."""

    path: str
    tags: Tags
    analysis: TrackAnalysis


@dataclass(frozen=True)
class Listener:
    """Who is listening: used to personalise links and, later, the order."""

    name: str | None = None
    language: str = "en"
    liked_artists: tuple[str, ...] = ()
    liked_genres: tuple[str, ...] = ()
    talk_level: TalkLevel = "normal"
    #: What the listener heard recently ("Title by Artist"), oldest first; links may refer to it.
    recent: tuple[str, ...] = ()
    #: Where this listener's feedback on transitions is kept (JSON lines; None: nowhere), and
    #: whether it may reweight the sequencer's cost terms (see segue.sequencing.preference).
    feedback_path: str | None = None
    personalise: bool = True


@dataclass(frozen=True)
class Transition:
    """One step of a plan: from position ``from_pos`` to ``to_pos`` in the order."""

    from_pos: int
    to_pos: int
    cost: float
    terms: Mapping[str, float]
    reason: str


@dataclass(frozen=True)
class Plan:
    """Tracks in play order with the transition between each consecutive pair."""

    tracks: tuple[Track, ...]
    transitions: tuple[Transition, ...]
    total_cost: float
    #: Input index of each track in play order, the energy arc, its target energy at each
    #: position (empty for ``flat``) and the term weights the costs were computed with.
    order: tuple[int, ...] = ()
    arc: str = "flat"
    target_energy: tuple[float, ...] = ()
    weights: Mapping[str, float] = field(default_factory=dict)


LinkKind = Literal["opening", "link", "closing"]
#: A talk-over is spoken over the intro of its track; a standalone link does not fit
#: the intro and needs time of its own (over a bed or the previous outro).
Delivery = Literal["talkover", "standalone"]


@dataclass(frozen=True)
class Link:
    """A spoken link heard before (over the intro of) track ``before_track``.

    A ``closing`` link follows the last track: its ``before_track`` is the number
    of tracks. ``backend`` is who wrote the text; when an LLM line was refused,
    ``fallback_reason`` says why and ``backend`` is ``template``.
    """

    before_track: int
    kind: LinkKind
    text: str
    template: str
    backend: str
    fallback_reason: str | None = None
    delivery: Delivery = "talkover"
    word_budget: int = 0
    window_s: float = 0.0


@dataclass(frozen=True, eq=False)
class Speech:
    """Synthesized speech for a link: mono float32 samples at ``sr`` Hz."""

    link: Link
    samples: FloatArray
    sr: int
    voice: str

    @property
    def duration_s(self) -> float:
        """Length of the speech in seconds."""
        return float(len(self.samples)) / self.sr


@dataclass(frozen=True)
class Segment:
    """A stretch of a source file played at ``rate`` from ``mix_start_s`` on.

    ``rate`` > 1 plays faster (time-stretched, pitch kept). A track is one or
    more segments in order; a bed repeats a segment.
    """

    mix_start_s: float
    source_start_s: float
    source_end_s: float
    rate: float = 1.0

    @property
    def mix_end_s(self) -> float:
        """Where the segment ends on the mix clock."""
        return self.mix_start_s + (self.source_end_s - self.source_start_s) / self.rate


@dataclass(frozen=True)
class TimelineTrack:
    """Where a track sits in the mix and how it is played.

    ``start_s``/``end_s``, ``intro_end_s`` and ``outro_start_s`` are mix times;
    ``source_*`` are times in the file. ``crossfade_s`` is the overlap with the
    previous track, ``transition`` how it was made (beatmatch, crossfade, fade,
    cut) and why, ``bed_s`` how long the intro was held (looped) so a link could
    finish before the post.
    """

    path: str
    title: str
    artist: str
    start_s: float
    end_s: float
    source_in_s: float
    source_out_s: float
    gain_db: float
    fade_in_s: float
    fade_out_s: float
    intro_end_s: float
    outro_start_s: float
    bpm: float
    camelot: str
    energy: float
    crossfade_s: float = 0.0
    transition: str = "start"
    transition_reason: str = ""
    stretch: float = 1.0
    bed_s: float = 0.0
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True)
class TimelineLink:
    """Where a link is heard in the mix."""

    text: str
    start_s: float
    end_s: float
    before_track: int
    backend: str
    template: str
    duck_db: float
    voice: str
    fallback: str | None = None
    post_s: float = 0.0


@dataclass(frozen=True)
class Timeline:
    """The whole mix as events on one clock (seconds from the start of the mix)."""

    duration_s: float
    target_lufs: float
    sr: int
    tracks: tuple[TimelineTrack, ...]
    links: tuple[TimelineLink, ...]
    speech: tuple[Speech, ...] = field(default=(), repr=False)
