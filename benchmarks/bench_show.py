"""Show-engine benchmark: start-up, skips, an 8-hour endless show, a dead LLM server.

Usage::

    python benchmarks/bench_show.py                  # everything (about 15 minutes)
    python benchmarks/bench_show.py --only ttfb,skips --hours 1

Each part compares against a baseline in the same run and prints the ratio:

- **ttfb**: wall time from a new live show on an analysed library (``audio_samples/``,
  template narrator, espeak-ng voice) to its first rendered audio block, against the
  batch pipeline this engine replaced (plan the set, script and speak every link,
  lay out everything, then render the first block).
- **skips**: 20 skips at seeded moments of an endless show of ``audio_samples/``;
  the audio time from each call to the next track being heard (its first block
  above −40 dBFS after the cut), median and worst.
- **endless**: an endless show of ``--hours`` (default 8) over a library of 60
  synthetic tracks (2–4 minutes, 20 artists, tempi 90–150 BPM, all keys; known
  analysis) rendered as fast as possible to MP3; real-time factor, the process's
  RSS every audio hour (flat, not growing), repeats inside the repeat window,
  same-artist runs within three tracks, gaps (overlaps ≥ 0 between tracks, and
  0.5 s of audio below −50 dBFS). Baseline: the same engine on a one-hour finite
  set against the batch pipeline (timeline built up front, then rendered).
- **dead-llm**: a 12-track render with the ``openai`` narrator pointed at a server
  that accepts connections and never answers, against the template narrator.

Results go to ``benchmarks/results/show.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
CACHE = Path(os.environ.get("SEGUE_BENCH_CACHE", Path.home() / ".cache" / "segue" / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))

from memory import peak_rss_mb, rss_mb  # noqa: E402


def peak_children_mb() -> float:
    """At most the largest resident memory a finished child (decoder, encoder) reached.

    An upper bound: a child's ``ru_maxrss`` starts from this process's high-water mark
    at its ``exec`` (see :mod:`memory`).
    """
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def sample_library() -> Any:
    """``audio_samples/`` analysed (cached), as a Library."""
    from segue.library import Library

    library = Library([ROOT / "audio_samples"])
    library.scan([ROOT / "audio_samples"], background=False)
    return library


# --------------------------------------------------------------------------- ttfb


def ttfb(rounds: int = 5) -> dict[str, Any]:
    """Seconds to the first block: the live engine against the batch pipeline."""
    from segue.config import Settings
    from segue.mixing.render import render_blocks
    from segue.mixing.timeline import build_timeline, decide_handovers
    from segue.models import Listener
    from segue.narration import make_narrator, write_script
    from segue.sequencing import plan_order
    from segue.show.engine import Show
    from segue.voice.engines import make_engine
    from segue.voice.speech import SpeechCache, speak_links

    settings = Settings()
    library = sample_library()
    listener = Listener(name="Alex")
    voice = make_engine("pyttsx3", settings)
    voice.synthesize("Warming up the voice.")
    engine_s, batch_s = [], []
    for k in range(rounds):
        s = Settings(seed=k)
        start = time.perf_counter()
        show = Show(library, listener=listener, settings=s, voice=voice, endless=True, live=True)
        blocks = show.blocks()
        next(blocks)
        engine_s.append(time.perf_counter() - start)
        blocks.close()
        show.close()
        start = time.perf_counter()
        plan = plan_order(library.tracks(), settings=s)
        handovers = decide_handovers(plan, s)
        links = write_script(plan, listener, make_narrator("template", s), s, handovers=handovers)
        speeches, _ = speak_links(links, voice, s, SpeechCache(CACHE / "ttfb-speech" / str(k)))
        timeline = build_timeline(plan, speeches, s, handovers=handovers)
        next(iter(render_blocks(timeline, s)))
        batch_s.append(time.perf_counter() - start)
    return {"engine_s": engine_s, "batch_s": batch_s,
            "engine_median_s": statistics.median(engine_s),
            "batch_median_s": statistics.median(batch_s),
            "speedup": statistics.median(batch_s) / statistics.median(engine_s)}


# --------------------------------------------------------------------------- skips


def skips(count: int = 20) -> dict[str, Any]:
    """Audio seconds from each skip to the next track being heard."""
    from segue.config import Settings
    from segue.models import Listener
    from segue.show.engine import Show
    from segue.show.model import Reaction

    rng = np.random.default_rng(7)
    settings = Settings()
    library = sample_library()
    latencies: list[float] = []
    waits = rng.uniform(5.0, 20.0, size=count)
    with Show(library, listener=Listener(), settings=settings, endless=True) as show:
        asked: float | None = None
        starts_before = 0
        for block in show.blocks():
            now = show.now_playing()
            if asked is None and len(latencies) < count and now.song is not None and \
                    now.elapsed_s > waits[len(latencies)] and now.remaining_s > 15:  # fmt: skip
                asked = show.position_s
                starts_before = len(show.log.tracks)
                show.react(Reaction("skip"))
            elif asked is not None and len(show.log.tracks) > starts_before:
                new = show.log.tracks[starts_before].placed
                if show.position_s >= new.start_s + 0.5 and _loud(block):
                    latencies.append(new.start_s - asked)
                    asked = None
            if len(latencies) == count:
                break
    return {"count": len(latencies), "median_s": statistics.median(latencies),
            "worst_s": max(latencies), "latencies_s": [round(x, 3) for x in latencies]}


def _loud(block: np.ndarray) -> bool:
    return bool(20 * np.log10(np.sqrt(np.mean(block**2)) + 1e-12) > -40.0)


# --------------------------------------------------------------------------- endless


def synthetic_library(n: int = 60) -> list[Any]:
    """``n`` synthetic tracks with known analysis, written once under the bench cache."""
    from synthetic import SynthSpec, known_track

    rng = np.random.default_rng(3)
    folder = CACHE / "show-library"
    folder.mkdir(parents=True, exist_ok=True)
    tracks = []
    for i in range(n):
        bpm = float(rng.integers(90, 151))
        bars = int(rng.integers(2 * bpm / 4, 4 * bpm / 4))  # 2-4 minutes of 4/4 bars
        spec = SynthSpec(bpm=bpm, tonic=int(rng.integers(0, 12)),
                         mode="minor" if i % 3 else "major", intro_bars=4,
                         body_bars=max(8, bars - 8), outro_bars=4, seed=100 + i)  # fmt: skip
        tracks.append(known_track(folder / f"s{i:02d}.flac", spec, title=f"Piece {i}",
                                  artist=f"Artist {i % 20}", energy=0.2 + 0.6 * (i % 7) / 6,
                                  genre=("rock", "ambient")[i % 2]))  # fmt: skip
    return tracks


def endless(hours: float) -> dict[str, Any]:
    """An endless show of ``hours`` rendered to MP3 as fast as it goes."""
    from segue.config import Settings
    from segue.library import Library
    from segue.mixing.encode import FileSink, limiter_ceiling_dbfs
    from segue.models import Listener
    from segue.show.engine import Show

    tracks = synthetic_library()
    settings = Settings()
    out = CACHE / "show-endless.mp3"
    rss: list[tuple[float, float]] = []
    quiet_run, longest_quiet = 0, 0
    start = time.perf_counter()
    with Show(Library.of(tracks), listener=Listener(name="Alex"), settings=settings,
              endless=True, arc="wave", stop_after_s=hours * 3600,
              ceiling_dbfs=limiter_ceiling_dbfs(out, settings.ceiling_dbfs)) as show, \
            FileSink(out, sr=settings.sample_rate) as sink:  # fmt: skip
        next_sample = 0.0
        for block in show.blocks():
            sink.write(block)
            quiet_run = quiet_run + block.shape[1] if not _audible(block) else 0
            longest_quiet = max(longest_quiet, quiet_run)
            if show.position_s >= next_sample:
                rss.append((round(show.position_s / 3600, 2), round(rss_mb(), 1)))
                next_sample += 1800.0
        wall = time.perf_counter() - start
        entries = list(show.log.tracks)
        rules = show._rules
    rss.append((round(show.position_s / 3600, 2), round(rss_mb(), 1)))
    return {"hours": hours, "peak_rss_mb": round(peak_rss_mb(), 1),
            "audio_s": round(show.position_s, 1), "wall_s": round(wall, 1),
            "realtime_factor": round(show.position_s / wall, 1), "rss_mb": rss,
            "rss_growth_mb": round(rss[-1][1] - rss[1][1], 1) if len(rss) > 2 else 0.0,
            "children_peak_mb": round(peak_children_mb(), 1), "tracks": len(entries),
            **_rules_held(entries, rules.repeat_window_s),
            "longest_quiet_s": round(longest_quiet / settings.sample_rate, 2)}


def endless_in_child(hours: float) -> dict[str, Any]:
    """:func:`endless` in a fresh process (its RSS is then the show's, not this bench's)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "endless.json"
        subprocess.run([sys.executable, __file__, "--hours", str(hours), "--child-endless",
                        str(out)], check=True)  # fmt: skip
        result: dict[str, Any] = json.loads(out.read_text())
    return result


def _audible(block: np.ndarray) -> bool:
    return bool(20 * np.log10(np.sqrt(np.mean(block**2)) + 1e-12) > -50.0)


def _rules_held(entries: list[Any], window_s: float) -> dict[str, Any]:
    repeats, artist_runs, gaps = 0, 0, 0
    last: dict[str, float] = {}
    for k, e in enumerate(entries):
        if e.id in last and e.placed.start_s - last[e.id] < window_s:
            repeats += 1
        last[e.id] = e.placed.start_s
        near = [x.track.tags.artist for x in entries[max(0, k - 3) : k]]
        artist_runs += e.track.tags.artist in near
        if k and e.placed.start_s > entries[k - 1].placed.end_s:
            gaps += 1
    return {"repeats_in_window": repeats, "artist_within_3": artist_runs, "gaps": gaps,
            "window_h": round(window_s / 3600, 2)}


def finite_vs_batch(tracks: list[Any]) -> dict[str, Any]:
    """The engine against the batch pipeline on the same finite set: real-time factors."""
    from segue.config import Settings
    from segue.library import Library
    from segue.mixing.render import render_blocks
    from segue.mixing.timeline import build_timeline, decide_handovers
    from segue.models import Listener
    from segue.narration import make_narrator, write_script
    from segue.sequencing import plan_order
    from segue.show.engine import Show
    from segue.voice.engines import make_engine
    from segue.voice.speech import SpeechCache, speak_links

    settings = Settings()
    chosen = tracks[:20]
    plan = plan_order(chosen, settings=settings)
    voice = make_engine("pyttsx3", settings)
    listener = Listener(name="Alex")
    start = time.perf_counter()
    with Show(Library.of(chosen), listener=listener, settings=settings, voice=voice,
              endless=False, plan=plan) as show:  # fmt: skip
        for _ in show.blocks():
            pass
    engine_wall = time.perf_counter() - start
    start = time.perf_counter()
    handovers = decide_handovers(plan, settings)
    links = write_script(plan, listener, make_narrator("template", settings), settings,
                         handovers=handovers, closing=True)  # fmt: skip
    speeches, _ = speak_links(links, voice, settings, SpeechCache(CACHE / "batch-speech"))
    timeline = build_timeline(plan, speeches, settings, handovers=handovers)
    for _ in render_blocks(timeline, settings):
        pass
    batch_wall = time.perf_counter() - start
    return {"audio_s": round(show.position_s, 1),
            "engine_x": round(show.position_s / engine_wall, 1),
            "batch_x": round(timeline.duration_s / batch_wall, 1),
            "ratio": round(batch_wall / engine_wall, 2)}


# --------------------------------------------------------------------------- dead llm


def dead_llm() -> dict[str, Any]:
    """Seconds a 12-track render costs with a dead LLM server, against the template."""
    import dataclasses

    from segue.circuit import reset_all
    from segue.config import Settings
    from segue.pipeline import render_set

    tracks = synthetic_library()[:12]
    paths = [t.path for t in tracks]
    out = CACHE / "dead-llm"
    out.mkdir(parents=True, exist_ok=True)
    base = Settings(align_by_ear=False, llm_cache=False)
    from bench_narration import DeadServer

    times = {}
    render_set(paths, out / "warm-up.wav", settings=base)  # speech cached, code loaded
    with DeadServer() as server:
        for name, settings in (
            ("template", base),
            ("openai-dead", dataclasses.replace(base, narrator="openai",
                                                llm_base_url=server.url, llm_model="m")),
        ):  # fmt: skip
            reset_all()
            from segue.narration import make_narrator

            start = time.perf_counter()
            result = render_set(paths, out / f"{name}.wav", settings=settings,
                                narrator=make_narrator(settings.narrator, settings))
            times[name] = time.perf_counter() - start
            times[f"{name}_fallbacks"] = sum(1 for lk in result.timeline.links if lk.fallback)
    return {**{k: round(v, 2) for k, v in times.items()},
            "extra_s": round(times["openai-dead"] - times["template"], 2)}


# --------------------------------------------------------------------------- render memory

#: Run in the child: segue's CLI, then this process's peak memory (VmHWM) into a file.
_CLI_WITH_PEAK = (
    "import atexit, sys, pathlib\n"
    "out = sys.argv[1]\n"
    "atexit.register(lambda: [pathlib.Path(out).write_text(ln.split()[1])\n"
    "    for ln in open('/proc/self/status') if ln.startswith('VmHWM:')])\n"
    "del sys.argv[1]\n"
    "from segue.cli import app\n"
    "app(prog_name='segue')\n"
)


def render_memory(minutes: list[float]) -> list[dict[str, Any]]:
    """``segue render`` as a user runs it, an endless show of ``minutes`` over 18 hard masters.

    The peak resident memory of segue's own process (its ffmpeg decoders, encoders and
    the ear's and voice's workers are separate processes, reported apart), its
    speed, and the decoded file's true peak.
    """
    import subprocess
    import tempfile

    sys.path.insert(0, str(HERE))
    from bench_mix import hard_corpus, true_peak_dbtp

    paths = [str(p) for p in hard_corpus()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for m in minutes:
            out, peak_file = Path(tmp) / f"render-{m:g}.mp3", Path(tmp) / "peak"
            start = time.perf_counter()
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            done = subprocess.run([sys.executable, "-c", _CLI_WITH_PEAK, str(peak_file), "render",
                                   *paths, "-o", str(out), "--duration", f"{m:g}m"],
                                  capture_output=True, text=True, check=False)  # fmt: skip
            wall = time.perf_counter() - start
            data = json.loads(out.with_suffix(".json").read_text())
            rows.append({
                "minutes": round(data["duration_s"] / 60, 1), "exit": done.returncode,
                "tracks": len(data["tracks"]), "distinct": len({t["path"] for t in data["tracks"]}),
                "links": len(data["links"]),
                "peak_rss_mb": round(int(peak_file.read_text()) / 1024),
                "children_peak_mb": round(max(before, resource.getrusage(
                    resource.RUSAGE_CHILDREN).ru_maxrss) / 1024),
                "x_realtime": round(data["duration_s"] / wall, 1),
                "true_peak_dbtp": round(true_peak_dbtp(out), 2),
            })  # fmt: skip
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


# --------------------------------------------------------------------------- main


def machine() -> str:
    """CPU, cores and load, for the README."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), platform.processor())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    python = platform.python_version()
    return f"{os.cpu_count()} cores of {cpu}, load average {load}, Python {python}"


def main() -> None:
    """Run the chosen parts and write ``benchmarks/results/show.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="ttfb,skips,endless,dead-llm")
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--child-endless", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_endless:  # a fresh process, so its memory is the show's alone
        args.child_endless.write_text(json.dumps(endless(args.hours)))
        return
    os.environ.setdefault("SEGUE_CACHE_DIR", str(CACHE / "segue-cache"))
    parts = args.only.split(",")
    results: dict[str, Any] = {"machine": machine()}
    if "ttfb" in parts:
        results["ttfb"] = r = ttfb()
        print(f"first block: engine {r['engine_median_s']:.3f} s, batch {r['batch_median_s']:.2f}"
              f" s (median of 5): {r['speedup']:.1f}x sooner")
    if "skips" in parts:
        results["skips"] = r = skips()
        print(f"skip latency over {r['count']} skips: median {r['median_s']:.2f} s, "
              f"worst {r['worst_s']:.2f} s of audio")
    if "endless" in parts:
        results["finite"] = r = finite_vs_batch(synthetic_library())
        print(f"finite set of {r['audio_s'] / 60:.0f} min: engine {r['engine_x']}x real time, "
              f"batch {r['batch_x']}x (batch/engine wall {r['ratio']})")
        results["endless"] = r = endless_in_child(args.hours)
        print(f"endless {r['hours']} h: {r['realtime_factor']}x real time, {r['tracks']} tracks, "
              f"RSS by hour {r['rss_mb']} (growth {r['rss_growth_mb']} MB, peak "
              f"{r['peak_rss_mb']} MB; children at most {r['children_peak_mb']} MB), repeats in "
              f"{r['window_h']} h window {r['repeats_in_window']}, artist within 3: "
              f"{r['artist_within_3']}, gaps {r['gaps']}, longest quiet {r['longest_quiet_s']} s")
    if "render-memory" in parts:
        results["render_memory"] = rows = render_memory([80.0, 160.0])
        for r in rows:
            print(f"segue render, {r['minutes']} min ({r['tracks']} tracks, {r['distinct']} "
                  f"distinct): peak RSS {r['peak_rss_mb']} MB (children at most "
                  f"{r['children_peak_mb']} MB), {r['x_realtime']}x real time, true peak "
                  f"{r['true_peak_dbtp']} dBTP, exit {r['exit']}")
    if "dead-llm" in parts:
        results["dead_llm"] = r = dead_llm()
        print(f"12 tracks, dead LLM server: {r['openai-dead']:.1f} s against the template's "
              f"{r['template']:.1f} s: {r['extra_s']:+.1f} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "show.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{results['machine']}\nresults: {RESULTS / 'show.json'}")


if __name__ == "__main__":
    main()
