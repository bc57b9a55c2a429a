"""``segue serve``: a live station over HTTP (broadcast, personal sessions, web player)."""

from __future__ import annotations

import logging
import os
import resource
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from segue.cli import app, err, fail, skipped
from segue.cli.options import (
    ListenerOpt,
    LlmBaseUrlOpt,
    LlmModelOpt,
    NarratorOpt,
    PathsArg,
    VoiceOpt,
    set_up,
)
from segue.errors import SegueError

if TYPE_CHECKING:
    from segue.config import Settings
    from segue.library import Library
    from segue.models import Listener
    from segue.narration.narrator import Narrator
    from segue.service.station import StationConfig

log = logging.getLogger(__name__)


def check_address(host: str, port: int, token: str | None) -> None:
    """Refuse a port out of range, a host that does not resolve, or an open bind without token.

    Raises
    ------
    SegueError
        One line naming the culprit.
    """
    from segue.service.security import is_loopback

    if not 0 <= port <= 65535:
        raise SegueError(f"--port {port}: a TCP port is 0 to 65535")
    try:
        loopback = is_loopback(host)
    except (OSError, UnicodeError) as exc:
        raise SegueError(f"--host {host}: unknown host ({getattr(exc, 'strerror', None) or exc})"
                         ) from exc
    if not loopback and not token:
        raise SegueError(f"--host {host} is reachable from other machines: set --token or "
                         "SEGUE_API_TOKEN (every API and stream route then requires it)")


def _raise_fd_limit() -> None:
    """Allow as many open files as the system lets us (each listener holds a socket)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@app.command()
def serve(
    paths: PathsArg,
    listener: ListenerOpt = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (default: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port).")] = 8000,
    token: Annotated[
        str | None, typer.Option("--token", help="Require this token on every API and stream "
                                 "route (default: SEGUE_API_TOKEN).", show_default=False)
    ] = None,
    icecast: Annotated[
        str | None, typer.Option("--icecast", help="Relay the broadcast to an Icecast 2 server: "
                                 "icecast://source:PASSWORD@HOST:PORT/MOUNT.")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="The station's name.")] = "segue",
    public_url: Annotated[
        str, typer.Option("--public-url", help="Where listeners reach this server, for "
                          "playlists (default: the address they used).")
    ] = "",
    max_sessions: Annotated[
        int, typer.Option("--max-sessions", min=0, help="Personal sessions open at once.")
    ] = 8,
    max_connections: Annotated[
        int, typer.Option("--max-connections", min=1, help="Open connections at once.")
    ] = 1024,
    narrator_name: NarratorOpt = None,
    llm_base_url: LlmBaseUrlOpt = None,
    llm_model: LlmModelOpt = None,
    voice: VoiceOpt = None,
) -> None:
    """Serve PATHS as a live station: streams, personal sessions and a web player at /."""
    from segue.library import Library
    from segue.pipeline import collect_inputs
    from segue.service.icecast import parse_icecast_url
    from segue.service.server import bind
    from segue.service.station import StationConfig

    token = token or os.environ.get("SEGUE_API_TOKEN") or None
    try:
        check_address(host, port, token)
        if icecast:
            parse_icecast_url(icecast)
        profile, settings, narrator = set_up(listener, narrator_name, llm_base_url, llm_model,
                                             voice)  # fmt: skip
    except SegueError as exc:
        raise fail(str(exc)) from exc
    files, problems = collect_inputs(paths)
    for problem in problems:
        skipped(problem)
    if not files:
        raise fail("nothing to play: " + ("; ".join(problems) or "no input files"))
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise fail(f"{host}:{port}: cannot listen ({exc.strerror or exc})") from exc
    _raise_fd_limit()
    config = StationConfig(name=name, token=token, public_url=public_url,
                           max_sessions=max_sessions, icecast_url=icecast,
                           listeners={Path(listener).stem: profile} if listener else {})
    library = Library(paths)
    library.scan(files, background=True)
    _run(sock, library, len(files), profile, settings, narrator, config, max_connections)


def _run(sock: socket.socket, library: Library, n_files: int, profile: Listener,
         settings: Settings, narrator: Narrator, config: StationConfig,
         max_connections: int) -> None:  # fmt: skip
    """Build the station and the server over ``library``, and serve until stopped."""
    from segue.service import create_app
    from segue.service.server import ServerLimits, make_server
    from segue.service.shows import SharedParts, engine_factory
    from segue.service.station import Station

    parts = SharedParts(settings, narrator=narrator)
    station = Station(library, engine_factory(library, settings, parts), config,
                      listener=profile, on_close=parts.close)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    application = create_app(station, bound_url=f"http://{shown}:{bound_port}")
    server = make_server(application, ServerLimits(max_connections=max_connections))

    def stop_when_nothing_plays() -> None:
        library.wait_scanned()
        if len(library) == 0:
            server.should_exit = True

    threading.Thread(target=stop_when_nothing_plays, name="segue-serve-watch", daemon=True).start()
    guarded = " (token required)" if config.token else ""
    err.print(f"[green]segue:[/] on air at http://{shown}:{bound_port}/{guarded} "
              f"(stream: /stream.mp3); analysing {n_files} file(s)…", highlight=False)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if len(library) == 0 and not library.scanning:
        raise fail("nothing to play: " + ("; ".join(library.problems[-3:]) or "no usable track"))
