"""Mapping the per-track analysis over many files: in-process, a process pool, or Dask.

The executor is a choice, not a code path: every backend runs the same
:func:`analyze_one` on a path and hands back an :class:`Outcome`. Cache look-ups
and writes happen only here, in the calling process. With Dask the workers must
see the files at the same paths (a shared or identical file system).

- ``local``: a :class:`~concurrent.futures.ProcessPoolExecutor` of ``jobs``
  processes (in-process when ``jobs`` is 1), each limited to one BLAS thread.
- ``dask``: a :class:`distributed.LocalCluster` of ``jobs`` single-threaded worker
  processes, made for the run and closed after it.
- ``dask://HOST:PORT``: an existing Dask scheduler.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segue.analysis.analyze import ANALYZER_VERSION, analyze_file
from segue.analysis.cache import AnalysisCache
from segue.errors import SegueError

log = logging.getLogger(__name__)

EXECUTORS = ("local", "dask", "dask://HOST:PORT")

#: ``progress(done, total, outcome)``: called as each file finishes.
OutcomeCallback = Callable[[int, int, "Outcome"], None]


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: a track, or an error naming the file."""

    path: str
    track: Any | None  # segue.models.Track; Any keeps pickling across versions simple
    error: str | None
    cached: bool = False
    seconds: float = 0.0
    #: A failure that belongs to the file (corrupt, silent, too short): worth caching.
    permanent: bool = True

    @property
    def ok(self) -> bool:
        """True when the file was analysed (now or before)."""
        return self.track is not None


def analyze_one(path: str) -> Outcome:
    """Analyse one file, turning any failure into an :class:`Outcome` with its error.

    Runs in worker processes; never raises for a bad file. Unexpected exceptions
    are reported with their type so one strange file cannot stop a batch.
    """
    start = time.perf_counter()
    try:
        track = analyze_file(path)
        return Outcome(path, track, None, seconds=time.perf_counter() - start)
    except SegueError as exc:
        # Errors that do not name the file (ffmpeg missing, ...) are not the file's fault.
        return Outcome(path, None, str(exc), seconds=time.perf_counter() - start,
                       permanent=str(exc).startswith(f"{path}: "))
    except MemoryError:
        return Outcome(path, None, f"{path}: out of memory while analysing",
                       seconds=time.perf_counter() - start, permanent=False)
    except Exception as exc:  # a bug or an odd file must not stop the batch
        log.debug("%s: unexpected error", path, exc_info=True)
        return Outcome(path, None, f"{path}: analysis failed ({type(exc).__name__}: {exc})",
                       seconds=time.perf_counter() - start, permanent=False)


def _one_thread() -> None:
    """Worker initialiser: one BLAS/OpenMP thread per process (the pool is the parallelism)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        threadpool_limits(1)
    except ImportError:  # optional: without it BLAS may use more threads
        pass


def check_executor(spec: str) -> str:
    """Validate an executor name; raises :class:`SegueError` listing the valid ones."""
    if spec in ("local", "dask") or (spec.startswith("dask://") and ":" in spec[7:]):
        return spec
    raise SegueError(f"unknown executor {spec!r}; use one of: {', '.join(EXECUTORS)}")


def _run_local(paths: Sequence[str], jobs: int) -> Iterator[Outcome]:
    if jobs <= 1 or len(paths) <= 1:
        for p in paths:
            yield analyze_one(p)
        return
    # spawn: workers start clean, whatever threads the parent runs (fork copies locks).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), initializer=_one_thread,
                             mp_context=context) as pool:
        futures = {pool.submit(analyze_one, p): p for p in paths}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # a worker died (killed, out of memory): name the file
                path = futures[fut]
                yield Outcome(path, None, f"{path}: analysis worker died ({exc})",
                              permanent=False)


def _run_dask(paths: Sequence[str], jobs: int, spec: str) -> Iterator[Outcome]:
    try:
        import distributed
    except ImportError as exc:
        raise SegueError(
            "the dask executor needs the 'dask' extra: pip install 'segue[dask]'"
        ) from exc
    dist: Any = distributed  # untyped library
    cluster = None
    if spec == "dask":
        cluster = dist.LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = dist.Client(cluster)
    else:
        rest = spec[len("dask://") :]
        address = rest if "://" in rest else "tcp://" + rest  # inproc:// etc. pass through
        try:
            client = dist.Client(address, timeout=10)
        except OSError as exc:
            raise SegueError(f"cannot reach the Dask scheduler at {address} ({exc})") from exc
    try:
        futures = client.map(analyze_one, list(paths), pure=False)
        for fut in dist.as_completed(futures):
            yield fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def analyze_paths(
    paths: Sequence[str | Path],
    *,
    jobs: int = 0,
    executor: str = "local",
    cache: AnalysisCache | None = None,
    progress: OutcomeCallback | None = None,
) -> list[Outcome]:
    """Analyse ``paths`` (cached results first), in input order.

    Parameters
    ----------
    paths : audio files.
    jobs : parallel workers; 0 means one per CPU core.
    executor : ``local``, ``dask`` or ``dask://HOST:PORT`` (see the module docstring).
    cache : where results are looked up and stored; ``None`` analyses everything.
    progress : called after each file with ``(done, total, outcome)``.

    Raises
    ------
    SegueError
        For an unknown executor or an unreachable Dask scheduler (nothing is done).

    """
    spec = check_executor(executor)
    jobs = jobs if jobs > 0 else (os.cpu_count() or 1)
    names = [str(p) for p in paths]
    results: dict[str, Outcome] = {}
    digests: dict[str, str] = {}
    todo: list[str] = []
    done = 0
    for name in names:
        if name in results or name in digests:
            continue
        entry = None
        if cache is not None:
            try:
                digests[name] = cache.file_hash(name)
                entry = cache.get(digests[name], name)
            except OSError as exc:
                results[name] = Outcome(name, None, f"{name}: cannot read ({exc.strerror})")
                done += 1
                if progress:
                    progress(done, len(names), results[name])
                continue
        if entry is None:
            todo.append(name)
            continue
        results[name] = Outcome(name, entry.track, entry.error, cached=True)
        done += 1
        if progress:
            progress(done, len(names), results[name])
    runner = _run_local(todo, jobs) if spec == "local" else _run_dask(todo, jobs, spec)
    for outcome in runner:
        results[outcome.path] = outcome
        digest = digests.get(outcome.path)
        if cache is not None and digest is not None:
            if outcome.track is not None:
                cache.put_ok(digest, outcome.track)
            elif outcome.error is not None and outcome.permanent:
                cache.put_failed(digest, outcome.path, outcome.error)
        done += 1
        if progress:
            progress(done, len(names), outcome)
    return [results[n] for n in dict.fromkeys(names)]


def open_default_cache() -> AnalysisCache:
    """The analysis cache in :func:`segue.config.default_cache_dir`."""
    from segue.config import default_cache_dir

    return AnalysisCache(default_cache_dir(), ANALYZER_VERSION)
