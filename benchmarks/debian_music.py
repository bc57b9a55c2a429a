"""Fetch free-licensed music from Debian packages without installing them.

A few Debian packages ship CC BY-SA music (game soundtracks and the like). This module
downloads such a package with ``apt-get download`` and unpacks it with ``dpkg -x`` into a
cache directory, so scripts can cut benchmark and demo audio from it reproducibly. Nothing
is installed and no root privileges are needed (``apt-get download`` only needs a working
apt configuration, i.e. a Debian or Ubuntu host with the package in its sources).

Layout of the cache (default ``~/.cache/segue/debian``, overridable with ``--cache-dir``,
the ``cache_dir`` argument or the ``SEGUE_DEBIAN_CACHE`` environment variable)::

    <cache>/<package>/<package>_<version>_<arch>.deb   the downloaded archive
    <cache>/<package>/root/                            its extracted file tree
    <cache>/<package>/fetched.json                     package, version, deb file name

An existing, complete extraction is reused without touching the network.

Usage as a script::

    python benchmarks/debian_music.py singularity-music fretsonfire-songs-muldjord
    python benchmarks/debian_music.py --cache-dir /tmp/debs singularity-music

Library functions report progress only through :mod:`logging`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["DebianFetchError", "default_cache_dir", "fetch", "fetched_version"]

logger = logging.getLogger(__name__)

_METADATA = "fetched.json"
_ROOT = "root"


class DebianFetchError(RuntimeError):
    """Raised when a package cannot be downloaded or unpacked."""


def default_cache_dir() -> Path:
    """Return the cache directory: ``$SEGUE_DEBIAN_CACHE`` or ``~/.cache/segue/debian``."""
    env = os.environ.get("SEGUE_DEBIAN_CACHE")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/segue/debian").expanduser()


def _run(cmd: list[str], *, cwd: Path | None = None) -> str:
    """Run a command, returning its stdout; raise :class:`DebianFetchError` on failure."""
    tool = cmd[0]
    if shutil.which(tool) is None:
        raise DebianFetchError(
            f"{tool!r} not found; a Debian/Ubuntu host with apt and dpkg is needed"
        )
    logger.debug("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise DebianFetchError(f"{' '.join(cmd)} failed (exit {proc.returncode}): {detail}")
    return proc.stdout


def _read_metadata(package_dir: Path) -> dict[str, str] | None:
    """Return the metadata of a complete extraction in ``package_dir``, or None."""
    meta_path = package_dir / _METADATA
    if not meta_path.is_file() or not (package_dir / _ROOT).is_dir():
        return None
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items()}


def fetch(package: str, dest_dir: Path | str | None = None) -> Path:
    """Download ``package`` with ``apt-get download`` and extract it with ``dpkg -x``.

    Args:
        package: Debian binary package name, optionally pinned as ``name=version``.
        dest_dir: cache directory; defaults to :func:`default_cache_dir`.

    Returns:
        The root of the extracted file tree (``<dest_dir>/<name>/root``); files of the
        package are below it at their installed paths, e.g. ``root/usr/share/...``.

    An existing complete extraction of the same package (and version, if pinned) is
    reused without downloading anything.

    Raises:
        DebianFetchError: if apt-get or dpkg is missing or fails.
    """
    name, _, pinned = package.partition("=")
    cache = Path(dest_dir).expanduser() if dest_dir is not None else default_cache_dir()
    package_dir = cache / name
    root = package_dir / _ROOT

    meta = _read_metadata(package_dir)
    if meta is not None and (not pinned or meta.get("version") == pinned):
        logger.info("reusing %s %s in %s", name, meta.get("version", "?"), root)
        return root

    package_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=package_dir) as tmp:
        tmp_dir = Path(tmp)
        logger.info("downloading %s with apt-get", package)
        _run(["apt-get", "download", package], cwd=tmp_dir)
        debs = sorted(tmp_dir.glob("*.deb"))
        if len(debs) != 1:
            raise DebianFetchError(f"apt-get download {package} produced {len(debs)} .deb files")
        deb = debs[0]
        version = _run(["dpkg-deb", "--field", str(deb), "Version"]).strip()

        staging = tmp_dir / _ROOT
        logger.info("extracting %s into %s", deb.name, root)
        _run(["dpkg", "-x", str(deb), str(staging)])

        for old in package_dir.glob("*.deb"):
            old.unlink()
        if root.exists():
            shutil.rmtree(root)
        (package_dir / _METADATA).unlink(missing_ok=True)
        shutil.move(str(deb), package_dir / deb.name)
        staging.rename(root)

    meta_out = {"package": name, "version": version, "deb": deb.name}
    (package_dir / _METADATA).write_text(json.dumps(meta_out, indent=2) + "\n", encoding="utf-8")
    return root


def fetched_version(root: Path) -> str:
    """Return the Debian version of the package extracted at ``root`` (from :func:`fetch`)."""
    meta = _read_metadata(Path(root).parent)
    if meta is None or "version" not in meta:
        raise DebianFetchError(f"{root} is not an extraction made by fetch()")
    return meta["version"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: fetch each named package and print its extraction root."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packages", nargs="+", help="package names (optionally name=version)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help=f"download/extraction cache (default: {default_cache_dir()})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    try:
        for package in args.packages:
            root = fetch(package, args.cache_dir)
            print(f"{package}\t{fetched_version(root)}\t{root}")
    except DebianFetchError as exc:
        logger.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
