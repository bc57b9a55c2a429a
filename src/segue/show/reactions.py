"""What a listener's reaction does to a running show, in one place.

- ``skip``: the playing track leaves at its next beat (within a second of audio),
  fading into the next one; recorded as feedback against the transition into it.
- ``like``: recorded as feedback for that transition.
- ``dislike``: the track leaves now and never comes back in this show; two
  dislikes of one artist keep the artist out; recorded as a skip.
- ``more_talk`` / ``less_talk``: the talk level moves one step (off … chatty).
- ``request``: words read into constraints (:mod:`segue.show.requests`).

Every change re-plans from the track playing now and the answer carries the new
upcoming order. Feedback goes to the listener's feedback file (when the profile has
one and personalisation is on), and the plan's weights are refitted from it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from segue.errors import SegueError
from segue.models import TALK_LEVELS, Track
from segue.sequencing.plan import weights_from_settings
from segue.sequencing.preference import append_feedback, feedback_event, personal_weights
from segue.sequencing.rolling import _norm
from segue.show.model import Reaction, ReactionResult
from segue.show.requests import Catalogue, Interpretation, interpret, interpret_commands

if TYPE_CHECKING:
    from segue.show.engine import Show

log = logging.getLogger(__name__)

#: Dislikes of one artist that keep the artist out of the show.
ARTIST_DISLIKES = 2


def apply_reaction(show: Show, reaction: Reaction) -> ReactionResult:
    """Apply ``reaction`` to ``show`` (its lock held by the caller); say what it did."""
    handlers: dict[str, Callable[[Show, Reaction], ReactionResult]] = {
        "skip": _skip, "like": _like, "dislike": _dislike, "request": _request,
        "more_talk": _more_talk, "less_talk": _less_talk,
    }  # fmt: skip
    handler = handlers.get(reaction.type)
    if handler is None:
        return ReactionResult(False, f"unknown reaction {reaction.type!r}; one of "
                              f"{', '.join(handlers)}")  # fmt: skip
    return handler(show, reaction)


def _playing(show: Show) -> tuple[Track, Track | None, float] | None:
    """The track playing now, the one before it and how long it has played."""
    placed = [p for p in show._placed if p.placed.start_s <= show.renderer.position / show.sr]
    if not placed:
        return None
    now = placed[-1]
    prev = placed[-2].step.track if len(placed) > 1 else None
    return now.step.track, prev, show.renderer.position / show.sr - now.placed.start_s


def _feedback(show: Show, outcome: str) -> None:
    """Record feedback on the transition into the playing track, and refit the weights."""
    listener = show.listener
    playing = _playing(show)
    if playing is None or playing[1] is None or not listener.feedback_path:
        return
    now, prev, listened = playing
    assert prev is not None
    try:
        event = feedback_event(prev, now, outcome, listened_s=round(listened, 1))  # type: ignore[arg-type]
        append_feedback(listener.feedback_path, [event])
    except (OSError, SegueError) as exc:  # feedback is a nicety; the show goes on
        log.warning("%s: feedback not recorded (%s)", listener.feedback_path, exc)
        return
    if listener.personalise:
        show.weights = personal_weights(listener, weights_from_settings(show.settings))


def _next_title(show: Show) -> str:
    up = show.upcoming()
    return f"; next: {up[0].song.title} by {up[0].song.artist}" if up else ""


def _result(show: Show, accepted: bool, message: str, **constraints: object) -> ReactionResult:
    return ReactionResult(accepted, message, tuple(show.upcoming()), dict(constraints))


def _skip(show: Show, reaction: Reaction) -> ReactionResult:
    playing = _playing(show)
    if playing is None:
        return _result(show, False, "nothing is playing yet")
    _feedback(show, "skip")
    show.request_skip("skipped")
    return _result(show, True, f"skipping {playing[0].tags.title}{_next_title(show)}")


def _like(show: Show, reaction: Reaction) -> ReactionResult:
    playing = _playing(show)
    if playing is None:
        return _result(show, False, "nothing is playing yet")
    _feedback(show, "like")
    track = playing[0]
    return _result(show, True, f"noted: you like {track.tags.title} by {track.tags.artist}")


def _dislike(show: Show, reaction: Reaction) -> ReactionResult:
    playing = _playing(show)
    if playing is None:
        return _result(show, False, "nothing is playing yet")
    track = playing[0]
    _feedback(show, "skip")
    from segue.library import track_id

    c = show.constraints
    banned = c.banned_ids | {track_id(track.path)}
    artist = _norm(track.tags.artist)
    disliked = Counter(_norm(t.tags.artist) for i in banned
                       if (t := show.library.get(i)) is not None)  # fmt: skip
    artists = c.banned_artists | ({artist} if disliked[artist] >= ARTIST_DISLIKES else set())
    show.constraints = dataclasses.replace(c, banned_ids=banned, banned_artists=artists,
                                           next_ids=())  # fmt: skip
    show.request_skip("disliked")
    show._replan()
    extra = f"; no more {track.tags.artist} in this show" if artist in artists else ""
    return _result(show, True, f"skipping {track.tags.title}; it will not come back{extra}"
                   f"{_next_title(show)}", **show.constraints.as_dict())


def _more_talk(show: Show, reaction: Reaction) -> ReactionResult:
    return _talk(show, +1)


def _less_talk(show: Show, reaction: Reaction) -> ReactionResult:
    return _talk(show, -1)


def _talk(show: Show, step: int) -> ReactionResult:
    levels = list(TALK_LEVELS)
    new = levels[max(0, min(len(levels) - 1, levels.index(show.talk_level) + step))]
    if new == show.talk_level:
        return _result(show, False, f"talk is already {new}")
    show.talk_level = new
    show.script.set_talk_level(new)
    said = "no more talk between tracks" if new == "off" else f"talk level {new}"
    return _result(show, True, f"{said} from the next link on", talk_level=new)


def _read(show: Show, reaction: Reaction) -> Interpretation:
    """The rules' reading of the request; an LLM's commands when the rules fail."""
    pool = show.pool()
    catalogue = Catalogue.of(pool)
    reading = interpret(reaction.text, pool, show.constraints, show.talk_level,
                        catalogue=catalogue)
    if reading.understood or not reaction.commands:
        return reading
    llm = interpret_commands(reaction.commands, pool, show.constraints, show.talk_level,
                             catalogue=catalogue)
    heard = "; ".join(repr(c) for c in reaction.commands)
    if not llm.understood:
        return dataclasses.replace(reading, message=f"{reading.message} (read by the LLM as "
                                                    f"{heard}: {llm.message})")  # fmt: skip
    return dataclasses.replace(llm, message=f"{llm.message} (read by the LLM as {heard})")


def _request(show: Show, reaction: Reaction) -> ReactionResult:
    reading = _read(show, reaction)
    if not reading.understood:
        return _result(show, False, reading.message)
    show.constraints = reading.constraints
    if reading.talk_level is not None and reading.talk_level != show.talk_level:
        show.talk_level = reading.talk_level
        show.script.set_talk_level(reading.talk_level)
    show._replan()
    message = reading.message
    if reading.chosen_ids and show.upcoming() and show.upcoming()[0].song.id not in \
            reading.chosen_ids:  # fmt: skip
        message += " (after the next one: it is already mixing in)"
    # A pin is for the next track only; boosts and bans stay for the show.
    show.constraints = dataclasses.replace(show.constraints, next_ids=())
    return _result(show, True, message, **reading.constraints.as_dict(),
                   **({"talk_level": reading.talk_level} if reading.talk_level else {}))
