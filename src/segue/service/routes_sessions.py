"""Routes of personal sessions: open, inspect, stream, follow, react, close.

Request bodies are validated by the models below (unknown fields refused); a
listener profile sent inline can never name a file (no feedback path), and
tracks are named by library id only.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from segue.errors import InputError
from segue.listener import listener_from_dict
from segue.models import Listener
from segue.service.deps import SessionDep, StationDep, require_token
from segue.service.icy import wants_icy
from segue.service.sessions import SessionLimitError
from segue.service.shows import ShowSpec
from segue.service.station import Station
from segue.service.streaming import (
    AudioStream,
    EventStream,
    UnknownFormatError,
    audio_answer,
    parse_event_id,
)
from segue.service.views import jsonable, now_playing_json, played_json, upcoming_json
from segue.show.model import Reaction
from segue.text import one_line

router = APIRouter(prefix="/api/sessions", dependencies=[Depends(require_token)])
#: Shows are built and reacted to in worker threads of their own (never the loop's).
SHOW_WORK = anyio.CapacityLimiter(2)

Talk = Literal["off", "brief", "normal", "chatty"]


class Likes(BaseModel):
    """What the listener likes."""

    model_config = ConfigDict(extra="forbid")
    artists: list[str] = Field(default_factory=list, max_length=50)
    genres: list[str] = Field(default_factory=list, max_length=50)


class ListenerIn(BaseModel):
    """An inline listener profile (the fields of a profile's TOML, no file names).

    Its values are checked as a profile file's are (:func:`inline_listener`); the
    length caps here only keep a body small.
    """

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    language: str = Field("en", max_length=40)
    talk: Talk = "normal"
    likes: Likes = Field(default_factory=Likes)
    recent: list[str] = Field(default_factory=list, max_length=20)


class SessionIn(BaseModel):
    """What a personal session plays and for whom; every field optional."""

    model_config = ConfigDict(extra="forbid")
    listener: ListenerIn | str | None = Field(
        None, description="An inline profile, or the id of a stored listener.")
    tracks: list[str] | None = Field(None, max_length=5000,
                                     description="Library ids of the tracks to play.")
    arc: str | None = Field(None, max_length=20)
    talk: Talk | None = None
    narrator: str | None = Field(None, max_length=20)
    voice: str | None = Field(None, max_length=20)
    personal: bool = Field(True, description="false: no profile, no learned weights.")


class ReactionIn(BaseModel):
    """A reaction: skip, like, dislike, more_talk, less_talk, or request with its text."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["skip", "like", "dislike", "more_talk", "less_talk", "request"]
    text: str = Field("", max_length=300)


def spec_of(body: SessionIn, station: Station, warnings: list[str]) -> ShowSpec:
    """Validate ``body`` against the library and the registries into a :class:`ShowSpec`.

    What an inline profile asks that cannot be honoured (an unknown language) is
    appended to ``warnings``, and the show goes on without it, as for a profile file.
    """
    from segue.narration import NARRATORS
    from segue.sequencing.arcs import ARCS
    from segue.voice.engines import ENGINES

    listener = _listener_of(body, station, warnings)
    if body.talk is not None:
        listener = dataclasses.replace(listener, talk_level=body.talk)
    if body.arc is not None and body.arc not in ARCS:
        raise HTTPException(422, f"unknown arc {body.arc!r}; choose one of {', '.join(ARCS)}")
    if body.narrator is not None and body.narrator not in NARRATORS:
        raise HTTPException(422, f"unknown narrator {body.narrator!r}; choose one of "
                                 f"{', '.join(NARRATORS)}")
    if body.voice is not None and body.voice not in ENGINES:
        raise HTTPException(422, f"unknown voice {body.voice!r}; choose one of "
                                 f"{', '.join(ENGINES)}")
    tracks = None
    if body.tracks is not None:
        unknown = [t for t in body.tracks if station.library.get(t) is None]
        if unknown:
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            raise HTTPException(422, f"no playable track with id {unknown[0]!r}{more}")
        if not body.tracks:
            raise HTTPException(422, "tracks: give at least one library id, or leave it out")
        tracks = tuple(dict.fromkeys(body.tracks))
    return ShowSpec(listener=listener, track_ids=tracks, arc=body.arc, narrator=body.narrator,
                    voice=body.voice)  # fmt: skip


def _listener_of(body: SessionIn, station: Station, warnings: list[str]) -> Listener:
    if not body.personal:
        return Listener(personalise=False)
    if body.listener is None:
        return station.listener
    if isinstance(body.listener, str):
        found = station.config.listeners.get(body.listener)
        if found is None:
            known = ", ".join(station.config.listeners) or "none"
            raise HTTPException(404, f"no stored listener {body.listener!r} (known: {known})")
        return found
    return inline_listener(body.listener, warnings)


def inline_listener(profile: ListenerIn, warnings: list[str]) -> Listener:
    """The listener of an inline profile, checked as a profile file is.

    The name is said on one line and at most ``MAX_NAME_CHARS`` long, the language is
    one segue speaks (else English, with a warning, so it is never sent into a prompt);
    a refused value is a 422 naming the key.
    """
    data = profile.model_dump(exclude_unset=True)
    try:
        return listener_from_dict(data, source="listener", problems=warnings)
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc


def urls(session_id: str) -> dict[str, str]:
    """Where a session's stream and events are."""
    base = f"/api/sessions/{session_id}"
    return {"stream_url": f"{base}/stream.mp3", "events_url": f"{base}/events"}


@router.post("", status_code=201)
async def create_session(body: SessionIn, station: StationDep) -> dict[str, Any]:
    """Open a personal session: a show of its own (``id``, ``stream_url``, ``events_url``).

    ``warnings`` lists what of the request was not honoured (an unknown language).
    """
    warnings: list[str] = []
    spec = spec_of(body, station, warnings)
    try:
        session = await anyio.to_thread.run_sync(station.sessions.create, spec,
                                                 limiter=SHOW_WORK)  # fmt: skip
    except SessionLimitError as exc:
        raise HTTPException(429, str(exc)) from exc
    def first_upcoming() -> list[Any]:
        session.channel.wait_started(1.0)  # the show plans as it starts
        return session.channel.show.upcoming()

    upcoming = await anyio.to_thread.run_sync(first_upcoming, limiter=SHOW_WORK)
    return {"id": session.id, **urls(session.id), "upcoming": upcoming_json(upcoming),
            "warnings": warnings}


def session_json(session: Any) -> dict[str, Any]:
    """A session now: now playing, history and upcoming with reasons, listeners."""
    show = session.channel.show
    air = session.channel.air_s
    history = [played_json(p) for p in show.history(limit=50) if p.start_s <= air + 1e-3]
    return {"id": session.id, **urls(session.id), **now_playing_json(session.channel),
            "history": history, "upcoming": upcoming_json(show.upcoming()),
            "idle_s": round(session.channel.idle_for_s(), 1),
            "late_s": session.channel.stats().late_s}  # fmt: skip


@router.get("/{session_id}")
async def get_session(session: SessionDep) -> dict[str, Any]:
    """What plays, what played (with reasons) and what comes next (with reasons)."""
    body: dict[str, Any] = await anyio.to_thread.run_sync(session_json, session,
                                                          limiter=SHOW_WORK)  # fmt: skip
    return body


@router.delete("/{session_id}")
async def delete_session(session: SessionDep, station: StationDep) -> dict[str, Any]:
    """Close the session and free its show."""
    await anyio.to_thread.run_sync(station.sessions.close, session.id)
    return {"id": session.id, "closed": True}


@router.api_route("/{session_id}/stream", methods=["GET", "HEAD"], response_class=AudioStream)
@router.api_route("/{session_id}/stream.{fmt}", methods=["GET", "HEAD"],
                  response_class=AudioStream)  # fmt: skip
def session_stream(session: SessionDep, station: StationDep, fmt: str = "mp3",
                   icy_metadata: str | None = Header(None)) -> AudioStream:  # fmt: skip
    """The session's show as a stream (ICY titles with ``Icy-MetaData: 1``)."""
    try:
        return audio_answer(session.channel, fmt, icy_requested=wants_icy(icy_metadata),
                            name=f"{station.config.name}: your show",
                            description=station.config.description,
                            stall_s=station.config.stall_s)  # fmt: skip
    except UnknownFormatError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/{session_id}/events", response_class=EventStream)
def session_events(session: SessionDep, station: StationDep,
                   last_event_id: str | None = Header(None)) -> EventStream:  # fmt: skip
    """Server-sent events of the session, each as it is heard."""
    return EventStream(session.channel, lambda: session_json(session),
                       last_event_id=parse_event_id(last_event_id),
                       stall_s=station.config.stall_s)  # fmt: skip


@router.post("/{session_id}/reactions")
async def react(body: ReactionIn, session: SessionDep) -> dict[str, Any]:
    """Skip, like, dislike, more or less talk, or a request in words; the new upcoming."""
    text = one_line(body.text)  # control characters and line breaks are no words
    if body.type == "request" and not text:
        raise HTTPException(422, "a request needs its words in 'text'")
    if not session.reactions.take():
        raise HTTPException(429, "too many reactions; wait a few seconds")
    reaction = Reaction(body.type, text=text)
    result = await anyio.to_thread.run_sync(session.channel.show.react, reaction,
                                            limiter=SHOW_WORK)  # fmt: skip
    return {"accepted": result.accepted, "message": result.message,
            "upcoming": upcoming_json(list(result.upcoming)),
            "constraints": jsonable(result.constraints)}  # fmt: skip
