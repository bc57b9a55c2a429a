"""Laying a plan and its speech out on the mix clock.

A pure function of the decisions made before it (no I/O): each track's
:class:`~segue.transition.handover.Handover` (see :mod:`segue.transition`) and
its link's speech. Tracks, in order:

1. Each track plays from its first to its last sound, as one or more
   :class:`~segue.models.Segment` s; the next track starts ``overlap`` seconds
   before the previous one ends, so there is never silence between tracks.

Links, the talk-up rule:

2. A link ends at its track's post (``post_margin_s`` before the intro end, or
   before the vocals when they come first) and starts as late as that allows.
3. When it is longer than the intro, it starts earlier, over the previous
   track's outro (at most the handover's ``lead_in_s`` before the new
   track starts).
4. When it still does not fit, the new track is held on a bed: the last whole
   bar before the post repeats, beat-aligned, until the link is over before the
   post — at most :data:`MAX_BED_REPEATS` times. A bed never reaches past the
   post, so it never loops the voice the post waits for.
5. When no bed fits before the post (a track that opens on its voice) or the
   repeats run out, the new track waits: it starts later, cold, as the link
   ends, and the link is said over the end of the previous track alone.
6. Two voices never overlap: a link starts at least :data:`VOICE_GAP_S` after
   the previous one ends.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence

import numpy as np

from segue.config import Settings
from segue.mixing.gain import track_gain_db
from segue.models import (
    Plan,
    Segment,
    Speech,
    Timeline,
    TimelineLink,
    TimelineTrack,
    Track,
)
from segue.transition.cues import TransitionCue, downbeats_s, local_beat_s, play_range_s
from segue.transition.handover import Handover, decide_handover

log = logging.getLogger(__name__)

#: Fade at the very end of the set, and the breath before the opening line.
FINAL_FADE_S = 2.0
OPENING_DELAY_S = 0.3
VOICE_GAP_S = 0.5
MAX_BED_REPEATS = 8
#: Placed tracks a :class:`Layout` keeps (ducking looks at the one before).
KEEP_PLACED = 2
#: Loop length when a track has no usable beat grid, and the shortest loop it may have.
FALLBACK_BED_S = 2.0
MIN_FALLBACK_BED_S = 1.0
#: Fewest beats a bed may loop when no whole bar fits before the post.
MIN_BED_BEATS = 2
#: Fade-in of a track that starts cold after its link (long enough not to click).
COLD_FADE_IN_S = 0.05


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
        #: Seconds the track was moved later, to start cold after its link (rule 5).
        self.wait_s = 0.0
        self.loop_start, self.loop_len = self._bed_bar(post_src_s)
        self.segments = self._segments()

    def _bed_bar(self, post_src_s: float) -> tuple[float, float]:
        """The stretch a bed repeats, ``(start, length)``, all of it before the post.

        The last whole bar (downbeat to downbeat) before the post, so repeating it
        delays everything after it by whole bars and the beat runs on; failing
        that, the last whole beats before the post (at least :data:`MIN_BED_BEATS`).
        Without a usable grid, up to :data:`FALLBACK_BED_S` seconds from the first
        sound. Length 0 when not even that fits: the intro is too short for a bed.
        """
        post = min(post_src_s, self.src_out) + 0.05
        beat = local_beat_s(self.track, post_src_s)
        if beat is not None:
            down = downbeats_s(self.track)
            bars = down[(down >= self.src_in - 0.01) & (down + 4 * beat <= post)]
            if len(bars):
                return float(bars[-1]), 4 * beat
            beats = np.asarray(self.track.analysis.beat_times_s, dtype=np.float64)
            starts = beats[beats >= self.src_in - 0.01]
            if len(starts):
                n = int((post - starts[0]) / beat + 1e-6)
                return (float(starts[0]), n * beat) if n >= MIN_BED_BEATS else (self.src_in, 0.0)
        length = min(FALLBACK_BED_S, (self.src_out - self.src_in) / 4, post - self.src_in)
        return self.src_in, length if length >= MIN_FALLBACK_BED_S else 0.0

    def _segments(self) -> tuple[Segment, ...]:
        return build_segments(
            self.start_s, self.src_in, self.src_out, stretch=self.stretch,
            stretch_until_s=self.stretch_until, loop_start_s=self.loop_start,
            loop_len_s=self.loop_len, loops=self.loops,
        )  # fmt: skip

    def cut(self, end_s: float) -> None:
        """End the track at mix time ``end_s`` (a skip): later segments go, the last is trimmed."""
        kept: list[Segment] = []
        for seg in self.segments:
            if seg.mix_start_s >= end_s:
                break
            if seg.mix_end_s > end_s:
                seg = dataclasses.replace(
                    seg, source_end_s=seg.source_start_s + (end_s - seg.mix_start_s) * seg.rate)
            kept.append(seg)
        self.segments = tuple(kept)
        self.src_out = kept[-1].source_end_s

    def hold(self, seconds: float) -> None:
        """Delay the post by at least ``seconds``: bed repeats, then a later, cold start."""
        rate = self.stretch if self.loop_start < self.stretch_until else 1.0
        per_loop = self.loop_len / rate
        extra = 0
        if per_loop > 0:
            extra = max(0, min(MAX_BED_REPEATS - self.loops,
                               math.ceil(seconds / per_loop - 1e-9)))  # fmt: skip
        wait = max(0.0, seconds - extra * per_loop)
        self.loops += extra
        self.wait_s += wait
        self.start_s += wait
        self.segments = self._segments()

    @property
    def end_s(self) -> float:
        return self.segments[-1].mix_end_s

    @property
    def bed_s(self) -> float:
        rate = self.stretch if self.loop_start < self.stretch_until else 1.0
        return self.loops * self.loop_len / rate


class Layout:
    """Places tracks and their links on the mix clock, one track at a time.

    Pure: everything it needs was decided before (each track's handover, each
    link's speech), so placing does no I/O. A finite render places a whole plan
    (:func:`build_timeline`); the show engine places each track shortly before it
    is heard, and may :meth:`cut` the playing track short (a skip) or
    :meth:`unplace` one not yet heard. Only the last :data:`KEEP_PLACED` tracks are
    kept, so an endless show lays out in constant memory.

    A placed track's :class:`~segue.models.TimelineTrack` is final only once the
    next track is placed (that decides its fade-out); until then it carries the
    set's final fade.
    """

    def __init__(self, settings: Settings, *, ceiling_dbfs: float | None = None) -> None:
        self.settings = settings
        self.ceiling = settings.ceiling_dbfs if ceiling_dbfs is None else ceiling_dbfs
        self._placed: list[_Layout] = []
        self._voice_free_at: list[float] = [0.0]
        self.count = 0

    @property
    def end_s(self) -> float:
        """Where the last placed track ends (0 before the first)."""
        return self._placed[-1].end_s if self._placed else 0.0

    def last(self) -> TimelineTrack | None:
        """The last placed track as it stands (with the final fade as its fade-out)."""
        return _timeline_track(self._placed[-1], None, self.settings) if self._placed else None

    def place(
        self, track: Track, handover: Handover, speech: Speech | None = None
    ) -> tuple[TimelineTrack | None, TimelineTrack, TimelineLink | None]:
        """Place ``track`` after the last one, with the link spoken before it.

        Returns the previous track, now final (``None`` for the first), the new
        track as it stands, and where its link is heard (``None`` without speech).
        """
        prev = self._placed[-1] if self._placed else None
        cue = handover.cue if prev is not None else None
        start = prev.end_s - cue.overlap_s if prev is not None and cue is not None else self.end_s
        gain = track_gain_db(track.analysis, self.settings.target_lufs, self.ceiling)
        layout = _Layout(track, start, cue, handover.post_source_s, gain)
        self._placed.append(layout)
        del self._placed[:-KEEP_PLACED]
        self.count += 1
        link = self._place_link(layout, prev, handover, speech)
        before = _timeline_track(prev, cue, self.settings) if prev is not None else None
        return before, _timeline_track(layout, None, self.settings), link

    def _place_link(
        self, layout: _Layout, prev: _Layout | None, handover: Handover, speech: Speech | None
    ) -> TimelineLink | None:
        """Put the talk-up on the clock so it ends at the post (see the module docstring)."""
        free_at = self._voice_free_at[-1]
        if speech is None:
            self._voice_free_at.append(free_at)
            del self._voice_free_at[:-KEEP_PLACED - 1]
            return None
        earliest = OPENING_DELAY_S if prev is None else layout.start_s - handover.lead_in_s
        earliest = max(earliest, free_at)
        post = mix_time(layout.segments, handover.post_source_s)
        overflow = earliest + speech.duration_s - post
        if overflow > 0:
            layout.hold(overflow)
            post = mix_time(layout.segments, handover.post_source_s)
            log.info("track %d held %.1f s on a bed and %.1f s before it for its link",
                     self.count, layout.bed_s, layout.wait_s)  # fmt: skip
        begin = max(earliest, post - speech.duration_s)
        end = begin + speech.duration_s
        if end > post + 0.01:
            log.warning("link before track %d runs %.1f s past the post", self.count,
                        end - post)  # fmt: skip
        self._voice_free_at.append(end + VOICE_GAP_S)
        del self._voice_free_at[:-KEEP_PLACED - 1]
        around = [lay for lay in (prev, layout) if lay is not None]
        duck = duck_depth_db(around, begin, end, self.settings)
        return _link(speech, begin, post, duck)

    def attach_link(self, handover: Handover, speech: Speech, not_before_s: float
                    ) -> TimelineLink | None:  # fmt: skip
        """Place a link that was not ready when its track (the last placed) was.

        It goes over what is left of the intro, ending at the post, if it still fits
        after ``not_before_s`` (what is already rendered) without holding a bed;
        ``None`` when it no longer fits.
        """
        if not self._placed:
            return None
        layout = self._placed[-1]
        post = mix_time(layout.segments, handover.post_source_s)
        earliest = max(not_before_s, self._voice_free_at[-2] if len(self._voice_free_at) > 1
                       else 0.0)  # fmt: skip
        if earliest + speech.duration_s > post:
            return None
        begin = max(earliest, post - speech.duration_s)
        self._voice_free_at[-1] = max(self._voice_free_at[-1],
                                      begin + speech.duration_s + VOICE_GAP_S)  # fmt: skip
        prev = self._placed[-2] if len(self._placed) > 1 else None
        around = [lay for lay in (prev, layout) if lay is not None]
        duck = duck_depth_db(around, begin, begin + speech.duration_s, self.settings)
        return _link(speech, begin, post, duck)

    def unplace(self) -> None:
        """Forget the last placed track (not yet heard), so another can take its place."""
        if self._placed:
            self._placed.pop()
            self._voice_free_at.pop()
            self.count -= 1

    def cut(self, end_s: float) -> TimelineTrack | None:
        """End the last placed track at mix time ``end_s`` (a skip); return it as it stands.

        The next track placed starts its handover's overlap before ``end_s``;
        ``None`` when nothing is placed or ``end_s`` is not inside the track.
        """
        if not self._placed:
            return None
        layout = self._placed[-1]
        if not layout.start_s < end_s < layout.end_s:
            return None
        layout.cut(end_s)
        return _timeline_track(layout, None, self.settings)

    def closing(self, speech: Speech) -> TimelineLink:
        """Place a closing link over the last track's outro."""
        last = self._placed[-1]
        a = last.track.analysis
        outro = mix_time(last.segments, min(max(a.outro_start_s, last.src_in), last.src_out))
        begin = max(self._voice_free_at[-1],
                    min(outro, last.end_s - FINAL_FADE_S - speech.duration_s))  # fmt: skip
        self._voice_free_at[-1] = begin + speech.duration_s + VOICE_GAP_S
        duck = duck_depth_db([last], begin, begin + speech.duration_s, self.settings)
        return _link(speech, begin, last.end_s, duck)


def decide_handovers(plan: Plan, settings: Settings, *, listen: bool | None = None
                     ) -> list[Handover]:  # fmt: skip
    """The handover into every track of ``plan``, in order (see :func:`decide_handover`)."""
    return [
        decide_handover(plan.tracks[i - 1] if i else None, track, settings, listen=listen)
        for i, track in enumerate(plan.tracks)
    ]


def build_timeline(
    plan: Plan, speeches: Sequence[Speech], settings: Settings, *,
    handovers: Sequence[Handover] | None = None, ceiling_dbfs: float | None = None,
) -> Timeline:  # fmt: skip
    """Place every track and link of ``plan`` on the mix clock (pure: no I/O).

    ``handovers`` are the decided transitions into each track (default: decided
    here from the grids alone, without listening; see :func:`decide_handovers`).
    ``ceiling_dbfs`` is the output limiter's ceiling (default: the settings'; a
    file sink lowers it for codec headroom), which decides how much make-up gain
    each track needs, see :func:`~segue.mixing.gain.track_gain_db`.
    """
    if handovers is None:
        handovers = decide_handovers(plan, settings, listen=False)
    layout = Layout(settings, ceiling_dbfs=ceiling_dbfs)
    by_track = {s.link.before_track: s for s in speeches}
    tracks: list[TimelineTrack] = []
    links: list[TimelineLink] = []
    placed: list[Speech] = []
    for i, (track, handover) in enumerate(zip(plan.tracks, handovers, strict=True)):
        speech = by_track.pop(i, None)
        before, _, link = layout.place(track, handover, speech)
        if before is not None:
            tracks.append(before)
        if link is not None and speech is not None:
            links.append(link)
            placed.append(speech)
    last = layout.last()
    if last is not None:
        tracks.append(last)
    for speech in by_track.values():  # a closing link: over the last track's outro
        links.append(layout.closing(speech))
        placed.append(speech)
    duration = max([t.end_s for t in tracks] + [lk.end_s + settings.duck_up_s for lk in links])
    return Timeline(
        duration_s=round(duration, 3),
        target_lufs=settings.target_lufs,
        sr=settings.sample_rate,
        tracks=tuple(tracks),
        links=tuple(links),
        speech=tuple(placed),
    )

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
        fade_in_s=_fade_in_s(layout),
        fade_out_s=round(fade_out, 3),
        intro_end_s=round(mix_time(segs, max(a.intro_end_s, layout.src_in)), 3),
        outro_start_s=round(mix_time(segs, outro), 3),
        bpm=a.bpm,
        camelot=a.camelot,
        energy=a.energy,
        crossfade_s=round(cue.overlap_s, 3) if cue and not layout.wait_s else 0.0,
        transition=cue.kind if cue else "start",
        transition_reason=_reason(layout),
        stretch=cue.stretch if cue else 1.0,
        bed_s=round(layout.bed_s, 3),
        segments=segs,
    )


def _fade_in_s(layout: _Layout) -> float:
    """The track's fade-in: its cue's overlap, or a short one when it starts cold."""
    if layout.wait_s > 0:
        return COLD_FADE_IN_S
    return round(layout.cue.overlap_s, 3) if layout.cue else 0.0


def _reason(layout: _Layout) -> str:
    """Why the track starts as it does, in one line."""
    said = layout.cue.reason if layout.cue else "first track"
    if layout.wait_s > 0:
        said += f"; it starts after its link, {layout.wait_s:.1f} s later, as no bed fit"
    return said
