"""Run every benchmark, one after another, and say where each wrote its results.

Usage (from the repository root; ``make bench`` runs the quick settings)::

    .venv/bin/python benchmarks/run_all.py                 # quick settings, about 20 minutes
    .venv/bin/python benchmarks/run_all.py --full          # the settings of the README's figures
    .venv/bin/python benchmarks/run_all.py --only mix,sequencing

Each benchmark runs in its own process with this interpreter, its output
streamed as it comes; one that fails is reported and the others still run.
At the end a table gives, per benchmark, how it ended, its wall time and the
results file it wrote (``benchmarks/results/*.json``). The exit code is 0 when
every benchmark finished, 1 when some failed, 2 for a bad argument.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


@dataclass(frozen=True)
class Benchmark:
    """A benchmark script, its arguments quick and full, and the results file it writes."""

    script: str
    quick: tuple[str, ...]
    full: tuple[str, ...]
    results: str


#: Quick settings: the same measurements on less data (a 10-minute set, the synthetic
#: analysis set, fewer and smaller sequencing sets, no speech, no local model).
BENCHMARKS = {
    "sequencing": Benchmark("bench_sequencing.py", ("--quick",), (), "sequencing.json"),
    "analysis": Benchmark("bench_analysis.py", ("--sets", "synthetic"), (), "analysis.json"),
    "narration": Benchmark("bench_narration.py", ("--no-speech", "--skip-local"), (),
                           "narration.json"),
    "mix": Benchmark("bench_mix.py", ("--minutes", "10", "--quality-minutes", "10"), (),
                     "mix.json"),
    "show": Benchmark("bench_show.py", ("--only", "ttfb,skips,dead-llm"), (), "show.json"),
    "serve": Benchmark("bench_serve.py", ("--soak-s", "30", "--listeners", "50",
                                          "--sessions", "2", "--cycles", "100",
                                          "--fault-s", "20", "--settle-s", "5"), (),
                       "bench_serve.json"),
}  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """How one benchmark ended."""

    name: str
    code: int
    wall_s: float
    results: Path
    written: bool


def run(name: str, bench: Benchmark, *, full: bool) -> Outcome:
    """Run one benchmark to the end, its output passed through; how it ended."""
    args = bench.full if full else bench.quick
    command = [sys.executable, str(HERE / bench.script), *args]
    print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
    results = RESULTS / bench.results
    before = results.stat().st_mtime if results.exists() else None
    start = time.monotonic()
    try:
        code = subprocess.run(command, cwd=HERE.parent, check=False).returncode
    except KeyboardInterrupt:
        code = 130
    wall_s = time.monotonic() - start
    written = results.exists() and results.stat().st_mtime != before
    return Outcome(name, code, wall_s, results, written)


def report(outcomes: list[Outcome]) -> None:
    """The summary table: how each benchmark ended and where its results are."""
    print("\nbenchmark    result      wall    results")
    for o in outcomes:
        state = "ok" if o.code == 0 else f"exit {o.code}"
        where = str(o.results.relative_to(HERE.parent)) if o.written else "(nothing written)"
        print(f"{o.name:<12} {state:<9} {o.wall_s:6.0f} s  {where}")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; 0 when all finished, 1 when some failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true",
                        help="the full settings (an hour or more) instead of the quick ones")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated, from: {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; "
                     f"choose from {', '.join(BENCHMARKS)}")  # fmt: skip
    outcomes: list[Outcome] = []
    for name in names:
        outcomes.append(run(name, BENCHMARKS[name], full=args.full))
        if outcomes[-1].code == 130:
            break
    report(outcomes)
    return 0 if all(o.code == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
