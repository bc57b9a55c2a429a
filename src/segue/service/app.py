"""The FastAPI application: one :class:`Station`, its dependencies and the routes.

Routes only delegate: they receive the station and the settings through the
``Annotated`` aliases below and call into :mod:`segue.service.station`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from segue import __version__
from segue.config import Settings
from segue.models import Listener
from segue.narration.narrator import Narrator
from segue.service.station import Station
from segue.voice.speech import SpeechEngine

#: Folder of the web player.
STATIC_DIR = Path(__file__).parent / "static"


def get_station(request: Request) -> Station:
    """The application's station (dependency)."""
    station: Station = request.app.state.station
    return station


def get_settings(request: Request) -> Settings:
    """The settings the application was created with, read once (dependency)."""
    settings: Settings = request.app.state.settings
    return settings


StationDep = Annotated[Station, Depends(get_station)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def create_app(
    paths: Sequence[str | Path],
    *,
    listener: Listener,
    settings: Settings,
    narrator: Narrator | None = None,
    engine: SpeechEngine | None = None,
    ready_timeout_s: float = 60.0,
    lead_s: float = 2.5,
) -> FastAPI:
    """The ``segue serve`` application for the set made of ``paths``.

    The set is prepared in a background thread once the application starts
    (its lifespan); ``/`` and ``/healthz`` answer at once, a stream waits up to
    ``ready_timeout_s`` seconds for the set. ``narrator`` and ``engine`` default
    to the ones ``settings`` name; ``lead_s`` is how far rendering may run ahead
    of real time.
    """
    from segue.service.routes import router

    station = Station(paths, listener=listener, settings=settings, narrator=narrator,
                      engine=engine, lead_s=lead_s, ready_timeout_s=ready_timeout_s)  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        station.start()
        try:
            yield
        finally:
            station.close()

    app = FastAPI(title="segue", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # fmt: skip
    app.state.station = station
    app.state.settings = settings
    app.include_router(router)
    return app
