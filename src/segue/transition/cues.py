"""Where transitions and talk-overs go, decided from two tracks' cue points.

The transition stage: both the script stage (to know how many words fit) and the
layout read its decisions, so the words written and the time given to them agree.

Transition rules (:func:`plan_transition`), in order:

1. **cut**: the outgoing track ends on its own (less than a second of outro):
   the next one starts as its last sound ends, with a 0.3 s overlap so nothing
   clicks and nothing falls silent.
2. **fade**: tempi more than 8 % apart (half/double time counts as near) or
   keys that clash on the Camelot wheel (three or more steps, both keys
   confident): a short equal-power fade (``min_crossfade_s``) instead of a
   muddy overlap.
3. **beatmatch**: tempi within 8 % and both beat grids confident: the
   overlap runs from a downbeat of the outgoing track's outro to its end, the
   incoming track's first downbeat lands on that downbeat, and the incoming
   track is time-stretched (pitch kept) to the outgoing tempo for the overlap,
   then continues at its own speed.
4. **crossfade** otherwise: an equal-power overlap as long as the outgoing
   outro.

Every overlap lies within ``min_crossfade_s``–``max_crossfade_s`` (except a
cut) and is never longer than a quarter of either track.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from segue.config import Settings
from segue.models import Track
from segue.sequencing.costs import camelot_distance, tempo_step_pct

#: Spoken words per second of a relaxed radio voice.
WORDS_PER_SECOND = 2.5
#: Below this confidence a tempo or key is not trusted for mixing decisions.
MIN_BEAT_CONFIDENCE = 0.3
MIN_KEY_CONFIDENCE = 0.5
#: Beyond this tempo step (percent) two tracks are not beatmatched.
MAX_BEATMATCH_STEP_PCT = 8.0
#: Overlap of a cut, so the join does not click.
CUT_OVERLAP_S = 0.3
#: A vocal onset is trusted for the post above this confidence.
MIN_VOCAL_CONFIDENCE = 0.5

TransitionKind = Literal["beatmatch", "crossfade", "fade", "cut"]


@dataclass(frozen=True)
class TransitionCue:
    """How one track hands over to the next.

    Attributes
    ----------
    kind : which rule applied (see the module docstring).
    overlap_s : seconds both tracks sound together, in mix time.
    stretch : playback-speed factor of the incoming track during the overlap
        (1.0 = none; 1.03 = 3 % faster, pitch kept).
    stretch_source_s : seconds of the incoming source played stretched.
    reason : one line saying why this kind was chosen.
    """

    kind: TransitionKind
    overlap_s: float
    stretch: float = 1.0
    stretch_source_s: float = 0.0
    reason: str = ""


def play_range_s(track: Track) -> tuple[float, float]:
    """The part of the file that is played: from its first to its last sound."""
    a = track.analysis
    start = max(0.0, a.first_sound_s - 0.02)
    end = min(a.duration_s, a.last_sound_s + 0.05)
    if end - start < 1.0:  # degenerate cues: play the whole file
        return 0.0, a.duration_s
    return start, end


def post_s(track: Track, settings: Settings) -> float:
    """Source time by which a talk-up must be over: the post.

    ``post_margin_s`` before the intro end, or before a confident vocal onset
    when that comes earlier (never talk over vocals).
    """
    a = track.analysis
    start, _ = play_range_s(track)
    return post_of(a.intro_end_s, getattr(a, "vocal_onset_s", None),
                   getattr(a, "vocal_confidence", 1.0), start, settings.post_margin_s)


def post_of(intro_end_s: float, vocal_onset_s: float | None, vocal_confidence: float,
            start_s: float, margin_s: float) -> float:
    """The post from the cue points (see :func:`post_s`).

    ``margin_s`` before the intro end or a confident vocal onset, whichever comes
    first, but not before ``start_s``.
    """
    arrival = intro_end_s
    if vocal_onset_s is not None and vocal_confidence >= MIN_VOCAL_CONFIDENCE:
        arrival = min(arrival, vocal_onset_s)  # a voice from the first sound leaves no intro
    return max(start_s, arrival - margin_s)


def intro_window_s(track: Track, settings: Settings) -> float:
    """Seconds from the start of ``track``'s playback to its post."""
    start, _ = play_range_s(track)
    return post_s(track, settings) - start


def downbeats_s(track: Track) -> np.ndarray:
    """The track's downbeats in source seconds (every fourth beat if none were found)."""
    a = track.analysis
    found = getattr(a, "downbeat_times_s", None)
    if found:
        return np.asarray(found, dtype=np.float64)
    return np.asarray(a.beat_times_s[::4], dtype=np.float64)


def local_beat_s(track: Track, around_s: float, *, span_s: float = 20.0) -> float | None:
    """Beat period near ``around_s``, from a straight-line fit of the beat grid there.

    More precise than the global BPM for aligning two grids: the fit averages
    over many beats and follows slow tempo drift.
    """
    beats = np.asarray(track.analysis.beat_times_s, dtype=np.float64)
    near = beats[np.abs(beats - around_s) <= span_s]
    if len(near) < 8:
        near = beats
    if len(near) < 8:
        return None
    slope = float(np.polyfit(np.arange(len(near)), near, 1)[0])
    return slope if slope > 0.2 else None


def plan_transition(prev: Track, nxt: Track, settings: Settings) -> TransitionCue:
    """Choose how ``prev`` hands over to ``nxt`` (see the module docstring)."""
    pa, na = prev.analysis, nxt.analysis
    p_start, p_end = play_range_s(prev)
    n_start, n_end = play_range_s(nxt)
    outro = p_end - max(pa.outro_start_s, p_start)
    cap = max(0.5, min(settings.max_crossfade_s, (p_end - p_start) / 4, (n_end - n_start) / 4))
    low = min(settings.min_crossfade_s, cap)
    if outro < 1.0:
        return TransitionCue("cut", min(CUT_OVERLAP_S, cap), reason="the track ends on its own")

    step = tempo_step_pct(pa.bpm, na.bpm)
    tempo_known = min(pa.bpm_confidence, na.bpm_confidence) >= MIN_BEAT_CONFIDENCE and (
        pa.bpm > 0 and na.bpm > 0
    )
    steps, letter = camelot_distance(pa.camelot, na.camelot)
    keys_known = min(pa.key_confidence, na.key_confidence) >= MIN_KEY_CONFIDENCE
    if keys_known and (steps >= 3 or (letter and steps >= 2)):
        return TransitionCue("fade", low, reason=f"keys clash ({pa.camelot}→{na.camelot})")
    if tempo_known and abs(step) > MAX_BEATMATCH_STEP_PCT:
        return TransitionCue("fade", low, reason=f"tempi clash ({step:+.0f}%)")

    length = float(np.clip(outro, low, cap))
    if tempo_known:
        cue = _beatmatch(prev, nxt, length_s=length, low_s=low, cap_s=cap)
        if cue is not None:
            return cue
    return TransitionCue("crossfade", length, reason="outro into intro")


def _beatmatch(
    prev: Track, nxt: Track, *, length_s: float, low_s: float, cap_s: float
) -> TransitionCue | None:
    """Align ``nxt``'s first downbeat with a downbeat of ``prev``'s outro, or ``None``."""
    p_start, p_end = play_range_s(prev)
    n_start, _ = play_range_s(nxt)
    p_down = downbeats_s(prev)
    n_down = downbeats_s(nxt)
    n_down = n_down[n_down >= n_start - 0.01]
    if len(p_down) == 0 or len(n_down) == 0:
        return None
    d_in = float(n_down[0])
    p_beat = local_beat_s(prev, p_end)
    n_beat = local_beat_s(nxt, d_in)
    if p_beat is None or n_beat is None:
        return None
    # Compare octave-adjusted: a 90 BPM track mixes into a 180 BPM one beat on beat.
    ratio = n_beat / p_beat
    for octave in (0.5, 2.0):
        if abs(np.log(ratio * octave)) < abs(np.log(ratio)):
            ratio *= octave
    stretch = float(ratio)  # >1: nxt's beats are longer, so it plays faster
    if abs(stretch - 1.0) > MAX_BEATMATCH_STEP_PCT / 100:
        return None
    pickup = (d_in - n_start) / stretch  # mix seconds before its first downbeat
    if pickup > 4 * p_beat:
        return None  # too much before the first downbeat to line up cleanly
    # The outgoing downbeat where the incoming one lands: the overlap is then
    # (p_end − D) + pickup; pick the D that gives the length closest to wanted.
    candidates = [float(d) for d in p_down if p_start < d < p_end]
    best: float | None = None
    for d in candidates:
        overlap = p_end - d + pickup
        if low_s <= overlap <= cap_s and (
            best is None or abs(overlap - length_s) < abs(p_end - best + pickup - length_s)
        ):
            best = d
    if best is None:
        return None
    overlap = p_end - best + pickup
    return TransitionCue(
        "beatmatch",
        overlap,
        stretch=round(stretch, 5),
        stretch_source_s=overlap * stretch,
        reason=f"beatmatched, {abs(stretch - 1) * 100:.1f}% stretch during the mix",
    )
