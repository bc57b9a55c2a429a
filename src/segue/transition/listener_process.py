"""The ear in a worker process: beat tracking where two tracks meet, away from the show.

Refining a beatmatch by ear (:func:`~segue.transition.refine.refine_by_ear`)
decodes a few seconds of both tracks and runs librosa's beat tracker, which
compiles numba code and holds onto it: about 60 MB of the render process's memory
and a second of CPU per transition, under the GIL. A long-running show keeps that
in one worker process shared by every show of this process (a station's broadcast
and its personal sessions), which also lets a file render listen on the second
core while the first renders.

A worker that dies or takes longer than :data:`LISTEN_TIMEOUT_S` costs that
transition its refinement (the grids' alignment stands, which is exact on music
made to a click); the next transition starts a new worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from segue.models import Track
from segue.transition.cues import TransitionCue
from segue.transition.refine import refine_by_ear

log = logging.getLogger(__name__)

#: The longest the ear may take over one transition (it usually needs about a second).
LISTEN_TIMEOUT_S = 60.0

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _one_thread() -> None:
    """Worker start-up: one BLAS thread, so the ear never competes with itself."""
    import os

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=1, initializer=_one_thread,
                                        mp_context=multiprocessing.get_context("spawn"))
        return _pool


def _reset(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


def listen(prev: Track, nxt: Track, cue: TransitionCue) -> TransitionCue:
    """:func:`refine_by_ear` in the shared worker; the cue unrefined if the ear fails."""
    if cue.kind != "beatmatch":
        return cue
    pool = _executor()
    try:
        future = pool.submit(refine_by_ear, prev, nxt, cue)
    except RuntimeError:  # no worker can start here (a script without a main guard)
        return refine_by_ear(prev, nxt, cue)
    try:
        return future.result(timeout=LISTEN_TIMEOUT_S)
    except (BrokenProcessPool, FutureTimeout) as exc:
        log.warning("the ear stopped on %s (%s): the grids' beatmatch stands", nxt.path,
                    type(exc).__name__)  # fmt: skip
        _reset(pool)
    except Exception as exc:  # a file that cannot be decoded there: keep the grids' cue
        log.warning("the ear failed on %s (%s): the grids' beatmatch stands", nxt.path, exc)
    return cue


def shutdown() -> None:
    """Stop the worker (at exit; a later :func:`listen` starts a new one)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
