"""A real Icecast 2 server for tests: Debian's ``icecast2``, on loopback, own config, own folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ICECAST = shutil.which("icecast2") or "/usr/bin/icecast2"

CONFIG = """<icecast>
  <location>test</location><admin>test@localhost</admin><hostname>127.0.0.1</hostname>
  <limits><clients>50</clients><sources>4</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout><burst-on-connect>1</burst-on-connect>
    <burst-size>65535</burst-size></limits>
  <authentication><source-password>{password}</source-password>
    <admin-user>admin</admin-user><admin-password>{password}-admin</admin-password>
  </authentication>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>{folder}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
    <pidfile>{folder}/icecast.pid</pidfile></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog>
    <loglevel>3</loglevel></logging>
  <security><chroot>0</chroot>{owner}</security>
</icecast>
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def icecast(port: int, password: str = "test-source-pw") -> Iterator[int]:
    """Run icecast2 on ``127.0.0.1:port`` until the block ends; yields the port.

    As root it drops to Debian's ``icecast2`` user (icecast refuses to run as root),
    so its folder is a fresh one under the system's temporary folder, which that
    user can reach (pytest's own temporary folders are private to root).
    """
    folder = Path(tempfile.mkdtemp(prefix="segue-icecast-"))
    owner = ""
    if os.geteuid() == 0:
        owner = "<changeowner><user>icecast2</user><group>icecast</group></changeowner>"
        shutil.chown(folder, "icecast2", "icecast")
    config = folder / "icecast.xml"
    config.write_text(CONFIG.format(password=password, port=port, folder=folder, owner=owner))
    proc = subprocess.Popen([ICECAST, "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
