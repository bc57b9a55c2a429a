"""Narration benchmark: a long offline show, the guards, a dead LLM, and each backend's metrics.

Parts (``--parts``, default all):

- ``show``: a 40-track show with the offline narrator (the tracks of
  prompts/cases/ outside German, awkward tags included, through plan_gaps and
  a ShowScript as a render does): identical lines, distinct openings, links
  carrying a fact or a plain reason, personal lines, the name rule; with a link
  before every track and with the default talk plan; and an 8-hour endless
  show (160 tracks cycled) for variety over hours and time per link;
- ``guards``: precision on prompts/guards/good.toml, recall on bad.toml;
- ``dead``: a dead LLM server (accepts connections, never answers) against
  the template narrator over a 12-track set: write_script, and two ``prepare``
  calls in parallel through a ShowScript, with the default timeouts;
- ``eval``: every case in prompts/cases/ with each backend, the line cache
  off, speech synthesized with the configured voice for the spoken-fit
  metric: the evaluation metrics (those of ``segue prompts eval``), latency per
  link by kind, and why lines fell back to the template.

Backends: ``template`` always; ``local`` when the extra is installed
(``pip install 'segue[local]'``); ``openai`` with ``--openai-base-url URL
[--openai-model NAME]`` (any OpenAI-compatible server). Results are written to
benchmarks/results/narration.json.

    .venv/bin/python benchmarks/bench_narration.py [--parts show,guards,dead,eval]
        [--no-speech] [--case NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from segue import circuit
from segue.config import Settings
from segue.models import Listener, Plan, Tags, Track, TrackAnalysis, Transition
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
from segue.narration.guards import known_names, line_opener
from segue.narration.guardsets import default_guards_dir, score_guards
from segue.narration.local_backend import available as local_available
from segue.narration.narrator import GuardedNarrator, TemplateNarrator
from segue.narration.script import plan_gaps, write_script
from segue.narration.showscript import Committed, ShowScript, run_show
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


# ---------------------------------------------------------------------------- the long show


def case_tracks(store: TemplateStore, n: int) -> list[Track]:
    """The tracks of the cases (German ones aside) as analysed tracks, cycled to ``n``.

    Windows vary as real intros do (2-14 s of intro, some tracks with none).
    """
    import tomllib

    rows: list[dict[str, Any]] = []
    for path in sorted(default_cases_dir(store).glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        if data.get("listener", {}).get("language", "en") == "en":
            rows += data.get("tracks", [])
    tracks = []
    for i in range(n):
        row = rows[i % len(rows)]
        intro = 2.0 + (i * 37 % 13)
        analysis = TrackAnalysis(
            duration_s=200.0, bpm=float(row.get("bpm", 120)), bpm_confidence=0.9,
            beat_times_s=(), key=str(row.get("key", "")), camelot=str(row.get("camelot") or "8A"),
            key_confidence=0.9 if row.get("camelot") else 0.0, lufs=-10.0, peak_dbfs=-1.0,
            energy=float(row.get("energy", 0.5)), first_sound_s=0.0, last_sound_s=200.0,
            intro_end_s=intro, outro_start_s=185.0)  # fmt: skip
        tags = Tags(title=str(row["title"]), artist=str(row["artist"]), album=row.get("album"),
                    year=row.get("year"), genre=row.get("genre"))  # fmt: skip
        tracks.append(Track(path=f"/music/{i:03d}.flac", tags=tags, analysis=analysis))
    return tracks


def as_plan(tracks: list[Track]) -> Plan:
    transitions = tuple(Transition(i, i + 1, 0.0, {}, "") for i in range(len(tracks) - 1))
    return Plan(tracks=tuple(tracks), transitions=transitions, total_cost=0.0)


def show_figures(done: list[Committed], listener: Listener,
                 closing: bool = True) -> dict[str, Any]:  # fmt: skip
    """Identical lines, distinct openings, informative and personal links, the name rule."""
    texts = [c.line.text for c in done]
    openers = [line_opener(c.line.text, known_names(c.request.context)) for c in done]
    links = [c for c in done if c.request.kind == "link"]
    informative = [any(p.split(".")[0] in ("fact", "announce_fact", "change", "reason",
                                           "set_intro") for p in c.line.parts) for c in links]
    personal = [any(p.startswith("personal") for p in c.line.parts) for c in links]
    name = listener.name or ""
    named = [bool(name) and name in t for t in texts]
    link_named = [bool(name) and name in c.line.text for c in links]
    rule = (named[0] and (named[-1] or not closing)
            and not any(a and b for a, b in itertools.pairwise(named))
            and all(sum(link_named[i:i + 4]) <= 1 for i in range(len(link_named))))
    return {
        "lines": len(texts), "links": len(links),
        "identical_lines": len(texts) - len(set(texts)),
        "distinct_openings": len(set(openers)) / len(openers),
        "informative_links": sum(informative) / max(1, len(links)),
        "personal_links": sum(personal) / max(1, len(links)),
        "personal_max_in_3": max((sum(personal[i:i + 3]) for i in range(len(personal))),
                                 default=0),
        "name_rule_held": bool(rule), "named_links": sum(link_named),
    }


def long_show(store: TemplateStore, listener: Listener, settings: Settings, n: int,
              *, endless: bool = False) -> tuple[dict[str, Any], list[Committed]]:
    tracks = case_tracks(store, n)
    gaps = plan_gaps(as_plan(tracks), settings, closing=not endless)
    if endless:  # no total, no closing: the show goes on
        gaps = [dataclasses.replace(g, total=None) for g in gaps]
    script = ShowScript(listener, TemplateNarrator(store, seed=settings.seed), settings,
                        store=store)  # fmt: skip
    start = time.perf_counter()
    done = run_show(script, gaps, workers=1)
    figures = show_figures(done, listener, closing=not endless)
    figures["seconds_per_link"] = (time.perf_counter() - start) / max(1, len(done))
    return figures, done


def part_show(store: TemplateStore, settings: Settings) -> dict[str, Any]:
    listener = Listener(name="Alex", liked_artists=("Nina Simone", "Daft Punk"),
                        liked_genres=("jazz", "metal"))  # fmt: skip
    every = dataclasses.replace(settings, talk_cadence="every")
    out: dict[str, Any] = {}
    for label, s, n, endless in (("40 tracks, a link before every track", every, 40, False),
                                 ("40 tracks, default talk plan (sets)", settings, 40, False),
                                 ("8 hours endless (160 tracks), every track", every, 160, True)):
        figures, done = long_show(store, listener, s, n, endless=endless)
        out[label] = figures
        if n == 40 and s is every:
            out["sample"] = [c.line.text for c in done[:8]]
    print("\nLong show, offline narrator (listener named, two liked artists, two liked genres)")
    keys = ["lines", "identical_lines", "distinct_openings", "informative_links",
            "personal_links", "personal_max_in_3", "name_rule_held", "named_links",
            "seconds_per_link"]
    rows = [[k, *(_fmt(out[label][k], k) for label in out if label != "sample")] for k in keys]
    print_table(["figure", *(label for label in out if label != "sample")], rows)
    print("\nFirst lines of the 40-track show:")
    for text in out["sample"]:
        print(f"  {text}")
    return out


def _fmt(value: Any, key: str = "") -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.3f}" if key.endswith("_s") or key.startswith("seconds") else f"{value:.0%}"
    return str(value)


def part_guards(store: TemplateStore, settings: Settings) -> dict[str, Any]:
    score = score_guards(default_guards_dir(store.directory), settings)
    print(f"\nGuards: precision {score.precision:.1%} on {score.good} good lines, recall "
          f"{score.recall:.1%} on {score.bad} bad lines")
    print_table(["mistake", "refused", "caught first by"],
                [[k, f"{v:.0%}", ", ".join(f"{g} x{n}" for g, n in score.caught_by[k].items())]
                 for k, v in score.recall_by_kind.items()])
    for r in score.false_alarms:
        print(f"  refused good line: {r.case.text} ({'; '.join(r.problems)})")
    return {"precision": score.precision, "recall": score.recall, "good": score.good,
            "bad": score.bad, "recall_by_kind": score.recall_by_kind}


# ---------------------------------------------------------------------------- a dead LLM


class DeadServer:
    """Accepts connections on loopback and never answers (bounded: closes on exit)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(conn)  # read nothing, answer nothing

    def __enter__(self) -> DeadServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self.held:
            conn.close()
        self.sock.close()


def part_dead(store: TemplateStore, settings: Settings) -> dict[str, Any]:
    plan = as_plan(case_tracks(store, 12))
    listener = Listener(name="Alex")
    every = dataclasses.replace(settings, talk_cadence="every", llm_cache=False)
    write_script(plan, listener, TemplateNarrator(store), every, closing=True)  # warm caches
    start = time.perf_counter()
    template = write_script(plan, listener, TemplateNarrator(store), every, closing=True)
    template_s = time.perf_counter() - start
    out: dict[str, Any] = {"template_s": template_s, "links": len(template),
                           "llm_timeout_s": every.llm_timeout_s,
                           "llm_deadline_s": every.llm_deadline_s}  # fmt: skip
    with DeadServer() as server:
        dead = dataclasses.replace(every, narrator="openai", llm_base_url=server.url,
                                   llm_model="dead")  # fmt: skip
        circuit.reset_all()
        narrator = make_narrator("openai", dead, store=store)  # the SDK is imported here
        start = time.perf_counter()
        links = write_script(plan, listener, narrator, dead, closing=True)
        out["write_script_s"] = time.perf_counter() - start
        out["fallbacks"] = sum(lk.backend == "template" for lk in links)
        out["asked"] = len(server.held)
        circuit.reset_all()
        script = ShowScript(listener, make_narrator("openai", dead, store=store), dead)
        gaps = [g for g in plan_gaps(plan, dead, closing=True) if script.wants_link(g)]
        start = time.perf_counter()
        drafts: dict[int, Any] = {}
        pair = [threading.Thread(target=lambda g=g: drafts.__setitem__(g.before_track,
                                                                       script.prepare(g)))
                for g in gaps[:2]]  # fmt: skip
        for t in pair:
            t.start()
        for t in pair:
            t.join()
        said = [script.commit(drafts[g.before_track]) for g in gaps[:2]]
        said += [script.commit(script.prepare(g)) for g in gaps[2:]]
        out["two_prepares_s"] = time.perf_counter() - start
        out["reasons"] = sorted({(lk.fallback_reason or "")[:60] for lk in said if lk})
    out["extra_write_script_s"] = out["write_script_s"] - template_s
    out["extra_two_prepares_s"] = out["two_prepares_s"] - template_s
    print(f"\nDead LLM over a 12-track set ({out['links']} links; timeout "
          f"{every.llm_timeout_s:g} s per request, deadline {every.llm_deadline_s:g} s a line)")
    print_table(["narrator", "script stage s", "extra s"], [
        ["template", f"{template_s:.2f}", ""],
        ["dead openai server, write_script", f"{out['write_script_s']:.2f}",
         f"{out['extra_write_script_s']:.2f}"],
        ["dead openai server, 2 prepares in parallel", f"{out['two_prepares_s']:.2f}",
         f"{out['extra_two_prepares_s']:.2f}"],
    ])  # fmt: skip
    print(f"  requests the dead server received: {out['asked']}; fallback reasons: "
          f"{out['reasons']}")
    return out


def part_eval(args: argparse.Namespace, store: TemplateStore, settings: Settings,
              info: dict[str, Any]) -> dict[str, Any]:
    cases = load_cases(default_cases_dir(store), args.case)
    backends = ["template"]
    if local_available() and not args.skip_local:
        backends.append("local")
    else:
        print("local: skipped (pip install 'segue[local]' to include it)")
    if args.openai_base_url:
        settings = dataclasses.replace(settings, llm_base_url=args.openai_base_url,
                                       llm_model=args.openai_model)
        backends.append("openai")
    print(f"{len(cases)} cases")
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
            print(f"{r.label} fallbacks: " + "; ".join(f"{k} x{v}"
                                                       for k, v in r.fallback_reasons.items()))
    return {"cases": [c.name for c in cases], "model_load_s": loads,
            "runs": [{"label": r.label, "model": r.model, "metrics": r.metrics,
                      "fallback_reasons": r.fallback_reasons,
                      "latency": [dict(zip(("kind", "lines", "mean_s", "median_s", "p95_s",
                                            "max_s"), row, strict=True))
                                  for row in latency_rows(r)],
                      "lines": [dataclasses.asdict(ln) for ln in r.lines]} for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="show,guards,dead,eval",
                        help="comma-separated: show, guards, dead, eval")
    parser.add_argument("--no-speech", action="store_true", help="skip the spoken-fit metric")
    parser.add_argument("--case", action="append", default=[], help="only this case")
    parser.add_argument("--openai-base-url", default="",
                        help="also run an OpenAI-compatible server")
    parser.add_argument("--openai-model", default="", help="its model name")
    parser.add_argument("--skip-local", action="store_true", help="do not run the local model")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}

    store = TemplateStore()
    settings = Settings.from_env()
    info = machine()
    print(f"Machine: {info['cpu']}, {info['cores']} cores, load average "
          f"{info['load_average_1_5_15']}")
    results: dict[str, Any] = {"machine": info}
    if "show" in parts:
        results["show"] = part_show(store, settings)
    if "guards" in parts:
        results["guards"] = part_guards(store, settings)
    if "dead" in parts:
        results["dead_llm"] = part_dead(store, settings)
    if "eval" in parts:
        results["eval"] = part_eval(args, store, settings, info)
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nJSON: {RESULTS}")


if __name__ == "__main__":
    main()
