"""Running ``segue serve``'s application for tests: a real server on 127.0.0.1 in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI

from segue.library import Library
from segue.models import Listener
from segue.service import create_app
from segue.service.server import ServerLimits, bind, make_server
from segue.service.shows import ShowSpec
from segue.service.station import Station, StationConfig
from show_double import ToneShow


@contextmanager
def serving(app: FastAPI, limits: ServerLimits | None = None) -> Iterator[str]:
    """Run ``app`` on a free port of 127.0.0.1; yield its base URL."""
    sock = bind("127.0.0.1", 0)
    server = make_server(app, limits or ServerLimits())
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


def tone_factory(freqs: list[float], *, duration_s: float = 6.0,
                 made: list[Any] | None = None) -> Callable[[ShowSpec], ToneShow]:
    """A show factory of tone shows (each show's first track at ``freqs[0]``)."""

    def make(spec: ShowSpec) -> ToneShow:
        show = ToneShow(freqs, duration_s=duration_s)
        if made is not None:
            made.append((spec, show))
        return show

    return make


def tone_station(freqs: list[float] | None = None, *, duration_s: float = 6.0,
                 made: list[Any] | None = None, **config: Any) -> Station:
    """A station whose shows are tone shows."""
    return Station(Library(), tone_factory(freqs or [440.0, 660.0, 880.0], duration_s=duration_s,
                                           made=made),
                   StationConfig(**config), listener=Listener(), wait_for_tracks=False)


@contextmanager
def tone_service(**kwargs: Any) -> Iterator[tuple[str, Station]]:
    """A running tone station: its base URL and the station."""
    limits = kwargs.pop("limits", None)
    station = tone_station(**kwargs)
    app = create_app(station)
    with serving(app, limits) as url:
        deadline = time.monotonic() + 10
        while station.broadcast is None and time.monotonic() < deadline:
            time.sleep(0.02)
        yield url, station


@contextmanager
def engine_service(tracks: list[Any], *, listener: Listener | None = None,
                   settings: Any = None, **config: Any) -> Iterator[tuple[str, Station]]:
    """A running station on the real show engine over ``tracks`` (known analyses)."""
    from segue.config import Settings
    from segue.service.shows import SharedParts, engine_factory

    settings = settings or Settings(align_by_ear=False)
    library = Library.of(tracks)
    parts = SharedParts(settings)
    station = Station(library, engine_factory(library, settings, parts), StationConfig(**config),
                      listener=listener or Listener(talk_level="brief"), on_close=parts.close)
    with serving(create_app(station)) as url:
        yield url, station
