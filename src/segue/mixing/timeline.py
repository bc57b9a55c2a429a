"""Laying a plan and its speech out on the mix clock.

Rules, in order:

1. Each track plays from its first to its last sound; the next one starts
   :func:`~segue.mixing.cues.crossfade_s` before the previous one ends, so there is
   never silence between tracks.
2. A link ends at its track's post (intro end − margin) when it fits the
   window; when it is longer, it starts earlier, over the previous track's outro
   (at most :func:`~segue.mixing.cues.lead_in_s` before the new track), and only
   then runs past the post.
3. Two voices never overlap: a link starts at least 0.5 s after the previous one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from segue.config import Settings
from segue.mixing.cues import crossfade_s, intro_window_s, lead_in_s, play_range_s
from segue.models import Plan, Speech, Timeline, TimelineLink, TimelineTrack

log = logging.getLogger(__name__)

#: Fade at the very end of the set, and the breath before the opening line.
FINAL_FADE_S = 2.0
OPENING_DELAY_S = 0.3
VOICE_GAP_S = 0.5


def build_timeline(plan: Plan, speeches: Sequence[Speech], settings: Settings) -> Timeline:
    """Place every track and link of ``plan`` on the mix clock."""
    starts: list[float] = []
    fades_in: list[float] = []
    fades_out: list[float] = []
    prev_end = 0.0
    for i, track in enumerate(plan.tracks):
        src_in, src_out = play_range_s(track)
        if i == 0:
            start, fade_in = 0.0, 0.0
        else:
            xf = crossfade_s(plan.tracks[i - 1], track, settings)
            start, fade_in = prev_end - xf, xf
            fades_out[-1] = xf
        starts.append(start)
        fades_in.append(fade_in)
        fades_out.append(min(FINAL_FADE_S, (src_out - src_in) / 4))
        prev_end = start + (src_out - src_in)

    tracks: list[TimelineTrack] = []
    for i, track in enumerate(plan.tracks):
        src_in, src_out = play_range_s(track)
        a = track.analysis
        tracks.append(
            TimelineTrack(
                path=track.path,
                title=track.tags.title,
                artist=track.tags.artist,
                start_s=round(starts[i], 3),
                end_s=round(starts[i] + src_out - src_in, 3),
                source_in_s=round(src_in, 3),
                source_out_s=round(src_out, 3),
                gain_db=round(settings.target_lufs - a.lufs, 2),
                fade_in_s=round(fades_in[i], 3),
                fade_out_s=round(fades_out[i], 3),
                intro_end_s=round(starts[i] + max(0.0, a.intro_end_s - src_in), 3),
                outro_start_s=round(starts[i] + max(0.0, a.outro_start_s - src_in), 3),
                bpm=a.bpm,
                camelot=a.camelot,
                energy=a.energy,
            )
        )

    links: list[TimelineLink] = []
    placed: list[Speech] = []
    voice_free_at = 0.0
    for speech in sorted(speeches, key=lambda s: s.link.before_track):
        i = speech.link.before_track
        track = plan.tracks[i]
        post = starts[i] + intro_window_s(track, settings)
        if i == 0:
            earliest = OPENING_DELAY_S
        else:
            earliest = starts[i] - lead_in_s(plan.tracks[i - 1], track, settings)
        earliest = max(earliest, voice_free_at)
        begin = max(earliest, post - speech.duration_s)
        end = begin + speech.duration_s
        if end > post + 0.05:
            log.info("link before track %d runs %.1f s past the post", i + 1, end - post)
        voice_free_at = end + VOICE_GAP_S
        placed.append(speech)
        links.append(
            TimelineLink(
                text=speech.link.text,
                start_s=round(begin, 3),
                end_s=round(end, 3),
                before_track=i,
                backend=speech.link.backend,
                template=speech.link.template,
                duck_db=settings.duck_db,
                voice=speech.voice,
                fallback=speech.link.fallback_reason,
            )
        )
    duration = max([t.end_s for t in tracks] + [lk.end_s + settings.duck_up_s for lk in links])
    return Timeline(
        duration_s=round(duration, 3),
        target_lufs=settings.target_lufs,
        sr=settings.sample_rate,
        tracks=tuple(tracks),
        links=tuple(links),
        speech=tuple(placed),
    )
