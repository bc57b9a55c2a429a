"""Refining a beatmatch by ear: the explicit listening step before layout.

The grids decide a beatmatch (:func:`segue.transition.cues.plan_transition`); this
step decodes a few seconds of both tracks where they meet and checks that both
beats are audible there (else the join becomes a crossfade), and moves the
incoming track when the ear hears the grids clearly off. It reads audio, so it
runs in the engine's preparation workers, never inside layout.
"""

from __future__ import annotations

import dataclasses
import logging

from segue.models import Track
from segue.transition.cues import TransitionCue, local_beat_s, play_range_s
from segue.transition.ear import beat_phase_s, refine_offset_s
from segue.transition.ear import local_beat_s as beat_by_ear

log = logging.getLogger(__name__)

#: The ear moves a beatmatch off the grids' alignment only by this many beats.
TRUST_EAR_FROM = 1 / 8
TRUST_EAR_UNTIL = 3 / 8
#: Seconds of each track listened to where they meet.
LISTEN_WINDOW_S = 20.0


def refine_by_ear(prev: Track, nxt: Track, cue: TransitionCue) -> TransitionCue:
    """Check and refine a beatmatch ``cue`` from ``prev`` into ``nxt`` with the audio.

    Both tracks' beats must be audible where they meet, near the periods their grids
    say; the stretch stays the ratio of the grids' local periods (fitted over hundreds
    of beats, far more precise than 20 s of listening, which only confirms them), and
    the incoming track's start is moved by what the ear hears when it hears the grids
    clearly off (:data:`TRUST_EAR_FROM` to :data:`TRUST_EAR_UNTIL` of a beat). Other
    kinds of cue come back unchanged.
    """
    if cue.kind != "beatmatch":
        return cue
    _, p_out = play_range_s(prev)
    grid_beat = local_beat_s(prev, p_out)
    if grid_beat is None:
        return cue
    src_in, src_out = play_range_s(nxt)
    window = LISTEN_WINDOW_S
    n_grid = grid_beat * cue.stretch  # the incoming period the grid implies
    heard_out = beat_by_ear(prev.path, p_out - window, p_out, grid_beat)
    heard_in = beat_by_ear(nxt.path, src_in, min(src_out, src_in + window), n_grid)
    if heard_out is None or heard_in is None:
        # The grids promise a beat the audio does not carry: a plain blend is safer
        # than two drums drifting apart.
        log.info("no audible common beat into %s: crossfade instead", nxt.path)
        return TransitionCue("crossfade", cue.overlap_s, reason="beats not audible where they meet")
    shift = _phase_shift_s(prev, nxt, cue, beat_s=grid_beat, window_s=window)
    if shift is None:  # a beat too irregular to track: line up the kicks and bass instead
        shift = refine_offset_s(
            prev.path, p_out, nxt.path, src_in,
            overlap_s=cue.overlap_s, stretch=cue.stretch, beat_s=grid_beat,
        )  # fmt: skip
    # A grid fitted over the whole track is exact to a few milliseconds where the music
    # was made to a click; 20 s of listening is noisier. The ear overrules the grid only
    # when it hears it clearly off (drift), and never near half a beat, where the two
    # disagree about which pulse is the beat and neither can be trusted.
    if not TRUST_EAR_FROM * grid_beat <= abs(shift) <= TRUST_EAR_UNTIL * grid_beat:
        shift = 0.0
    overlap = cue.overlap_s - shift
    log.debug("beatmatch into %s: stretch %.4f, moved %+.0f ms by ear", nxt.path, cue.stretch,
              shift * 1000)
    return dataclasses.replace(cue, overlap_s=overlap, stretch_source_s=overlap * cue.stretch)


def _phase_shift_s(
    prev: Track, nxt: Track, cue: TransitionCue, *, beat_s: float, window_s: float
) -> float | None:
    """How much later the incoming track must start so its beats fall on the outgoing's.

    Each track's beat phase is tracked by ear where they meet: the outgoing track
    over its last ``window_s`` (at its own speed: only a track's start is ever
    stretched), the incoming one over its first ``window_s`` of mix time (at the
    cue's stretch). The shift is wrapped into half a beat either way, so the
    downbeats the grids lined up stay lined up. ``None`` when either phase cannot
    be trusted.
    """
    p_in, p_out = play_range_s(prev)
    src_in, src_out = play_range_s(nxt)
    window_s = min(window_s, p_out - p_in)
    out = beat_phase_s(prev.path, p_out - window_s, p_out, rate=1.0, beat_s=beat_s)
    inc = beat_phase_s(nxt.path, src_in, min(src_out, src_in + window_s * cue.stretch),
                       rate=cue.stretch, beat_s=beat_s)  # fmt: skip
    if out is None or inc is None:
        return None
    # Outgoing beats at E - window + out + k*beat (E: where it ends in the mix);
    # incoming ones at E - overlap + shift + inc + k*beat.
    shift = (cue.overlap_s - window_s + out[0] - inc[0]) % beat_s
    return shift - beat_s if shift > beat_s / 2 else shift
