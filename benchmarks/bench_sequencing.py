"""Sequencing benchmark: solution quality, speed, and flow on real music.

Usage (from the repository root)::

    .venv/bin/pip install -e '.[bench]'          # elkai (LKH), the reference solver
    .venv/bin/python benchmarks/bench_sequencing.py               # everything
    .venv/bin/python benchmarks/bench_sequencing.py --parts quality,speed
    .venv/bin/python benchmarks/bench_sequencing.py --quick       # fewer sets, no n = 1000

Parts:

- **exact**: n = 8, 10, 12 on random realistic sets (:mod:`sequencing_sets`), flat and
  ``peak`` arc: the iterated local search alone against the Held–Karp optimum (``segue``
  itself uses Held–Karp at these sizes), nearest neighbour and random order.
- **quality**: n = 50, 200, 1000: segue's heuristic against LKH (elkai, on the *same*
  position-free cost matrix plus a dummy node for the open path, costs scaled to
  integers), nearest neighbour and random order; totals are recomputed on the float
  matrix for every solver.
- **speed**: CPU seconds on one core of ``plan_order`` end to end (features → costs →
  solver → reasons) at n = 200 and 1000, flat and ``peak`` arc, beside elkai's time on
  the same matrix; and the one-off numba compilation of a fresh environment.
- **flow**: real sets, analysed with segue (cached): ``audio_samples/`` (8 excerpts),
  the analysis benchmark's Frets on Fire songs (stems mixed), Debian's
  ``singularity-music`` soundtrack and all of them together. For the input order, a
  random order (mean of 200) and segue's plan (``peak`` arc): median and 95th
  percentile absolute tempo step (octave-aware), the share of harmonically compatible
  transitions (same Camelot code, ±1, or relative major/minor) and Spearman's ρ between
  the order's energies and the arc's targets.

Results go to ``benchmarks/results/sequencing.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from segue.models import Track
from segue.sequencing import CostWeights, plan_order
from segue.sequencing.arcs import arc_targets
from segue.sequencing.costs import energy_term, tempo_step_pct, term_matrices
from segue.sequencing.exact import held_karp
from segue.sequencing.features import SetFeatures, parse_camelot
from segue.sequencing.search import _nearest_neighbour, _spread_starts, path_cost, search_order
from sequencing_sets import realistic_tracks

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PARTS = ("exact", "quality", "speed", "flow")


def machine() -> str:
    """CPU model and core count, as ``lscpu`` reports them."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(ln.split(":", 1)[1].strip() for ln in out.splitlines()
                     if ln.startswith("Model name"))  # fmt: skip
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores"


def flat_matrix(tracks: Sequence[Track]) -> np.ndarray:
    """The position-free cost matrix the solvers and LKH share."""
    return np.asarray(sum(term_matrices(SetFeatures.from_tracks(tracks), CostWeights()).values()))


def cost_of(order: Sequence[int], m: np.ndarray) -> float:
    return float(sum(m[a, b] for a, b in itertools.pairwise(order)))


def nearest_neighbour(m: np.ndarray) -> list[int]:
    """The best nearest-neighbour path from a few starts (segue's own construction)."""
    n = len(m)
    empty = np.zeros(0)
    paths = [_nearest_neighbour(s, -1, m, np.zeros(n), empty, 0.0) for s in _spread_starts(n, -1)]
    return [int(v) for v in min(paths, key=lambda p: cost_of(p, m))]


def random_cost(m: np.ndarray, rng: np.random.Generator, trials: int = 20) -> float:
    return float(np.mean([cost_of(rng.permutation(len(m)), m) for _ in range(trials)]))


def lkh(m: np.ndarray, runs: int) -> tuple[list[int], float]:
    """LKH's open path (a dummy node with free arcs closes the tour) and its CPU time."""
    import elkai

    n = len(m)
    d = np.zeros((n + 1, n + 1))
    d[:n, :n] = m
    scaled = np.rint(d * 1e4).astype(int).tolist()
    t0 = time.process_time()
    tour = elkai.DistanceMatrix(scaled).solve_tsp(runs=runs)[:-1]
    seconds = time.process_time() - t0
    k = tour.index(n)
    return tour[k + 1:] + tour[:k], seconds


# --------------------------------------------------------------------------- parts


def part_exact(seeds: int) -> dict[str, Any]:
    rows = []
    for n in (8, 10, 12):
        for arc in ("flat", "peak"):
            equal, gaps, nn_gaps, rnd_gaps = 0, [], [], []
            for seed in range(seeds):
                tracks = realistic_tracks(n, seed=1000 + seed)
                f = SetFeatures.from_tracks(tracks)
                mats = term_matrices(f, CostWeights())
                rng = np.random.default_rng(seed)
                if arc == "flat":
                    m = np.asarray(sum(mats.values()))
                    _, opt = held_karp(m)
                    _, heur = search_order(m, seed=seed)
                    nn = cost_of(nearest_neighbour(m), m)
                    rnd = random_cost(m, rng)
                else:
                    base = np.asarray(sum(v for k, v in mats.items() if k != "energy"))
                    t = arc_targets(arc, f.energy)
                    tensor = np.stack([base + energy_term(f.energy[:, None], f.energy[None, :],
                                                          t[k], t[k + 1]) for k in range(n - 1)])
                    _, opt = held_karp(tensor)
                    _, heur = search_order(base, energy=f.energy, targets=t, w_energy=1.0,
                                           guide=base + mats["energy"], seed=seed)
                    nn_p = _nearest_neighbour(0, -1, base, f.energy, t, 1.0)
                    nn = path_cost(nn_p, base, f.energy, t, 1.0)
                    rnd = float(np.mean([path_cost(rng.permutation(n), base, f.energy, t, 1.0)
                                         for _ in range(20)]))
                equal += abs(heur - opt) <= 1e-9 * max(1.0, opt)
                gaps.append(100 * (heur / opt - 1))
                nn_gaps.append(100 * (nn / opt - 1))
                rnd_gaps.append(100 * (rnd / opt - 1))
            rows.append({"n": n, "arc": arc, "sets": seeds, "heuristic_equal": equal,
                         "heuristic_max_gap_pct": max(gaps), "nn_mean_gap_pct": np.mean(nn_gaps),
                         "random_mean_gap_pct": np.mean(rnd_gaps)})  # fmt: skip
    print("\nExact optimum (Held–Karp) vs the heuristic alone, realistic random sets")
    print(f"{'n':>4} {'arc':>5} {'sets':>4} {'heur = opt':>10} {'heur max gap':>12} "
          f"{'NN gap':>8} {'random gap':>10}")  # fmt: skip
    for r in rows:
        print(f"{r['n']:>4} {r['arc']:>5} {r['sets']:>4} {r['heuristic_equal']:>7}/{r['sets']:<2} "
              f"{r['heuristic_max_gap_pct']:>11.3f}% {r['nn_mean_gap_pct']:>7.1f}% "
              f"{r['random_mean_gap_pct']:>9.0f}%")  # fmt: skip
    return {"rows": rows}


def part_quality(sizes: Sequence[int], seeds: int) -> dict[str, Any]:
    rows = []
    for n in sizes:
        for seed in range(1, seeds + 1):
            m = flat_matrix(realistic_tracks(n, seed=seed))
            rng = np.random.default_rng(seed)
            t0 = time.process_time()
            _, ours_cost = search_order(m, seed=0)
            ours_s = time.process_time() - t0
            runs = 10 if n <= 200 else 1
            lkh_order, lkh_s = lkh(m, runs)
            lkh_cost = cost_of(lkh_order, m)
            nn = cost_of(nearest_neighbour(m), m)
            rows.append({"n": n, "seed": seed, "segue": ours_cost, "segue_s": ours_s,
                         "lkh": lkh_cost, "lkh_s": lkh_s, "lkh_runs": runs, "nn": nn,
                         "random": random_cost(m, rng),
                         "gap_pct": 100 * (ours_cost / lkh_cost - 1)})  # fmt: skip
            print(f"  n={n} seed={seed}: segue {ours_cost:.2f} ({ours_s:.2f} s), "
                  f"LKH {lkh_cost:.2f} ({lkh_s:.2f} s, {runs} runs)", flush=True)  # fmt: skip
    print("\nSolution quality on the same matrix (total cost; ratio to LKH)")
    print(f"{'n':>5} {'sets':>4} {'segue/LKH':>10} {'worst':>8} {'NN/LKH':>7} {'random/LKH':>10} "
          f"{'segue s':>8} {'LKH s':>7}")  # fmt: skip
    summary = []
    for n in sizes:
        rs = [r for r in rows if r["n"] == n]
        s = {"n": n, "sets": len(rs),
             "segue_ratio": float(np.mean([r["segue"] / r["lkh"] for r in rs])),
             "worst_gap_pct": max(r["gap_pct"] for r in rs),
             "nn_ratio": float(np.mean([r["nn"] / r["lkh"] for r in rs])),
             "random_ratio": float(np.mean([r["random"] / r["lkh"] for r in rs])),
             "segue_s": float(np.mean([r["segue_s"] for r in rs])),
             "lkh_s": float(np.mean([r["lkh_s"] for r in rs]))}  # fmt: skip
        summary.append(s)
        print(f"{n:>5} {s['sets']:>4} {s['segue_ratio']:>10.4f} {s['worst_gap_pct']:>7.2f}% "
              f"{s['nn_ratio']:>7.3f} {s['random_ratio']:>10.2f} {s['segue_s']:>8.2f} "
              f"{s['lkh_s']:>7.2f}")  # fmt: skip
    return {"rows": rows, "summary": summary}


def compile_seconds() -> float:
    """Wall time of a tiny plan in a fresh process with an empty numba cache, minus a warm one."""
    code = ("import sys; sys.path.insert(0, 'benchmarks'); from sequencing_sets import "
            "realistic_tracks; from segue.sequencing import plan_order; "
            "plan_order(realistic_tracks(30), arc='peak'); plan_order(realistic_tracks(30), "
            "arc='flat')")  # fmt: skip

    def run(env: dict[str, str]) -> float:
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
        return time.monotonic() - t0

    with tempfile.TemporaryDirectory() as tmp:
        cold = run({**os.environ, "NUMBA_CACHE_DIR": tmp})
        warm = run({**os.environ, "NUMBA_CACHE_DIR": tmp})
    return cold - warm


def part_speed(sizes: Sequence[int]) -> dict[str, Any]:
    plan_order(realistic_tracks(40), arc="peak")  # compiled code loaded before timing
    plan_order(realistic_tracks(40), arc="flat")
    rows = []
    for n in sizes:
        tracks = realistic_tracks(n, seed=1)
        row: dict[str, Any] = {"n": n}
        for arc in ("flat", "peak"):
            t0 = time.process_time()
            plan_order(tracks, arc=arc, seed=0)
            row[f"plan_{arc}_s"] = time.process_time() - t0
        _, row["lkh_1run_s"] = lkh(flat_matrix(tracks), 1)
        rows.append(row)
    first_run = compile_seconds()
    print("\nSpeed on one core (CPU seconds, plan_order end to end)")
    print(f"{'n':>5} {'flat':>7} {'peak arc':>9} {'LKH 1 run':>10}")
    for r in rows:
        print(f"{r['n']:>5} {r['plan_flat_s']:>7.2f} {r['plan_peak_s']:>9.2f} "
              f"{r['lkh_1run_s']:>10.2f}")  # fmt: skip
    print(f"first run in a fresh environment: +{first_run:.1f} s of numba compilation "
          "(cached on disk afterwards)")  # fmt: skip
    return {"rows": rows, "first_run_compile_s": first_run}


# --------------------------------------------------------------------------- flow


def flow_sets() -> dict[str, list[Path]]:
    """Real music: the demo excerpts, the analysis benchmark's songs, a soundtrack."""
    from analysis_sets import real_tempo_set
    from debian_music import fetch

    sets = {"audio_samples": sorted((ROOT / "audio_samples").glob("*.ogg"))}
    sets["fretsonfire"] = [Path(i.path) for i in real_tempo_set(stretches=(1.0,))]
    root = fetch("singularity-music")
    sets["singularity"] = sorted(root.rglob("*.ogg"))
    sets["all"] = [p for name in ("audio_samples", "fretsonfire", "singularity")
                   for p in sets[name]]  # fmt: skip
    return sets


def analyse(paths: Sequence[Path]) -> list[Track]:
    from segue.config import Settings
    from segue.pipeline import analyze_files

    tracks, problems = analyze_files(list(paths), Settings.from_env())
    for p in problems:
        print(f"  skipped: {p}")
    return tracks


def flow_metrics(tracks: Sequence[Track], targets: np.ndarray) -> dict[str, float]:
    """Tempo steps, harmonic compatibility and energy-vs-arc for tracks in play order."""
    bpm = np.array([t.analysis.bpm for t in tracks], dtype=float)
    steps = np.abs(tempo_step_pct(bpm[:-1], bpm[1:]))
    steps = steps[np.isfinite(steps)]
    compatible = []
    for a, b in itertools.pairwise(tracks):
        ka, kb = parse_camelot(a.analysis.camelot), parse_camelot(b.analysis.camelot)
        if ka is None or kb is None:
            continue
        d = abs(ka[0] - kb[0]) % 12
        d = min(d, 12 - d)
        compatible.append((d == 0) or (d == 1 and ka[1] == kb[1]))
    energy = np.array([t.analysis.energy for t in tracks], dtype=float)
    rho = float(spearmanr(energy, targets)[0]) if len(tracks) > 2 else float("nan")
    return {"tempo_step_median_pct": float(np.median(steps)),
            "tempo_step_p95_pct": float(np.percentile(steps, 95)),
            "compatible_share": float(np.mean(compatible)), "energy_spearman": rho}  # fmt: skip


def part_flow(quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sets = flow_sets()
    if quick:
        sets = {"audio_samples": sets["audio_samples"]}
    print("\nFlow on real sets (peak arc): tempo step |%| median / p95, compatible keys, "
          "Spearman ρ(energy, arc)")  # fmt: skip
    for name, paths in sets.items():
        tracks = analyse(paths)
        n = len(tracks)
        targets = arc_targets("peak", [t.analysis.energy for t in tracks])
        rng = np.random.default_rng(0)
        random = [flow_metrics([tracks[i] for i in rng.permutation(n)], targets)
                  for _ in range(200)]  # fmt: skip
        plan = plan_order(tracks, arc="peak", seed=0)
        rows = {
            "input": flow_metrics(tracks, targets),
            "random": {k: float(np.nanmean([r[k] for r in random])) for k in random[0]},
            "segue": flow_metrics(plan.tracks, targets),
        }
        out[name] = {"n": n, **rows}
        print(f"  {name} ({n} tracks)")
        for label, r in rows.items():
            print(f"    {label:<7} {r['tempo_step_median_pct']:5.1f} / "
                  f"{r['tempo_step_p95_pct']:5.1f}   {100 * r['compatible_share']:5.1f} %   "
                  f"ρ = {r['energy_spearman']:+.2f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated: " +
                        ", ".join(PARTS))  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="fewer sets, no n = 1000")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; "
                     f"choose from {', '.join(PARTS)}")
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    print(f"machine: {results['machine']}")
    runners: dict[str, Callable[[], Any]] = {
        "exact": lambda: part_exact(5 if args.quick else 20),
        "quality": lambda: part_quality((50, 200) if args.quick else (50, 200, 1000),
                                        2 if args.quick else 3),
        "speed": lambda: part_speed((200,) if args.quick else (200, 1000)),
        "flow": lambda: part_flow(args.quick),
    }  # fmt: skip
    for part in parts:
        results[part] = runners[part]()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "sequencing.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    previous.update(results)
    path.write_text(json.dumps(previous, indent=2, default=float) + "\n")
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
