"""The FastAPI application of ``segue serve``: one station, its routes, one-line JSON errors.

Every error answer is ``{"error": "one line"}`` with a 4xx status (a bug still
gets a one-line 500, logged, never a traceback to the client). Trailing-slash
redirects are off: no answer is ever built from the request's ``Host``.
OpenAPI is at ``/docs``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from segue import __version__
from segue.service.security import BodyLimitMiddleware
from segue.service.station import Station

log = logging.getLogger(__name__)


def create_app(station: Station, *, bound_url: str = "http://127.0.0.1:8000") -> FastAPI:
    """The application serving ``station`` (started and closed with the app's lifespan).

    ``bound_url`` is where the server listens, for playlists when the request's
    host cannot be used.
    """
    from segue.service.routes_sessions import router as sessions
    from segue.service.routes_station import public, router

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        station.start()
        try:
            yield
        finally:
            station.close()

    app = FastAPI(title="segue", version=__version__, lifespan=lifespan,
                  description="An AI DJ station: broadcast streams, personal sessions, "
                              "now playing and events.")  # fmt: skip
    app.router.redirect_slashes = False
    app.state.station = station
    app.state.bound_url = bound_url
    app.add_middleware(BodyLimitMiddleware)
    app.include_router(public)
    app.include_router(router)
    app.include_router(sessions)
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _bug)
    return app


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return JSONResponse({"error": " ".join(detail.split())}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))  # fmt: skip


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    message = first.get("msg", "invalid request")
    more = len(exc.errors()) - 1
    tail = f" (and {more} more)" if more > 0 else ""
    return JSONResponse({"error": f"{where}: {message}{tail}"}, status_code=422)


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    return JSONResponse({"error": "internal error; see the server log"}, status_code=500)
