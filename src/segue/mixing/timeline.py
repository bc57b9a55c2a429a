"""Laying a plan and its speech out on the mix clock.

Tracks, in order (see :mod:`segue.mixing.cues` for how each transition is
chosen):

1. Each track plays from its first to its last sound, as one or more
   :class:`~segue.models.Segment` s; the next track starts ``overlap`` seconds
   before the previous one ends, so there is never silence between tracks.

Links, the talk-up rule:

2. A link ends at its track's post (``post_margin_s`` before the intro end, or
   before the vocals when they come first) and starts as late as that allows.
3. When it is longer than the intro, it starts earlier, over the previous
   track's outro (at most :func:`~segue.mixing.cues.lead_in_s` before the new
   track starts).
4. When it still does not fit, the new track is held on a bed: its first bar
   (from its first downbeat) repeats, beat-aligned, until the link is over
   before the post — at most :data:`MAX_BED_REPEATS` times.
5. Two voices never overlap: a link starts at least :data:`VOICE_GAP_S` after
   the previous one ends.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence

import numpy as np

from segue.config import Settings
from segue.mixing.align import beat_phase_s, refine_offset_s
from segue.mixing.align import local_beat_s as beat_by_ear
from segue.mixing.cues import (
    TransitionCue,
    downbeats_s,
    lead_in_s,
    local_beat_s,
    plan_transition,
    play_range_s,
    post_s,
)
from segue.models import (
    Plan,
    Segment,
    Speech,
    Timeline,
    TimelineLink,
    TimelineTrack,
    Track,
    TrackAnalysis,
)

log = logging.getLogger(__name__)

#: Fade at the very end of the set, and the breath before the opening line.
FINAL_FADE_S = 2.0
OPENING_DELAY_S = 0.3
VOICE_GAP_S = 0.5
MAX_BED_REPEATS = 8
#: Loop length when a track has no usable beat grid.
FALLBACK_BED_S = 2.0
#: Most make-up gain for the loudness the limiter takes (see track_gain_db).
MAX_MAKEUP_DB = 4.0
#: The ear moves a beatmatch off the grids' alignment only by this many beats (see _listen).
TRUST_EAR_FROM = 1 / 8
TRUST_EAR_UNTIL = 3 / 8


def build_segments(
    mix_start_s: float,
    src_in_s: float,
    src_out_s: float,
    *,
    stretch: float = 1.0,
    stretch_until_s: float = 0.0,
    loop_start_s: float = 0.0,
    loop_len_s: float = 0.0,
    loops: int = 0,
) -> tuple[Segment, ...]:
    """Cut a track's playback into segments.

    The source plays from ``src_in_s`` to ``src_out_s``; the bar
    ``[loop_start_s, loop_start_s + loop_len_s)`` plays ``loops`` extra times
    before the rest; source times before ``stretch_until_s`` play at ``stretch``.
    """
    program: list[tuple[float, float]] = []
    if loops > 0 and loop_len_s > 0:
        loop_end = loop_start_s + loop_len_s
        program.append((src_in_s, loop_end))
        program += [(loop_start_s, loop_end)] * loops
        program.append((loop_end, src_out_s))
    else:
        program.append((src_in_s, src_out_s))
    segments: list[Segment] = []
    t = mix_start_s
    for a, b in program:
        pieces = [(a, b)]
        if stretch != 1.0 and a < stretch_until_s < b:
            pieces = [(a, stretch_until_s), (stretch_until_s, b)]
        for lo, hi in pieces:
            if hi - lo <= 1e-4:
                continue
            rate = stretch if lo < stretch_until_s - 1e-6 else 1.0
            seg = Segment(mix_start_s=round(t, 5), source_start_s=round(lo, 5),
                          source_end_s=round(hi, 5), rate=rate)
            segments.append(seg)
            t = seg.mix_end_s
    return tuple(segments)


def mix_time(segments: Sequence[Segment], source_s: float) -> float:
    """Mix time at which source time ``source_s`` is heard (its last time, after any bed)."""
    for seg in reversed(segments):
        if seg.source_start_s - 1e-6 <= source_s <= seg.source_end_s + 1e-6:
            return seg.mix_start_s + (source_s - seg.source_start_s) / seg.rate
    if source_s < segments[0].source_start_s:
        return segments[0].mix_start_s
    return segments[-1].mix_end_s


class _Layout:
    """The mutable state of laying out one track: its segments and bed."""

    def __init__(
        self, track: Track, start_s: float, cue: TransitionCue | None, post_src_s: float,
        gain_db: float,
    ) -> None:
        self.track = track
        self.gain_db = gain_db
        self.start_s = start_s
        self.cue = cue
        self.src_in, self.src_out = play_range_s(track)
        self.stretch = cue.stretch if cue else 1.0
        self.stretch_until = self.src_in + (cue.stretch_source_s if cue else 0.0)
        self.loops = 0
        self.loop_start, self.loop_len = self._bed_bar(post_src_s)
        self.segments = self._segments()

    def _bed_bar(self, post_src_s: float) -> tuple[float, float]:
        """The bar a bed repeats: the last whole bar (downbeat to downbeat) before the post.

        Repeating it delays everything after it, the post included, by whole bars,
        so the beat runs on. Without a usable grid, or when the intro is shorter
        than a bar, the first :data:`FALLBACK_BED_S` seconds are repeated.
        """
        beat = local_beat_s(self.track, post_src_s)
        if beat is not None:
            bar = 4 * beat
            down = downbeats_s(self.track)
            fits = down[(down >= self.src_in - 0.01) & (down + bar <= post_src_s + 0.05)]
            if len(fits):
                return float(fits[-1]), bar
        return self.src_in, min(FALLBACK_BED_S, (self.src_out - self.src_in) / 4)

    def _segments(self) -> tuple[Segment, ...]:
        return build_segments(
            self.start_s, self.src_in, self.src_out, stretch=self.stretch,
            stretch_until_s=self.stretch_until, loop_start_s=self.loop_start,
            loop_len_s=self.loop_len, loops=self.loops,
        )  # fmt: skip

    def hold(self, seconds: float) -> None:
        """Add enough bed repeats to delay the post by at least ``seconds``."""
        rate = self.stretch if self.loop_start < self.stretch_until else 1.0
        per_loop = self.loop_len / rate
        extra = min(MAX_BED_REPEATS - self.loops, math.ceil(seconds / per_loop - 1e-9))
        if extra > 0:
            self.loops += extra
            self.segments = self._segments()

    @property
    def end_s(self) -> float:
        return self.segments[-1].mix_end_s

    @property
    def bed_s(self) -> float:
        rate = self.stretch if self.loop_start < self.stretch_until else 1.0
        return self.loops * self.loop_len / rate


def track_gain_db(analysis: TrackAnalysis, target_lufs: float, ceiling_dbfs: float) -> float:
    """Gain (dB) that brings a track to ``target_lufs`` in the mix, the limiter included.

    The plain normalisation gain, plus make-up for the loudness the output limiter
    (at ``ceiling_dbfs``) will take from the track's peaks at that gain, from the
    analysis' :attr:`~segue.models.TrackAnalysis.limiter_loss_lu`. The make-up ``m``
    solves ``m = loss(gain + m)`` (more gain, more limiting), at most
    :data:`MAX_MAKEUP_DB`: a master too dense to get there is left a little quiet
    rather than crushed.
    """
    gain = target_lufs - analysis.lufs
    curve = analysis.limiter_loss_lu
    if not curve:
        return gain

    def shortfall(makeup: float) -> float:
        excess = gain + makeup + analysis.true_peak_dbtp - ceiling_dbfs
        loss = float(np.interp(excess, np.arange(len(curve)), curve)) if excess > 0 else 0.0
        return loss - makeup

    if shortfall(MAX_MAKEUP_DB) > 0:
        return gain + MAX_MAKEUP_DB
    lo, hi = 0.0, MAX_MAKEUP_DB  # shortfall(lo) >= 0 >= shortfall(hi)
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if shortfall(mid) > 0 else (lo, mid)
    return gain + hi


def build_timeline(
    plan: Plan, speeches: Sequence[Speech], settings: Settings, *,
    ceiling_dbfs: float | None = None,
) -> Timeline:
    """Place every track and link of ``plan`` on the mix clock.

    ``ceiling_dbfs`` is the output limiter's ceiling (default: the settings'; a file
    sink lowers it for codec headroom), which decides how much make-up gain each
    track needs, see :func:`track_gain_db`.
    """
    ceiling = settings.ceiling_dbfs if ceiling_dbfs is None else ceiling_dbfs
    by_track = {s.link.before_track: s for s in speeches}
    layouts: list[_Layout] = []
    links: list[TimelineLink] = []
    placed: list[Speech] = []
    voice_free_at = 0.0
    for i, track in enumerate(plan.tracks):
        cue = plan_transition(plan.tracks[i - 1], track, settings) if i > 0 else None
        if cue is not None and cue.kind == "beatmatch" and settings.align_by_ear:
            cue = _listen(layouts[-1], track, cue)
        start = layouts[-1].end_s - cue.overlap_s if cue else 0.0
        post_src = post_s(track, settings)
        layout = _Layout(track, start, cue, post_src,
                         track_gain_db(track.analysis, settings.target_lufs, ceiling))
        layouts.append(layout)
        speech = by_track.pop(i, None)
        if speech is None:
            continue
        if i == 0:
            earliest = OPENING_DELAY_S
        else:
            earliest = start - lead_in_s(plan.tracks[i - 1], track, settings)
        earliest = max(earliest, voice_free_at)
        post = mix_time(layout.segments, post_src)
        overflow = earliest + speech.duration_s - post
        if overflow > 0:
            layout.hold(overflow)
            post = mix_time(layout.segments, post_src)
            log.info("track %d held %.1f s on a bed for its link", i + 1, layout.bed_s)
        begin = max(earliest, post - speech.duration_s)
        end = begin + speech.duration_s
        if end > post + 0.01:
            log.warning("link before track %d runs %.1f s past the post", i + 1, end - post)
        voice_free_at = end + VOICE_GAP_S
        placed.append(speech)
        duck = duck_depth_db(layouts[max(0, i - 1) :], begin, end, settings)
        links.append(_link(speech, begin, post, duck))

    for speech in by_track.values():  # a closing link: over the last track's outro
        last = layouts[-1]
        outro = mix_time(last.segments, min(max(last.track.analysis.outro_start_s, last.src_in),
                                            last.src_out))
        begin = max(voice_free_at, min(outro, last.end_s - FINAL_FADE_S - speech.duration_s))
        placed.append(speech)
        duck = duck_depth_db([last], begin, begin + speech.duration_s, settings)
        links.append(_link(speech, begin, last.end_s, duck))

    tracks = [
        _timeline_track(layout, layouts[i + 1].cue if i + 1 < len(layouts) else None, settings)
        for i, layout in enumerate(layouts)
    ]
    duration = max([t.end_s for t in tracks] + [lk.end_s + settings.duck_up_s for lk in links])
    return Timeline(
        duration_s=round(duration, 3),
        target_lufs=settings.target_lufs,
        sr=settings.sample_rate,
        tracks=tuple(tracks),
        links=tuple(links),
        speech=tuple(placed),
    )


def _listen(prev: _Layout, nxt: Track, cue: TransitionCue) -> TransitionCue:
    """Refine a beatmatch with the audio (see :mod:`segue.mixing.align`).

    Both tracks' beats must be audible where they meet, near the periods their grids
    say; the stretch is the ratio of the grids' local periods (fitted over hundreds
    of beats, far more precise than 20 s of listening, which only confirms them),
    and the incoming track's start is moved by what the ear hears, when it hears the
    grids clearly off (:data:`TRUST_EAR_FROM` to :data:`TRUST_EAR_UNTIL` of a beat).
    """
    grid_beat = local_beat_s(prev.track, prev.src_out)
    if grid_beat is None:
        return cue
    src_in, src_out = play_range_s(nxt)
    window = 20.0
    n_grid = grid_beat * cue.stretch  # the incoming period the grid implies
    heard_out = beat_by_ear(prev.track.path, prev.src_out - window, prev.src_out, grid_beat)
    heard_in = beat_by_ear(nxt.path, src_in, min(src_out, src_in + window), n_grid)
    if heard_out is None or heard_in is None:
        # The grids promise a beat the audio does not carry: a plain blend is safer
        # than two drums drifting apart.
        log.info("no audible common beat into %s: crossfade instead", nxt.path)
        return TransitionCue("crossfade", cue.overlap_s, reason="beats not audible where they meet")
    stretch = cue.stretch
    overlap = cue.overlap_s
    shift = _phase_shift_s(prev, nxt.path, src_in, src_out, overlap=overlap, stretch=stretch,
                           beat_s=grid_beat, window_s=window)
    if shift is None:  # a beat too irregular to track: line up the kicks and bass instead
        shift = refine_offset_s(
            prev.track.path, prev.src_out, nxt.path, src_in,
            overlap_s=overlap, stretch=stretch, beat_s=grid_beat,
        )  # fmt: skip
    # A grid fitted over the whole track is exact to a few milliseconds where the music
    # was made to a click; 20 s of listening is noisier. The ear overrules the grid only
    # when it hears it clearly off (drift), and never near half a beat, where the two
    # disagree about which pulse is the beat and neither can be trusted.
    if not TRUST_EAR_FROM * grid_beat <= abs(shift) <= TRUST_EAR_UNTIL * grid_beat:
        shift = 0.0
    overlap -= shift
    log.debug("beatmatch into %s: stretch %.4f, moved %+.0f ms by ear", nxt.path, stretch,
              shift * 1000)
    return dataclasses.replace(cue, overlap_s=overlap, stretch_source_s=overlap * stretch)


def _phase_shift_s(
    prev: _Layout, path: str, src_in: float, src_out: float, *, overlap: float, stretch: float,
    beat_s: float, window_s: float,
) -> float | None:
    """How much later the incoming track must start so its beats fall on the outgoing's.

    Each track's beat phase is tracked by ear where they meet: the outgoing track
    over its last ``window_s`` (at its own speed), the incoming one over its first
    ``window_s`` of mix time (at ``stretch``). The shift is wrapped into half a beat
    either way, so the downbeats the grids lined up stay lined up. ``None`` when
    either phase cannot be trusted.
    """
    last = prev.segments[-1]
    window_s = min(window_s, (last.source_end_s - last.source_start_s) / last.rate)
    out = beat_phase_s(prev.track.path, prev.src_out - window_s * last.rate, prev.src_out,
                       rate=last.rate, beat_s=beat_s)
    inc = beat_phase_s(path, src_in, min(src_out, src_in + window_s * stretch), rate=stretch,
                       beat_s=beat_s)
    if out is None or inc is None:
        return None
    # Outgoing beats at E - window + out + k*beat (E: where it ends in the mix);
    # incoming ones at E - overlap + shift + inc + k*beat.
    shift = (overlap - window_s + out[0] - inc[0]) % beat_s
    return shift - beat_s if shift > beat_s / 2 else shift


def music_level_lufs(layouts: Sequence[_Layout], begin_s: float, end_s: float,
                     settings: Settings) -> float | None:
    """The loudest short-term loudness of the music between two mix times, after gain.

    From each track's 3 s loudness curve (one value a second), mapped through its
    segments; ``None`` when no curve is known.
    """
    level: float | None = None
    for lay in layouts:
        curve = lay.track.analysis.short_term_lufs
        if not curve:
            continue
        gain = lay.gain_db
        for seg in lay.segments:
            lo, hi = max(begin_s, seg.mix_start_s), min(end_s, seg.mix_end_s)
            if lo >= hi:
                continue
            src_lo = seg.source_start_s + (lo - seg.mix_start_s) * seg.rate
            src_hi = seg.source_start_s + (hi - seg.mix_start_s) * seg.rate
            window = curve[max(0, int(src_lo)) : min(len(curve), int(src_hi) + 1)]
            if window:
                loudest = max(window) + gain
                level = loudest if level is None else max(level, loudest)
    return level


def duck_depth_db(layouts: Sequence[_Layout], begin_s: float, end_s: float,
                  settings: Settings) -> float:
    """How far to duck the music under a voice between two mix times.

    ``duck_db`` at least; deeper where the music is loud, so the speech (at
    ``target_lufs + voice_offset_db``) stays ``voice_over_music_db`` above it,
    but never deeper than ``max_duck_db``.
    """
    level = music_level_lufs(layouts, begin_s, end_s, settings)
    if level is None:
        return settings.duck_db
    voice = settings.target_lufs + settings.voice_offset_db
    wanted = voice - settings.voice_over_music_db - level
    return round(max(settings.max_duck_db, min(settings.duck_db, wanted)), 2)


def _link(speech: Speech, begin_s: float, post_s: float, duck_db: float) -> TimelineLink:
    return TimelineLink(
        text=speech.link.text,
        start_s=round(begin_s, 3),
        end_s=round(begin_s + speech.duration_s, 3),
        before_track=speech.link.before_track,
        backend=speech.link.backend,
        template=speech.link.template,
        duck_db=duck_db,
        voice=speech.voice,
        fallback=speech.link.fallback_reason,
        post_s=round(post_s, 3),
    )


def _timeline_track(
    layout: _Layout, next_cue: TransitionCue | None, settings: Settings
) -> TimelineTrack:
    track, cue, segs = layout.track, layout.cue, layout.segments
    a = track.analysis
    length = layout.end_s - layout.start_s
    fade_out = next_cue.overlap_s if next_cue else min(FINAL_FADE_S, length / 4)
    outro = min(max(a.outro_start_s, layout.src_in), layout.src_out)
    return TimelineTrack(
        path=track.path,
        title=track.tags.title,
        artist=track.tags.artist,
        start_s=round(layout.start_s, 3),
        end_s=round(layout.end_s, 3),
        source_in_s=round(layout.src_in, 3),
        source_out_s=round(layout.src_out, 3),
        gain_db=round(layout.gain_db, 2),
        fade_in_s=round(cue.overlap_s, 3) if cue else 0.0,
        fade_out_s=round(fade_out, 3),
        intro_end_s=round(mix_time(segs, max(a.intro_end_s, layout.src_in)), 3),
        outro_start_s=round(mix_time(segs, outro), 3),
        bpm=a.bpm,
        camelot=a.camelot,
        energy=a.energy,
        crossfade_s=round(cue.overlap_s, 3) if cue else 0.0,
        transition=cue.kind if cue else "start",
        transition_reason=cue.reason if cue else "first track",
        stretch=cue.stretch if cue else 1.0,
        bed_s=round(layout.bed_s, 3),
        segments=segs,
    )
