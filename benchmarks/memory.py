"""Resident memory of this process, as the benchmarks report it.

A child's ``ru_maxrss`` (from ``wait4`` or ``RUSAGE_SELF``/``RUSAGE_CHILDREN``) is not
its own: at ``exec`` Linux carries the parent's high-water mark over, so a worker
started by a benchmark that holds 600 MB of rendered audio reads 600 MB whatever it
did. ``VmHWM`` in ``/proc/self/status`` belongs to the process's own address space.
"""

from __future__ import annotations

from pathlib import Path


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), in MB."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """The largest resident memory this process's own address space reached (VmHWM), in MB."""
    return _status_mb("VmHWM")
