"""Track analysis benchmark: segue against a plain librosa baseline and Essentia.

Usage (from the repository root; the first run builds the sets, see analysis_sets.py)::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/bench_analysis.py            # everything
    .venv/bin/python benchmarks/bench_analysis.py --systems segue --sets real

Each system runs in its own process, one file after another on one core, so the
CPU time (process + its ffmpeg children) and the peak RSS belong to it alone:

- **segue**: :func:`segue.analysis.analyze_file`, the full analysis (decode, loudness,
  tempo, key, cues, energy, timbre).
- **librosa**: ``librosa.load(sr=22050)`` + ``beat_track`` + ``chroma_cqt`` (mean chroma
  against Krumhansl–Kessler profiles) + ``rms``. Its worker starts with an empty numba
  cache, so its first file shows the JIT compile cost of a fresh environment.
- **essentia**: ``MonoLoader(44100)`` + ``RhythmExtractor2013`` (multifeature) +
  ``KeyExtractor``.

Reported: tempo Acc1 (within 4 %) and Acc2 (also ×2, ×½, ×3, ×⅓) on the real,
synthetic and MIDI sets (segue's octave weights are fitted on the synthetic and MIDI
sets; the real set is held out), the MIREX key score on the FluidSynth key sets (plain
cadences, and the harder set with inversions, secondary dominants, borrowed chords,
passing tones and sparse textures), cue
accuracy (intro end and outro start within one bar) on the synthetic set, seconds of
CPU per track, the real-time factor on one core (audio seconds per CPU second; over every
set but the MIDI one), the first-file cost and the peak RSS. Results go to
``benchmarks/results/analysis.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis_sets import (
    Item,
    hard_key_set,
    key_set,
    midi_tempo_set,
    mirex_score,
    real_tempo_set,
    synthetic_set,
)

RESULTS = Path(__file__).resolve().parent / "results"
SYSTEMS = ("segue", "librosa", "essentia")
PITCHES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_ALIASES = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb"}


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# ---------------------------------------------------------------- workers (one process each)

def _run_segue(path: str) -> dict[str, Any]:
    from segue.analysis import analyze_file

    a = analyze_file(path).analysis
    return {"bpm": a.bpm, "key": a.key, "duration_s": a.duration_s,
            "intro_end_s": a.intro_end_s, "outro_start_s": a.outro_start_s,
            "first_sound_s": a.first_sound_s, "last_sound_s": a.last_sound_s,
            "bpm_confidence": a.bpm_confidence, "key_confidence": a.key_confidence,
            "vocal_onset_s": a.vocal_onset_s, "vocal_confidence": a.vocal_confidence}


def _run_librosa(path: str) -> dict[str, Any]:
    import librosa
    import numpy as np

    y, sr = librosa.load(path, sr=22050, mono=True)
    tempo, _beats = librosa.beat.beat_track(y=y, sr=sr)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr)
    librosa.feature.rms(y=y)
    profile = chroma.mean(axis=1)
    major = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
    minor = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
    scores = [np.corrcoef(profile, np.roll(p, t))[0, 1] for p in (major, minor) for t in range(12)]
    best = int(np.nanargmax(scores))
    key = f"{PITCHES[best % 12]} {'major' if best < 12 else 'minor'}"
    return {"bpm": float(np.atleast_1d(tempo)[0]), "key": key, "duration_s": len(y) / sr}


def _run_essentia(path: str) -> dict[str, Any]:
    import essentia.standard as es

    audio = es.MonoLoader(filename=path, sampleRate=44100)()
    bpm = es.RhythmExtractor2013()(audio)[0]
    key, scale, _strength = es.KeyExtractor()(audio)
    key = _ALIASES.get(key, key)
    return {"bpm": float(bpm), "key": f"{key} {scale}", "duration_s": len(audio) / 44100}


def worker(system: str, items_file: str, out_file: str) -> None:
    """Run ``system`` over the items in ``items_file``; write per-item results."""
    import logging

    logging.disable(logging.WARNING)
    run = {"segue": _run_segue, "librosa": _run_librosa, "essentia": _run_essentia}[system]
    t0 = _cpu()
    if system == "segue":
        import segue.analysis  # noqa: F401  (import cost belongs to the first file)
    items = json.loads(Path(items_file).read_text())
    rows = []
    for n, it in enumerate(items):
        start = _cpu() if n else t0
        wall = time.perf_counter()
        try:
            res = run(it["path"])
            res["error"] = None
        except Exception as exc:  # a baseline failing on a file is a result too
            res = {"error": f"{type(exc).__name__}: {exc}"}
        res["cpu_s"] = _cpu() - start
        res["wall_s"] = time.perf_counter() - wall
        res["name"] = it["name"]
        rows.append(res)
    Path(out_file).write_text(json.dumps(rows))


def run_system(system: str, items: list[Item]) -> tuple[list[dict[str, Any]], float]:
    """Run a worker process; its rows and its peak RSS in MB."""
    with tempfile.TemporaryDirectory() as tmp:
        items_file, out_file = Path(tmp) / "items.json", Path(tmp) / "out.json"
        items_file.write_text(json.dumps([asdict(i) for i in items]))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
        if system == "librosa":
            env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "numba")  # a fresh environment
        proc = subprocess.Popen([sys.executable, __file__, "--worker", system, str(items_file),
                                 str(out_file)], env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise RuntimeError(f"{system} worker failed with status {status}")
        return json.loads(out_file.read_text()), usage.ru_maxrss / 1024.0


# ---------------------------------------------------------------- scoring

def tempo_scores(items: list[Item], rows: list[dict[str, Any]]) -> dict[str, float]:
    """Acc1 and Acc2 in percent."""
    acc1 = acc2 = 0
    for it, r in zip(items, rows, strict=True):
        bpm = r.get("bpm") or 0.0
        truth = float(it.bpm or 0.0)
        if abs(bpm / truth - 1) <= 0.04:
            acc1 += 1
        if any(abs(bpm / (truth * f) - 1) <= 0.04 for f in (1, 2, 0.5, 3, 1 / 3)):
            acc2 += 1
    return {"acc1": 100.0 * acc1 / len(items), "acc2": 100.0 * acc2 / len(items)}


def mirex(tonic: int, mode: str, key: str) -> float:
    """MIREX weighted key score of a key name such as ``"A minor"`` (see mirex_score)."""
    name, _, est_mode = key.partition(" ")
    if name not in PITCHES:
        return 0.0
    return mirex_score(tonic, mode, PITCHES.index(name), est_mode)


def speed(rows: list[dict[str, Any]]) -> dict[str, float]:
    """CPU seconds per track, real-time factor per core (warm), first-file CPU seconds."""
    ok = [r for r in rows if r.get("error") is None]
    warm = ok[1:] or ok
    audio = sum(r["duration_s"] for r in warm)
    cpu = sum(r["cpu_s"] for r in warm)
    per_3min = 180.0 * cpu / audio if audio else float("nan")
    return {"cpu_s_per_track": cpu / len(warm) if warm else float("nan"),
            "rtf_per_core": audio / cpu if cpu else float("nan"),
            "cpu_s_per_3min_track": per_3min,
            "first_file_cpu_s": rows[0]["cpu_s"] if rows else float("nan")}


def machine() -> str:
    """CPU model and core count (lscpu), for the README."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(ln.split(":", 1)[1].strip() for ln in out.splitlines()
                     if ln.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--sets", default="real,synthetic,midi,keys,keys-dev,keys-hard",
                    help="comma-separated: real, synthetic, midi, keys, keys-dev (the hard "
                         "key set's development variant, for tuning), keys-hard (its test set)")
    args = ap.parse_args()
    systems = [s for s in args.systems.split(",") if s]
    wanted = set(args.sets.split(","))
    sets: dict[str, list[Item]] = {}
    if "real" in wanted:
        sets["real"] = real_tempo_set()
    if "synthetic" in wanted:
        sets["synthetic"] = synthetic_set()
    if "midi" in wanted:
        sets["midi"] = midi_tempo_set()
    if "keys" in wanted:
        sets["keys"] = key_set()
    if "keys-dev" in wanted:
        sets["keys-dev"] = hard_key_set(dev=True)
    if "keys-hard" in wanted:
        sets["keys-hard"] = hard_key_set()
    report: dict[str, Any] = {"machine": machine(), "systems": {}}
    previous = RESULTS / "analysis.json"
    if previous.exists():  # keep the other systems' figures when rerunning some
        old = json.loads(previous.read_text()).get("systems", {})
        report["systems"] = {k: v for k, v in old.items() if k not in systems}
    for system in systems:
        try:
            if system == "essentia":
                import essentia  # noqa: F401
        except ImportError as exc:
            report["systems"][system] = {"unavailable": str(exc)}
            print(f"{system}: unavailable ({exc})")
            continue
        out: dict[str, Any] = {}
        all_rows: list[dict[str, Any]] = []
        peak = 0.0
        for name, items in sets.items():
            rows, rss = run_system(system, items)
            peak = max(peak, rss)
            if name not in ("midi", "keys-dev"):  # speed over the same files as before
                all_rows += rows
            entry: dict[str, Any] = {"rows": rows, "peak_rss_mb": rss, **speed(rows)}
            errors = [r["error"] for r in rows if r.get("error")]
            entry["errors"] = len(errors)
            if name in ("real", "synthetic", "midi"):
                entry.update(tempo_scores(items, rows))
            if name in ("keys", "keys-dev", "keys-hard"):
                entry["mirex"] = sum(mirex(int(i.tonic or 0), str(i.mode), r.get("key", ""))
                                     for i, r in zip(items, rows, strict=True)) / len(items)
            if name == "synthetic" and system == "segue":
                hits = [abs(r["intro_end_s"] - float(i.intro_end_s or 0)) <= float(i.bar_s or 0)
                        and abs(r["outro_start_s"] - float(i.outro_start_s or 0))
                        <= float(i.bar_s or 0) for i, r in zip(items, rows, strict=True)]
                entry["cues_within_one_bar"] = 100.0 * sum(hits) / len(hits)
            out[name] = entry
            print(f"{system:9s} {name:10s} done ({len(items)} files)", flush=True)
        out["overall"] = {"peak_rss_mb": peak, **speed(all_rows)}
        report["systems"][system] = out
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "analysis.json").write_text(json.dumps(report, indent=1))
    print_report(report)
    return 0


def print_report(report: dict[str, Any]) -> None:
    """The summary table (markdown, ready for the README)."""
    print(f"\nMachine: {report['machine']}\n")
    print("| | " + " | ".join(report["systems"]) + " |")
    print("|---|" + "---|" * len(report["systems"]))

    def cell(system: str, set_name: str, key: str, fmt: str) -> str:
        entry = report["systems"][system]
        if "unavailable" in entry or set_name not in entry or key not in entry[set_name]:
            return "n/a"
        return format(entry[set_name][key], fmt)

    lines = [
        ("tempo Acc1, real (%)", "real", "acc1", ".1f"),
        ("tempo Acc2, real (%)", "real", "acc2", ".1f"),
        ("tempo Acc1, synthetic (%)", "synthetic", "acc1", ".1f"),
        ("tempo Acc2, synthetic (%)", "synthetic", "acc2", ".1f"),
        ("tempo Acc1, MIDI set (%)", "midi", "acc1", ".1f"),
        ("tempo Acc2, MIDI set (%)", "midi", "acc2", ".1f"),
        ("key, MIREX score", "keys", "mirex", ".3f"),
        ("key, MIREX score, hard set, development variant", "keys-dev", "mirex", ".3f"),
        ("key, MIREX score, hard set", "keys-hard", "mirex", ".3f"),
        ("cues within one bar, synthetic (%)", "synthetic", "cues_within_one_bar", ".1f"),
        ("CPU s per 3-min track", "overall", "cpu_s_per_3min_track", ".2f"),
        ("real-time factor per core", "overall", "rtf_per_core", ".0f"),
        ("first file, CPU s (incl. imports/JIT)", "real", "first_file_cpu_s", ".1f"),
        ("peak RSS (MB)", "overall", "peak_rss_mb", ".0f"),
    ]
    for label, set_name, key, fmt in lines:
        print(f"| {label} | " + " | ".join(cell(s, set_name, key, fmt)
                                          for s in report["systems"]) + " |")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4])
        sys.exit(0)
    sys.exit(main())
