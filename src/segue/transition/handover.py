"""One decision per transition: the cue, the post and the talk window, made once.

:func:`decide_handover` is the single place where the transition into a track
is decided (its kind and overlap, refined by ear when asked) and where the talk
window before that track's post is measured from that same decision. The script
stage reads :attr:`Handover.window_s` for its word budget, and the layout places
the track and its link from the same values, so a link's budget is the time it
really gets.
"""

from __future__ import annotations

from dataclasses import dataclass

from segue.config import Settings
from segue.models import Track
from segue.transition.cues import (
    TransitionCue,
    intro_window_s,
    plan_transition,
    play_range_s,
    post_s,
)
from segue.transition.listener_process import listen as listen_in_worker

#: Most a talk-up may begin before its track starts, over the previous outro.
MAX_LEAD_IN_S = 6.0


@dataclass(frozen=True)
class Handover:
    """How the set arrives at one track, and how long a link before it may last.

    Attributes
    ----------
    cue : the transition from the previous track (``None`` for the first track).
    post_source_s : source time in the incoming track by which a talk-up ends.
    lead_in_s : seconds before the incoming track starts that a talk-up may begin,
        over the previous track's outro (0 for the first track).
    window_s : the whole talk-over window: ``lead_in_s`` plus the intro up to the post.
    listened : whether the cue was refined by ear.
    """

    cue: TransitionCue | None
    post_source_s: float
    lead_in_s: float
    window_s: float
    listened: bool = False


def lead_in_s(prev: Track, cue: TransitionCue, *, max_lead_s: float = MAX_LEAD_IN_S) -> float:
    """How long before the incoming track starts a talk-up may begin over ``prev``'s outro.

    Only the part of the outro before the overlap counts, at most ``max_lead_s``.
    """
    _, p_end = play_range_s(prev)
    before_overlap = p_end - cue.overlap_s - prev.analysis.outro_start_s
    return max(0.0, min(max_lead_s, before_overlap))


def decide_handover(
    prev: Track | None, nxt: Track, settings: Settings, *, listen: bool | None = None
) -> Handover:
    """Decide the transition from ``prev`` into ``nxt`` and the talk window before ``nxt``.

    ``listen`` (default: ``settings.align_by_ear``) refines a beatmatch by ear,
    which decodes a few seconds of both files (in the ear's worker process, see
    :mod:`segue.transition.listener_process`); without it the decision is pure.
    """
    post = post_s(nxt, settings)
    if prev is None:
        return Handover(cue=None, post_source_s=post, lead_in_s=0.0,
                        window_s=round(intro_window_s(nxt, settings), 2))  # fmt: skip
    cue = plan_transition(prev, nxt, settings)
    listened = settings.align_by_ear if listen is None else listen
    if listened and cue.kind == "beatmatch":
        cue = listen_in_worker(prev, nxt, cue)
    lead = lead_in_s(prev, cue)
    window = round(lead + intro_window_s(nxt, settings), 2)
    return Handover(cue=cue, post_source_s=post, lead_in_s=lead, window_s=window,
                    listened=listened)  # fmt: skip
