"""``segue serve``: stream a narrated set over HTTP, with a small web player."""

from __future__ import annotations

import socket
import threading
from typing import Annotated

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


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Raises
    ------
    SegueError
        When the address cannot be bound (port in use, unknown host), naming it.

    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise SegueError(f"{host}:{port}: cannot listen ({exc.strerror or exc})") from exc
    sock.set_inheritable(True)
    return sock


@app.command()
def serve(
    paths: PathsArg,
    listener: ListenerOpt = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (default: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port).")] = 8000,
    narrator_name: NarratorOpt = None,
    llm_base_url: LlmBaseUrlOpt = None,
    llm_model: LlmModelOpt = None,
    voice: VoiceOpt = None,
) -> None:
    """Serve PATHS as a narrated, continuous HTTP stream with a web player at /."""
    import uvicorn

    from segue.pipeline import collect_inputs
    from segue.service import create_app

    try:
        profile, settings, narrator = set_up(listener, narrator_name, llm_base_url, llm_model,
                                             voice)
    except SegueError as exc:
        raise fail(str(exc)) from exc
    files, problems = collect_inputs(paths)
    for problem in problems:
        skipped(problem)
    if not files:
        raise fail("nothing to play: " + ("; ".join(problems) or "no input files"))
    try:
        sock = bind(host, port)
    except SegueError as exc:
        raise fail(str(exc)) from exc

    application = create_app(files, listener=profile, settings=settings, narrator=narrator)
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning", access_log=False))
    station = application.state.station

    def stop_when_failed() -> None:
        station.wait_done()
        if station.state == "failed":
            server.should_exit = True

    threading.Thread(target=stop_when_failed, name="segue-serve-watch", daemon=True).start()
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    err.print(f"[green]segue:[/] serving on http://{shown}:{bound_port}/ "
              f"(stream: /stream.mp3); preparing the set…", highlight=False)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if station.state == "failed":
        raise fail(station.error or "the set could not be prepared")
