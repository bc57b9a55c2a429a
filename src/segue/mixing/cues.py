"""Where transitions and talk-overs go, decided from two tracks' cue points.

Both the script stage (to know how many words fit) and the timeline use these
functions, so the words written and the time given to them always agree.
"""

from __future__ import annotations

from segue.config import Settings
from segue.models import Track

#: Spoken words per second of a relaxed radio voice.
WORDS_PER_SECOND = 2.5


def play_range_s(track: Track) -> tuple[float, float]:
    """The part of the file that is played: from its first to its last sound."""
    a = track.analysis
    start = max(0.0, a.first_sound_s - 0.02)
    end = min(a.duration_s, a.last_sound_s + 0.05)
    if end - start < 1.0:  # degenerate cues: play the whole file
        return 0.0, a.duration_s
    return start, end


def crossfade_s(prev: Track, nxt: Track, settings: Settings) -> float:
    """Overlap between ``prev``'s outro and ``nxt``'s intro, in seconds.

    As long as ``prev``'s outro (from its outro start to its last sound), within
    the settings' bounds, and never more than a quarter of either track.
    """
    p_start, p_end = play_range_s(prev)
    n_start, n_end = play_range_s(nxt)
    outro = p_end - max(prev.analysis.outro_start_s, p_start)
    length = min(max(outro, settings.min_crossfade_s), settings.max_crossfade_s)
    return max(0.5, min(length, (p_end - p_start) / 4.0, (n_end - n_start) / 4.0))


def intro_window_s(track: Track, settings: Settings) -> float:
    """Seconds from the start of ``track``'s playback to its post (intro end − margin)."""
    start, _ = play_range_s(track)
    return max(0.0, track.analysis.intro_end_s - start - settings.post_margin_s)


def lead_in_s(prev: Track, nxt: Track, settings: Settings, *, max_lead_s: float = 4.0) -> float:
    """How long before ``nxt`` starts a talk-up may begin over ``prev``'s outro.

    Only the part of the outro before the crossfade counts, at most ``max_lead_s``.
    """
    _, p_end = play_range_s(prev)
    before_xfade = p_end - crossfade_s(prev, nxt, settings) - prev.analysis.outro_start_s
    return max(0.0, min(max_lead_s, before_xfade))


def talk_window_s(prev: Track | None, nxt: Track, settings: Settings) -> float:
    """Seconds available for a talk-up that ends at ``nxt``'s post.

    The intro of ``nxt`` up to its post, plus the lead-in over ``prev``'s outro.
    """
    lead = lead_in_s(prev, nxt, settings) if prev is not None else 0.0
    return round(lead + intro_window_s(nxt, settings), 2)
