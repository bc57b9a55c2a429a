"""Routes of the broadcast station: streams, playlists, now playing, events, health, player.

Routes only delegate: to the station, its broadcast channel and the answer
builders in :mod:`segue.service.streaming`, :mod:`segue.service.views` and
:mod:`segue.service.playlists`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse

from segue.service import playlists
from segue.service.channel import Channel
from segue.service.deps import AuthorizedDep, StationDep, require_token
from segue.service.icy import wants_icy
from segue.service.station import Station
from segue.service.streaming import (
    AudioStream,
    EventStream,
    UnknownFormatError,
    audio_answer,
    parse_event_id,
)
from segue.service.views import now_json, now_playing_json, timeline_json

STATIC_DIR = Path(__file__).parent / "static"
#: The player's files: the only files the service ever sends from disk.
STATIC_FILES = {"player.js": "text/javascript", "player.css": "text/css"}
#: Show calls run in worker threads (an engine busy re-planning never stalls the loop).
SHOW_CALLS = anyio.CapacityLimiter(4)

public = APIRouter()
router = APIRouter(dependencies=[Depends(require_token)])


def on_air(station: Station) -> Channel:
    """The broadcast channel (503 while the library has nothing playable yet)."""
    channel = station.broadcast
    if channel is None:
        health = station.health()
        raise HTTPException(503, f"the station is not on air yet ({health['state']}: "
                                 f"{health['analysed']} of {health['total']} tracks analysed)")
    return channel


async def in_thread(function: Any, *args: Any) -> Any:
    """Run a call into a show in a bounded worker thread."""
    return await anyio.to_thread.run_sync(function, *args, limiter=SHOW_CALLS)


@public.get("/", include_in_schema=False)
def player() -> FileResponse:
    """The web player."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@public.get("/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    """One of the player's files (named; no path is ever taken from the request)."""
    if name not in STATIC_FILES:
        raise HTTPException(404, f"no file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=STATIC_FILES[name])


@public.get("/healthz")
def healthz(station: StationDep, ok: AuthorizedDep) -> dict[str, Any]:
    """Liveness: ``ready`` and ``state`` for anyone; all of ``/api/health`` with the token."""
    health = station.health()
    return health if ok else {"ready": health["ready"], "state": health["state"]}


@router.get("/api/health")
def health(station: StationDep) -> dict[str, Any]:
    """``ready``, ``analysed``, ``total``, ``problems``, ``backends`` (answers at once)."""
    return station.health()


@router.api_route("/stream", methods=["GET", "HEAD"], response_class=AudioStream)
@router.api_route("/stream.{fmt}", methods=["GET", "HEAD"], response_class=AudioStream)
def stream(station: StationDep, fmt: str = "mp3",
           icy_metadata: str | None = Header(None)) -> AudioStream:  # fmt: skip
    """The broadcast, continuous: join mid-show like a radio. ``Icy-MetaData: 1`` adds titles."""
    try:
        return audio_answer(on_air(station), fmt, icy_requested=wants_icy(icy_metadata),
                            name=station.config.name, description=station.config.description,
                            stall_s=station.config.stall_s)  # fmt: skip
    except UnknownFormatError as exc:
        raise HTTPException(404, str(exc)) from exc


def _playlist_url(station: Station, request: Request) -> str:
    base = playlists.base_url(station.config.public_url, request.headers.get("host"),
                              str(request.app.state.bound_url))  # fmt: skip
    return playlists.stream_url(base, "/stream.mp3", station.config.token)


@router.get("/listen.m3u", response_class=PlainTextResponse)
def listen_m3u(station: StationDep, request: Request) -> PlainTextResponse:
    """An M3U playlist pointing at the MP3 stream."""
    body = playlists.m3u(_playlist_url(station, request), station.config.name)
    return PlainTextResponse(body, media_type="audio/x-mpegurl")


@router.get("/listen.pls", response_class=PlainTextResponse)
def listen_pls(station: StationDep, request: Request) -> PlainTextResponse:
    """A PLS playlist pointing at the MP3 stream."""
    body = playlists.pls(_playlist_url(station, request), station.config.name)
    return PlainTextResponse(body, media_type="audio/x-scpls")


def station_json(station: Station) -> dict[str, Any]:
    """The ``station`` object of ``/api/nowplaying``."""
    from segue.service.formats import FORMATS

    mounts = [{"format": f.name, "url": f"/stream.{f.name}", "bitrate": f.bitrate_kbps,
               "media_type": f.media_type} for f in FORMATS.values()]  # fmt: skip
    return {"name": station.config.name, "description": station.config.description,
            "listen_url": "/stream.mp3", "playlist_m3u_url": "/listen.m3u",
            "playlist_pls_url": "/listen.pls", "events_url": "/api/events",
            "mounts": mounts, "is_online": station.broadcast is not None}  # fmt: skip


@router.get("/api/nowplaying")
async def nowplaying(station: StationDep) -> dict[str, Any]:
    """What plays now and why, what comes next, what played, how many listen."""
    channel = on_air(station)
    body: dict[str, Any] = await in_thread(now_playing_json, channel)
    return {"station": station_json(station), **body}


@router.get("/api/events", response_class=EventStream)
def events(station: StationDep, last_event_id: str | None = Header(None)) -> EventStream:
    """Server-sent events ``track``, ``link`` (as it airs), ``upcoming``, ``reaction``."""
    channel = on_air(station)

    def snapshot() -> dict[str, Any]:
        return {"station": station_json(station), **now_playing_json(channel)}

    return EventStream(channel, snapshot, last_event_id=parse_event_id(last_event_id),
                       stall_s=station.config.stall_s)  # fmt: skip


@router.get("/api/now")
async def now(station: StationDep, t: float | None = Query(
        None, ge=0, description="Audio time in seconds (default: now)")) -> dict[str, Any]:
    """The track and the link heard at audio time ``t`` (kept from the first ``serve``)."""
    body: dict[str, Any] = await in_thread(now_json, on_air(station), t)
    return body


@router.get("/api/timeline")
async def timeline(station: StationDep) -> dict[str, Any]:
    """What the broadcast played and said so far, by library id (no file paths)."""
    body: dict[str, Any] = await in_thread(timeline_json, on_air(station))
    return body
