"""Dependencies the routes receive, as ``Annotated`` aliases.

Routes and the app never import each other; both import these.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from segue.service.security import bearer, token_matches
from segue.service.sessions import Session
from segue.service.station import Station


def get_station(request: Request) -> Station:
    """The application's station."""
    station: Station = request.app.state.station
    return station


StationDep = Annotated[Station, Depends(get_station)]


def authorized(request: Request) -> bool:
    """Whether the request carries the station's token (``True`` when none is set)."""
    token = get_station(request).config.token
    if not token:
        return True
    given = bearer(request.headers.get("authorization")) or request.query_params.get("token")
    return token_matches(token, given)


def require_token(request: Request) -> None:
    """Refuse (401) a request without the station's token, when one is set."""
    if not authorized(request):
        raise HTTPException(401, "a token is required: Authorization: Bearer TOKEN or ?token=",
                            headers={"WWW-Authenticate": "Bearer"})


AuthorizedDep = Annotated[bool, Depends(authorized)]


def get_session(request: Request, session_id: str) -> Session:
    """The open session named in the path (404 when there is none)."""
    session = get_station(request).sessions.get(session_id)
    if session is None:
        raise HTTPException(404, "no such session (closed, or never opened)")
    return session


SessionDep = Annotated[Session, Depends(get_session)]
