"""The HTTP routes: each delegates to the station and maps its errors to HTTP answers."""

from __future__ import annotations

from typing import Any, Literal

import anyio
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, StreamingResponse

from segue.service.app import STATIC_DIR, StationDep
from segue.service.station import NotReadyError, encoded_stream, media_type

router = APIRouter()


@router.get("/", include_in_schema=False)
def player() -> FileResponse:
    """The web player: an ``<audio>`` element on the stream, now playing and transcript."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/healthz")
def healthz(station: StationDep) -> dict[str, Any]:
    """Liveness and the set's preparation state; answers at once, ready or not."""
    return station.status()


@router.get("/api/timeline")
def timeline(station: StationDep) -> dict[str, Any]:
    """The latest session's timeline (as in ``OUT.json``) plus ``position_s`` and ``session``."""
    try:
        return station.timeline()
    except NotReadyError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from exc


@router.get("/api/now")
def now(
    station: StationDep,
    t: float | None = Query(None, ge=0, description="Mix time in seconds (default: stream's)"),
) -> dict[str, Any]:
    """What plays at mix time ``t``: the track and the link being spoken, if any."""
    try:
        return station.now(t)
    except NotReadyError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from exc


@router.get("/stream.{fmt}")
async def stream(station: StationDep, fmt: Literal["mp3", "ogg"]) -> StreamingResponse:
    """The set as a continuous audio stream from its start, paced to real time.

    Waits (bounded) for the set to be ready; each request is a new session with
    the templates as they are now. No ``Content-Length``: the stream ends with the set.
    """
    try:
        await anyio.to_thread.run_sync(station.wait_ready, station.ready_timeout_s)
        session = await anyio.to_thread.run_sync(station.new_session)
    except NotReadyError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from exc
    return StreamingResponse(
        encoded_stream(station, session, fmt),
        media_type=media_type(fmt),
        headers={"Cache-Control": "no-store", "X-Segue-Session": str(session.id)},
    )
