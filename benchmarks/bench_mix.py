"""Mix benchmark: speed and memory of the renderer against pydub, and mix quality.

Usage::

    python benchmarks/bench_mix.py                 # 15-, 60- and 120-minute sets
    python benchmarks/bench_mix.py --minutes 15    # one length
    python benchmarks/bench_mix.py --no-baseline   # skip pydub

The music is real: Debian's ``singularity-music`` (13 pieces) and
``fretsonfire-songs-muldjord`` (4 songs, song + guitar stems mixed), fetched
with ``apt-get download`` + ``dpkg -x`` by ``debian_music.py`` and cycled to
fill each length. Tracks are analysed once (cached), ordered by segue's
planner, narrated by the template narrator and spoken by pyttsx3; then:

- **speed and memory**: the render stage (timeline → encoded MP3, VBR
  ``-q:a 2``) runs in a fresh process per length and reports wall time and peak
  RSS; the baseline, in the same run, decodes the same tracks with pydub,
  joins them with ``append(crossfade=...)`` and exports them with the same
  encoder settings.
- **quality**, measured on the rendered file (decoded again) and on stems from
  the same renderer: each track's loudness where it plays alone, true peak
  (ffmpeg's ebur128 meter, 4× oversampling), gaps below −50 dBFS, links that
  end before their track's intro end, speech level over the ducked music, and
  the beat offset inside beatmatched overlaps (librosa's beat tracker on each
  track's rendered part of the overlap).

With ``--hard`` (and ``--memory 80 160``) it measures on the hardest music we have
(``hard_masters.py``: Debian's loudest and quietest masters and loudness-war ones):
the true peak of every output format as decoded (files and streams, with and without
the codec guard, metered by ffmpeg and by segue), the guard's cost in loudness and
speed, the make-up prediction against the mixer's real limiter track by track, and
peak RSS of the render stage at each length (RSS every 10 minutes of mix, and
tracemalloc's largest Python allocation sites).

Results go to ``benchmarks/results/mix.json`` (``mix-hard.json``, ``mix-memory.json``)
and a table on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = Path(os.environ.get("SEGUE_BENCH_CACHE", Path.home() / ".cache" / "segue" / "bench"))
sys.path.insert(0, str(HERE))

from memory import peak_rss_mb, rss_mb  # noqa: E402

# --------------------------------------------------------------------------- corpus


def corpus() -> list[Path]:
    """Real tracks from Debian packages, as files segue can read (stems pre-mixed)."""
    from debian_music import fetch

    tracks: list[Path] = []
    sing = fetch("singularity-music") / "usr/share/games/singularity/music"
    tracks += sorted(p for p in sing.glob("*.ogg"))
    songs = fetch("fretsonfire-songs-muldjord") / "usr/share/games/fretsonfire/data/songs/muldjord"
    out = CACHE / "stems"
    out.mkdir(parents=True, exist_ok=True)
    for folder in sorted(p for p in songs.iterdir() if p.is_dir()):
        mixed = out / f"muldjord-{folder.name}.flac"
        if not mixed.is_file():
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-i", str(folder / "song.ogg"), "-i",
                 str(folder / "guitar.ogg"), "-filter_complex",
                 "amix=inputs=2:normalize=0,volume=0.5", str(mixed)],
                check=True,
            )
        tracks.append(mixed)
    return tracks


def hard_corpus() -> list[Path]:
    """18 distinct hard masters: Debian's loudest and quietest, and loudness-war ones."""
    import hard_masters

    return hard_masters.loud() + hard_masters.quiet() + hard_masters.war()


def analysed(paths: list[Path]) -> list[Any]:
    """segue's analysis of each path, cached by path, modification time and analyser version."""
    from segue.analysis import analyze_file
    from segue.analysis.analyze import ANALYZER_VERSION

    store = CACHE / "analysis.pickle"
    cached: dict[str, Any] = pickle.loads(store.read_bytes()) if store.is_file() else {}
    out = []
    for p in paths:
        key = f"{p}:{p.stat().st_mtime_ns}:{ANALYZER_VERSION}"
        if key not in cached:
            t0 = time.perf_counter()
            cached[key] = analyze_file(p)
            print(f"  analysed {p.name} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        out.append(cached[key])
    store.write_bytes(pickle.dumps(cached))
    return out


def build_set(minutes: float, tracks: list[Any]) -> tuple[Any, Any]:
    """A narrated timeline of about ``minutes``: tracks cycled, planned, spoken."""
    from segue.config import Settings
    from segue.mixing.timeline import build_timeline, decide_handovers
    from segue.models import Listener
    from segue.narration import write_script
    from segue.narration.narrator import TemplateNarrator
    from segue.narration.templates import TemplateStore
    from segue.sequencing import plan_order
    from segue.voice.pyttsx3_engine import Pyttsx3Engine
    from segue.voice.speech import SpeechCache, speak_links

    chosen, total, i = [], 0.0, 0
    while total < minutes * 60:
        track = tracks[i % len(tracks)]
        if i >= len(tracks):  # a repeat gets its own identity so plans stay sane
            # The planner plays a path once, so a repeat is a hard link under another name.
            link = CACHE / "repeats" / str(i // len(tracks)) / Path(track.path).name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                os.link(track.path, link)
            track = dataclasses.replace(track, path=str(link), tags=dataclasses.replace(
                track.tags, title=f"{track.tags.title} (reprise {i // len(tracks)})"))
        chosen.append(track)
        total += track.analysis.duration_s * 0.93  # overlaps eat a little
        i += 1
    settings = Settings()
    plan = plan_order(chosen)
    handovers = decide_handovers(plan, settings)
    listener = Listener(name="Alex", liked_artists=("Muldjord",))
    links = write_script(plan, listener, TemplateNarrator(TemplateStore()), settings,
                         handovers=handovers)
    with Pyttsx3Engine() as engine:
        speeches, _ = speak_links(links, engine, settings, SpeechCache(CACHE / "speech"))
    from segue.mixing.encode import limiter_ceiling_dbfs

    ceiling = limiter_ceiling_dbfs(Path("mix.mp3"), settings.ceiling_dbfs)  # as rendered
    timeline = build_timeline(plan, speeches, settings, handovers=handovers,
                              ceiling_dbfs=ceiling)
    return plan, timeline


# --------------------------------------------------------------------------- children


def child_render(job: Path) -> None:
    """Child process: render a pickled timeline to a file, report time and memory.

    Memory: peak RSS (VmHWM), RSS sampled every 10 s of mix (flat or growing?) and,
    with ``trace`` set, Python's own largest allocation sites (tracemalloc).
    """
    from segue.config import Settings
    from segue.mixing.encode import FileSink, limiter_ceiling_dbfs
    from segue.mixing.render import render_blocks

    timeline, out, options = pickle.loads(job.read_bytes())
    if options.get("trace"):
        import tracemalloc

        tracemalloc.start(8)
    start_rss = rss_mb()
    t0 = time.perf_counter()
    ceiling = limiter_ceiling_dbfs(Path(out), Settings().ceiling_dbfs)
    samples, done, every = [], 0, 600 * timeline.sr
    with FileSink(Path(out), sr=timeline.sr, guard=options.get("guard", True)) as sink:
        for block in render_blocks(timeline, Settings(), ceiling_dbfs=ceiling):
            sink.write(block)
            done += block.shape[1]
            if done // every > len(samples):
                samples.append(round(rss_mb()))
    wall = time.perf_counter() - t0
    report = {"wall_s": wall, "rss_mb": peak_rss_mb(), "start_rss_mb": start_rss,
              "rss_every_10min_mb": samples,
              "speech_mb": sum(sp.samples.nbytes for sp in timeline.speech) / 2**20}
    if options.get("trace"):
        import tracemalloc

        snap = tracemalloc.take_snapshot()
        report["python_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        report["top_allocations"] = [f"{st.size / 2**20:.1f} MB {st.traceback[0]}"
                                     for st in snap.statistics("lineno")[:6]]
    print(json.dumps(report))


def child_pydub(job: Path) -> None:
    """Child process: the pydub baseline over the same tracks and overlaps."""
    from pydub import AudioSegment

    timeline, out, _ = pickle.loads(job.read_bytes())
    t0 = time.perf_counter()
    mix = None
    for tr in timeline.tracks:
        seg = AudioSegment.from_file(tr.path).set_frame_rate(44100).set_channels(2)
        seg = seg[round(tr.source_in_s * 1000) : round(tr.source_out_s * 1000)]
        mix = seg if mix is None else mix.append(seg, crossfade=round(tr.crossfade_s * 1000))
    assert mix is not None
    mix.export(out, format="mp3", codec="libmp3lame", parameters=["-q:a", "2"])
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "rss_mb": peak_rss_mb(), "duration_s": len(mix) / 1000}))



def run_child(kind: str, job: Path) -> dict[str, Any]:
    """Run a child mode of this script; its own peak RSS comes back as JSON."""
    proc = subprocess.run([sys.executable, __file__, f"--child-{kind}", str(job)],
                          capture_output=True, text=True, check=True)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- quality


def decode(path: Path, sr: int) -> np.ndarray:
    """Stereo float32 samples of ``path``."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "2",
                          "-ar", str(sr), "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 2).T


def true_peak_dbtp(path: Path) -> float:
    """Output true peak from ffmpeg's ebur128 filter (independent of segue's limiter)."""
    proc = subprocess.run(["ffmpeg", "-nostats", "-i", str(path), "-af",
                           "aformat=channel_layouts=stereo,ebur128=peak=true",
                           "-f", "null", "-"], capture_output=True, text=True, check=True)
    found = re.findall(r"Peak:\s+(-?[\d.]+|-inf) dBFS", proc.stderr)
    return float(found[-1])


def track_deviations(timeline: Any, mix: np.ndarray) -> list[float]:
    """Each track's loudness where it plays alone and nobody talks, minus the target (LU)."""
    import pyloudnorm

    sr = timeline.sr
    meter = pyloudnorm.Meter(sr)
    talk = np.zeros(mix.shape[1], bool)
    for lk in timeline.links:
        talk[round((lk.start_s - 0.2) * sr) : round((lk.end_s + 0.6) * sr)] = True
    deviations = []
    for tr in timeline.tracks:
        a, b = round((tr.start_s + tr.fade_in_s) * sr), round((tr.end_s - tr.fade_out_s) * sr)
        keep = ~talk[a:b]
        if keep.sum() < 5 * sr:
            continue
        lufs = meter.integrated_loudness(mix[:, a:b][:, keep].T.astype(np.float64))
        deviations.append(float(lufs - timeline.target_lufs))
    return deviations


def quality(timeline: Any, mix_path: Path) -> dict[str, Any]:
    """Quality figures of one rendered set."""
    from segue.config import Settings
    from segue.mixing.render import render_blocks

    sr = timeline.sr
    settings = Settings()
    mix = decode(mix_path, sr)
    deviations = track_deviations(timeline, mix)
    # Gaps: runs of 50 ms frames below −50 dBFS, inside the set.
    hop = int(0.05 * sr)
    frames = mix[:, : mix.shape[1] // hop * hop].reshape(2, -1, hop)
    db = 10 * np.log10((frames**2).mean(axis=(0, 2)) + 1e-12)
    quiet = db < -50
    longest, run = 0, 0
    for q in quiet[int(1 / 0.05) : -int(3 / 0.05)]:
        run = run + 1 if q else 0
        longest = max(longest, run)
    # Links that finish before their track's intro end.
    posts = [lk.end_s <= timeline.tracks[lk.before_track].intro_end_s + 1e-3
             for lk in timeline.links if lk.before_track < len(timeline.tracks)]
    # Speech over ducked music: stems from the same renderer.
    music = np.concatenate(list(render_blocks(timeline, settings, voice=False)), axis=1)
    voice = np.concatenate(list(render_blocks(timeline, settings, music=False)), axis=1)
    # K-weighted (BS.1770), so the level difference is the one a listener hears.
    from scipy.signal import sosfilt

    from segue.analysis.loudness import k_weighting

    weighting = k_weighting(sr)
    ratios = []
    for lk in timeline.links:
        a, b = round(lk.start_s * sr), round(lk.end_s * sr)
        v = float(np.mean(sosfilt(weighting, voice[:, a:b], axis=1) ** 2))
        m = float(np.mean(sosfilt(weighting, music[:, a:b], axis=1) ** 2)) * 10 ** (lk.duck_db / 10)
        if m > 1e-12:
            ratios.append(10 * np.log10(v / m))
    joins = beatmatch_joins(timeline, settings)
    lags = [abs(j["onset_lag_s"]) for j in joins]
    judged: dict[str, Any] = {}
    for judge in ("librosa", "essentia"):
        found = [j[judge] for j in joins if judge in j]
        pooled = [o for f in found for o in f["offsets_s"]]
        flams = [abs(f["systematic_ms"]) for f in found if f.get("systematic_ms") is not None]
        if found:
            judged[f"beat_offset_ms_median_{judge}"] = (1000 * float(np.median(pooled))
                                                        if pooled else None)
            judged[f"join_offset_ms_median_{judge}"] = (float(np.median(flams))
                                                        if flams else None)
    return {
        "tracks_within_1lu": float(np.mean(np.abs(deviations) <= 1.0)) if deviations else None,
        "loudness_dev_lu_median": float(np.median(np.abs(deviations))) if deviations else None,
        "loudness_dev_lu_max": float(np.max(np.abs(deviations))) if deviations else None,
        "true_peak_dbtp": true_peak_dbtp(mix_path),
        "longest_gap_s": longest * 0.05,
        "links_before_intro_end": float(np.mean(posts)) if posts else None,
        "speech_over_music_db_min": float(np.min(ratios)) if ratios else None,
        "speech_over_music_db_median": float(np.median(ratios)) if ratios else None,
        "beatmatched_transitions": sum(t.transition == "beatmatch" for t in timeline.tracks),
        **judged,
        "onset_lag_ms_median": 1000 * float(np.median(lags)) if lags else None,
        "beatmatches": [{k: ({kk: vv for kk, vv in v.items() if kk != "offsets_s"}
                             if isinstance(v, dict) else v) for k, v in j.items()}
                        for j in joins],
        "transitions": {k: sum(t.transition == k for t in timeline.tracks[1:])
                        for k in ("beatmatch", "crossfade", "fade", "cut")},
    }


def beatmatch_joins(timeline: Any, settings: Any) -> list[dict[str, Any]]:
    """Beat offset inside each beatmatched overlap, measured on the rendered tracks.

    Each track of a join is rendered on its own; a beat tracker hears it with 15 s
    of context (before the overlap for the outgoing track, after it for the
    incoming one), and beats are compared in the middle half of the overlap, where
    both are clearly audible. Two independent judges, neither told segue's tempo:
    librosa's tracker (both tracks with the tempo librosa itself hears in the
    outgoing one, so they are tracked at one metrical level) and, when installed,
    Essentia's ``BeatTrackerMultiFeature``. Per join: every beat's offset (each beat
    of the sparser track to the nearest of the other, so a 2:1 level is no error)
    and the join's systematic offset (the median signed offset: the flam a listener
    hears, without the trackers' own beat-to-beat jitter). As a cross-check, the lag
    that best aligns their low-band (kick and bass) onset envelopes.
    """
    import librosa


    sr = timeline.sr
    hop = 256
    joins = []
    for i, tr in enumerate(timeline.tracks):
        if tr.transition != "beatmatch":
            continue
        prev = timeline.tracks[i - 1]
        lo, hi = tr.start_s, prev.end_s
        if hi - lo < 2.0:
            continue
        parts = _solo_parts(timeline, settings, i)
        heard = float(np.atleast_1d(librosa.feature.tempo(y=parts[0][1], sr=sr,
                                                          hop_length=hop))[0])
        join: dict[str, Any] = {"from": prev.title, "to": tr.title, "bpm": [prev.bpm, tr.bpm],
                                "heard_bpm": round(heard, 1), "stretch": tr.stretch,
                                "overlap_s": round(hi - lo, 2)}
        for judge in ("librosa", "essentia"):
            beats = [_track_beats(judge, y, sr, heard) for _, y in parts]
            if beats[0] is None or beats[1] is None:
                continue
            q = (hi - lo) / 4
            mid = [b + t0 for b, (t0, _) in zip(beats, parts, strict=True)]
            mid = [b[(b >= lo + q) & (b <= hi - q)] for b in mid]
            join[judge] = _offsets(mid[0], mid[1])
        envs = [librosa.onset.onset_strength(y=y[round((lo - t0) * sr) : round((hi - t0) * sr)],
                                             sr=sr, hop_length=hop, fmax=250, n_mels=32)
                for t0, y in parts]
        half = int(30 / heard * sr / hop)  # half a beat, in frames
        n = min(len(envs[0]), len(envs[1]))
        a, b = envs[0][:n] - envs[0][:n].mean(), envs[1][:n] - envs[1][:n].mean()
        scores = []
        for k in range(-half, half + 1):  # correlation of b shifted by k frames against a
            x, y = a[max(0, k) : len(a) + min(0, k)], b[max(0, -k) : len(b) + min(0, -k)]
            scores.append(float(np.dot(x, y)))
        join["onset_lag_s"] = (int(np.argmax(scores)) - half) * hop / sr
        joins.append(join)
    return joins


def _solo_parts(timeline: Any, settings: Any, i: int,
                context_s: float = 15.0) -> list[tuple[float, np.ndarray]]:
    """Tracks ``i - 1`` and ``i`` each rendered alone (music only) around their overlap.

    The outgoing one from ``context_s`` before the overlap to its end, the incoming one
    from the overlap's start to ``context_s`` after it; mono, each with its start (s).
    """
    from segue.mixing.render import render_blocks

    sr = timeline.sr
    lo, hi = timeline.tracks[i].start_s, timeline.tracks[i - 1].end_s
    parts = []
    for j, (a0, a1) in ((i - 1, (lo - context_s, hi)), (i, (lo, hi + context_s))):
        solo = dataclasses.replace(timeline, tracks=(timeline.tracks[j],))
        pcm = np.concatenate(list(render_blocks(solo, settings, voice=False)), axis=1)
        start = max(0.0, a0)
        parts.append((start, pcm[:, round(start * sr) : round(a1 * sr)].mean(axis=0)))
    return parts


def _track_beats(judge: str, y: np.ndarray, sr: int, bpm: float) -> np.ndarray | None:
    """Beat times (s from the start of ``y``) by one judge; ``None`` if it is not installed."""
    if judge == "librosa":
        import librosa

        _, frames = librosa.beat.beat_track(y=y, sr=sr, hop_length=256, trim=False,
                                            start_bpm=bpm, tightness=400)
        return np.asarray(librosa.frames_to_time(frames, sr=sr, hop_length=256))
    try:
        import essentia.standard as es
    except ImportError:
        return None
    mono = y if sr == 44100 else es.Resample(inputSampleRate=sr, outputSampleRate=44100)(y)
    ticks, _ = es.BeatTrackerMultiFeature()(mono.astype(np.float32))
    return np.asarray(ticks, dtype=np.float64)


def _offsets(out_beats: np.ndarray, in_beats: np.ndarray) -> dict[str, Any]:
    """Offsets between two tracks' beats where both trackers report beats."""
    if len(out_beats) < 2 or len(in_beats) < 2:
        return {"offsets_s": []}
    incoming_sparser = len(in_beats) < len(out_beats)
    sparse, dense = (in_beats, out_beats) if incoming_sparser else (out_beats, in_beats)
    period = float(np.median(np.diff(sparse)))
    inside = sparse[(sparse >= dense[0] - period / 2) & (sparse <= dense[-1] + period / 2)]
    signed = [float(dense[np.argmin(np.abs(dense - t))] - t) for t in inside]
    if incoming_sparser:
        signed = [-d for d in signed]  # positive: the incoming beat is late
    return {"offsets_s": [abs(d) for d in signed],
            "systematic_ms": 1000 * float(np.median(signed)) if signed else None}


# --------------------------------------------------------------------------- charted joins


def charted_set() -> list[tuple[Any, np.ndarray]]:
    """The Frets on Fire songs at three speeds, each with its reference beats (seconds).

    Their charts (``notes.mid``) were made to a click: each song has one exact tempo
    (a full-song grid search at 0.1 % steps finds exactly the chart's), so a song's
    beats are the chart's period × the stretch, phased where that grid collects the
    most onset strength over the whole song (librosa onsets at 2.9 ms). ``Metal
    madness`` changes tempo and is left out.
    """
    import librosa

    from analysis_sets import real_tempo_set

    out = []
    for item in real_tempo_set(stretches=(0.9, 1.0, 1.1)):
        if item.name.startswith("metal_madness"):
            continue
        ref = RESULTS / "charted" / (Path(item.path).stem + ".npy")
        if not ref.is_file():
            y, sr = librosa.load(item.path, sr=22050)
            env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=64)
            fps, period = sr / 64, 60 / item.bpm
            frames = np.arange(len(env))
            phases = np.arange(0.0, period, 0.001)
            scores = [np.interp((ph + np.arange(0, len(env) / fps - ph, period)) * fps, frames,
                                env).mean() for ph in phases]
            beats = phases[int(np.argmax(scores))] + np.arange(0, len(y) / sr, period)
            ref.parent.mkdir(parents=True, exist_ok=True)
            np.save(ref, beats)
        out.append((Path(item.path), np.load(ref)))
    return out


def charted_joins(settings: Any) -> dict[str, Any]:
    """Beat offsets at segue's beatmatches between charted songs, against their charts.

    The set is planned and laid out by segue (no links, so no beds); at every
    beatmatch each incoming reference beat inside the overlap is mapped through both
    tracks' segments (stretch included) to mix time and compared with the nearest
    outgoing one. As a check on the rendered audio, librosa's beat tracker (told the
    chart's tempo) runs on each track's rendered part of the overlap, as in
    :func:`beatmatch_joins`.
    """
    import librosa

    from segue.mixing.timeline import build_timeline, decide_handovers, mix_time
    from segue.sequencing import plan_order

    songs = charted_set()
    tracks = analysed([p for p, _ in songs])
    refs = {str(p): beats for p, beats in songs}
    plan = plan_order(tracks)
    timeline = build_timeline(plan, [], settings, handovers=decide_handovers(plan, settings))
    sr = timeline.sr
    joins, chart_all, judge_all = [], [], []
    for i, tr in enumerate(timeline.tracks):
        if tr.transition != "beatmatch":
            continue
        prev = timeline.tracks[i - 1]
        lo, hi = tr.start_s, prev.end_s
        inner = 0.1 * (hi - lo)
        b_in = np.array([mix_time(tr.segments, b) for b in refs[tr.path]
                         if tr.source_in_s <= b <= tr.source_out_s])
        b_out = np.array([mix_time(prev.segments, b) for b in refs[prev.path]
                          if prev.source_in_s <= b <= prev.source_out_s])
        b_in = b_in[(b_in >= lo + inner) & (b_in <= hi - inner)]
        b_out = b_out[(b_out >= lo + inner) & (b_out <= hi - inner)]
        chart = _offsets(b_out, b_in)["offsets_s"]  # sparser to denser: 2:1 is no error
        chart_all += chart
        parts = _solo_parts(timeline, settings, i)
        period = float(np.median(np.diff(refs[prev.path])))
        tracked = []
        for t0, y in parts:
            _, frames = librosa.beat.beat_track(y=y, sr=sr, hop_length=256, trim=False,
                                                start_bpm=60 / period, tightness=400)
            b = librosa.frames_to_time(frames, sr=sr, hop_length=256) + t0
            tracked.append(b[(b >= lo + 0.5) & (b <= hi - 0.5)])
        judged = _offsets(tracked[0], tracked[1])
        judge_all += judged["offsets_s"]
        joins.append({"from": prev.title, "to": tr.title, "bpm": [prev.bpm, tr.bpm],
                      "stretch": tr.stretch, "overlap_s": round(hi - lo, 2),
                      "chart_offset_ms_median": 1000 * float(np.median(chart))
                      if chart else None,
                      "tracker_offset_ms_median": 1000 * float(np.median(judged["offsets_s"]))
                      if judged["offsets_s"] else None})
    return {
        "tracks": len(timeline.tracks),
        "transitions": {k: sum(t.transition == k for t in timeline.tracks[1:])
                        for k in ("beatmatch", "crossfade", "fade", "cut")},
        "chart_offset_ms_median": 1000 * float(np.median(chart_all)) if chart_all else None,
        "chart_offset_ms_p90": 1000 * float(np.percentile(chart_all, 90)) if chart_all else None,
        "tracker_offset_ms_median": 1000 * float(np.median(judge_all)) if judge_all else None,
        "joins": joins,
    }


# --------------------------------------------------------------------------- hard masters


def segue_true_peak(x: np.ndarray, sr: int) -> float:
    """segue's own 4× oversampled true peak (dBTP) of decoded samples."""
    from segue.analysis.loudness import LoudnessMeter

    meter = LoudnessMeter(sr)
    for i in range(0, x.shape[1], 60 * sr):
        meter.update(x[:, i : i + 60 * sr])
    return meter.result().true_peak_dbtp


def integrated_lufs(x: np.ndarray, sr: int) -> float:
    """Integrated loudness (LUFS) of decoded samples, by segue's meter."""
    from segue.analysis.loudness import LoudnessMeter

    meter = LoudnessMeter(sr)
    for i in range(0, x.shape[1], 60 * sr):
        meter.update(x[:, i : i + 60 * sr])
    return meter.result().integrated_lufs


def stream_to_file(timeline: Any, fmt: str, out: Path) -> float:
    """Encode the set as the HTTP service streams it (block by block); return wall seconds."""
    from segue.config import Settings
    from segue.mixing.encode import encode_stream
    from segue.mixing.render import render_blocks

    t0 = time.perf_counter()
    with out.open("wb") as fh:
        for chunk in encode_stream(render_blocks(timeline, Settings()), sr=timeline.sr, fmt=fmt):
            fh.write(chunk)
    return time.perf_counter() - t0


def peaks(name: str, timeline: Any, tmp: Path) -> dict[str, Any]:
    """True peak of every output as decoded, with and without the codec guard, and its cost.

    Files (MP3 ``-q:a 2``, Vorbis ``-q:a 5``, Opus 160k) are rendered in a fresh process
    each, guard on and off; streams (MP3 192k, Vorbis, Opus 128k) as the service makes
    them. Each output is decoded and metered by ffmpeg's ``ebur128`` and by segue.
    """
    from segue.mixing.encode import STREAM_FORMATS

    sr = timeline.sr
    rows: dict[str, Any] = {}
    for ext in (".mp3", ".ogg", ".opus", ".flac"):
        for guard in ((True, False) if ext != ".flac" else (True,)):
            out = tmp / f"{name}-{'on' if guard else 'off'}{ext}"
            job = tmp / f"{name}-job.pickle"
            job.write_bytes(pickle.dumps((timeline, str(out), {"guard": guard})))
            run = run_child("render", job)
            pcm = decode(out, sr)
            rows[f"file{ext}" + ("" if guard else " (no guard)")] = {
                "ffmpeg_dbtp": true_peak_dbtp(out), "segue_dbtp": segue_true_peak(pcm, sr),
                "lufs": integrated_lufs(pcm, sr), "x_realtime": timeline.duration_s / run["wall_s"],
                "rss_mb": run["rss_mb"]}
            out.unlink()
    for fmt in STREAM_FORMATS:
        out = tmp / f"{name}-stream.{fmt}"
        wall = stream_to_file(timeline, fmt, out)
        pcm = decode(out, sr)
        rows[f"stream {fmt}"] = {"ffmpeg_dbtp": true_peak_dbtp(out),
                                 "segue_dbtp": segue_true_peak(pcm, sr),
                                 "lufs": integrated_lufs(pcm, sr),
                                 "x_realtime": timeline.duration_s / wall}
        out.unlink()
    for ext in (".mp3", ".ogg", ".opus"):
        on, off = rows[f"file{ext}"], rows[f"file{ext} (no guard)"]
        on["guard_cost_lu"] = off["lufs"] - on["lufs"]
        on["guard_speed_ratio"] = on["x_realtime"] / off["x_realtime"]
    return rows


def makeup_check(paths: list[Path], target_lufs: float = -14.0) -> list[dict[str, Any]]:
    """The make-up prediction against what the real limiter takes, track by track.

    Each whole track is played as the mixer plays it (high-passed, at
    ``track_gain_db``) through the mixer's own limiter; the loudness it lost is
    compared with the analysis' prediction, and the result with the target.
    """
    from scipy.signal import butter, sosfilt, sosfilt_zi

    from segue.analysis.loudness import HIGH_PASS_HZ
    from segue.config import Settings
    from segue.mixing.dsp import PeakLimiter
    from segue.mixing.gain import track_gain_db

    ceiling = Settings().ceiling_dbfs
    rows = []
    for track in analysed(paths):
        a = track.analysis
        gain = track_gain_db(a, target_lufs, ceiling)
        sr = 44100
        x = decode(Path(track.path), sr).astype(np.float64)
        sos = butter(2, HIGH_PASS_HZ, btype="highpass", fs=sr, output="sos")
        y, _ = sosfilt(sos, x, axis=1, zi=sosfilt_zi(sos)[:, None, :] * x[None, :, :1])
        y = (y * 10 ** (gain / 20)).astype(np.float32)
        limiter = PeakLimiter(ceiling_dbfs=ceiling, sr=sr)
        out = np.concatenate([limiter.process(y[:, i : i + sr]) for i in range(0, y.shape[1], sr)]
                             + [limiter.flush()], axis=1)
        before, after = integrated_lufs(y, sr), integrated_lufs(out, sr)
        excess = gain + a.true_peak_dbtp - ceiling
        curve = a.limiter_loss_lu
        predicted = float(np.interp(excess, np.arange(len(curve)), curve)) if excess > 0 else 0.0
        rows.append({"track": Path(track.path).name, "lufs": a.lufs, "true_peak": a.true_peak_dbtp,
                     "gain_db": gain, "predicted_loss_lu": predicted,
                     "real_loss_lu": before - after, "plays_at_lufs": after})
    return rows


def hard_sets(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Peaks, make-up and loudness on Debian's loudest and quietest masters."""
    import hard_masters

    out: dict[str, Any] = {}
    sets = {"loud": hard_masters.loud() + hard_masters.war(), "quiet": hard_masters.quiet()}
    for name, paths in sets.items():
        if name not in args.hard_sets:
            continue
        _, timeline = build_set(args.hard_minutes, analysed(paths))
        mp3 = tmp / f"{name}-q.mp3"
        job = tmp / f"{name}-q.pickle"
        job.write_bytes(pickle.dumps((timeline, str(mp3), {})))
        run_child("render", job)
        dev = track_deviations(timeline, decode(mp3, timeline.sr))
        out[name] = {"minutes": timeline.duration_s / 60, "tracks": len(timeline.tracks),
                     "loudness_dev_lu": dev,
                     "loudness_dev_lu_median": float(np.median(np.abs(dev))),
                     "loudness_dev_lu_max": float(np.max(np.abs(dev))),
                     "peaks": peaks(name, timeline, tmp),
                     "makeup": makeup_check(paths)}
        print(json.dumps({name: out[name]}, indent=1), file=sys.stderr)
    return out


def memory(minutes: list[float], tmp: Path) -> list[dict[str, Any]]:
    """Peak RSS of the render stage at each length, 18 distinct hard tracks, with tracemalloc."""
    tracks = analysed(hard_corpus())
    rows = []
    for m in minutes:
        _, timeline = build_set(m, tracks)
        job = tmp / f"mem-{m:g}.pickle"
        out = tmp / f"mem-{m:g}.mp3"
        job.write_bytes(pickle.dumps((timeline, str(out), {"trace": True})))
        run = run_child("render", job)
        run.update({"minutes": timeline.duration_s / 60, "tracks": len(timeline.tracks),
                    "links": len(timeline.links),
                    "x_realtime": timeline.duration_s / run["wall_s"]})
        dev = track_deviations(timeline, decode(out, timeline.sr))
        run.update({"true_peak_dbtp": true_peak_dbtp(out),
                    "loudness_dev_lu_median": float(np.median(np.abs(dev))),
                    "loudness_dev_lu_max": float(np.max(np.abs(dev))),
                    "tracks_within_1lu": int(np.sum(np.abs(dev) <= 1.0)), "measured": len(dev)})
        out.unlink()
        rows.append(run)
        print(json.dumps(run, indent=1), file=sys.stderr)
    return rows


# --------------------------------------------------------------------------- main


def machine() -> str:
    """CPU model and core count."""
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[15, 60, 120])
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--quality-minutes", type=float, default=15,
                        help="which length to measure quality on (0: none)")
    parser.add_argument("--hard", action="store_true",
                        help="peaks per output format and loudness on the loudest/quietest masters")
    parser.add_argument("--hard-minutes", type=float, default=15)
    parser.add_argument("--hard-sets", nargs="+", choices=("loud", "quiet"),
                        default=["loud", "quiet"], help="which hard sets to measure")
    parser.add_argument("--memory", type=float, nargs="*", default=None, metavar="MINUTES",
                        help="peak RSS at these lengths (e.g. 80 160), 18 distinct hard tracks")
    parser.add_argument("--charted", action="store_true",
                        help="also measure beatmatches between charted songs (known beats)")
    args = parser.parse_args()

    print(f"machine: {machine()}", file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    if args.hard or args.memory:
        with tempfile.TemporaryDirectory(prefix="segue-bench-") as tmp:
            hard = hard_sets(args, Path(tmp)) if args.hard else None
            mem = memory(args.memory, Path(tmp)) if args.memory else None
        name = "mix-" + "-".join(k for k, v in (("hard", hard), ("memory", mem)) if v)
        (RESULTS / f"{name}.json").write_text(json.dumps(
            {"machine": machine(), "hard": hard, "memory": mem}, indent=2))
        print_hard(hard, mem)
        return
    tracks = analysed(corpus())
    rows = []
    with tempfile.TemporaryDirectory(prefix="segue-bench-") as tmp:
        for minutes in args.minutes:
            t0 = time.perf_counter()
            _, timeline = build_set(minutes, tracks)
            prep = time.perf_counter() - t0
            out = Path(tmp) / f"mix-{minutes:g}.mp3"
            job = Path(tmp) / f"job-{minutes:g}.pickle"
            job.write_bytes(pickle.dumps((timeline, str(out), {})))
            ours = run_child("render", job)
            row: dict[str, Any] = {
                "minutes": minutes, "mix_s": timeline.duration_s, "tracks": len(timeline.tracks),
                "links": len(timeline.links), "plan_script_voice_s": prep,
                "segue_wall_s": ours["wall_s"], "segue_rss_mb": ours["rss_mb"],
                "segue_x_realtime": timeline.duration_s / ours["wall_s"],
            }
            if not args.no_baseline:
                base_job = Path(tmp) / f"base-{minutes:g}.pickle"
                base_job.write_bytes(pickle.dumps((timeline, str(Path(tmp) / "pydub.mp3"), {})))
                base = run_child("pydub", base_job)
                row.update({
                    "pydub_wall_s": base["wall_s"], "pydub_rss_mb": base["rss_mb"],
                    "pydub_x_realtime": base["duration_s"] / base["wall_s"],
                    "speed_ratio": (timeline.duration_s / ours["wall_s"])
                    / (base["duration_s"] / base["wall_s"]),
                })
            if minutes == args.quality_minutes:
                row["quality"] = quality(timeline, out)
            rows.append(row)
            print(json.dumps(row, indent=1), file=sys.stderr)
    from segue.config import Settings

    charted = charted_joins(Settings()) if args.charted else None
    (RESULTS / "mix.json").write_text(json.dumps({"machine": machine(), "rows": rows,
                                                  "charted": charted}, indent=2))
    print(f"\n{'min':>5} {'tracks':>6} {'segue x RT':>10} {'RSS MB':>7} {'pydub x RT':>10} "
          f"{'RSS MB':>7} {'ratio':>6}")
    for r in rows:
        nan = float("nan")
        print(f"{r['minutes']:>5g} {r['tracks']:>6} {r['segue_x_realtime']:>10.1f} "
              f"{r['segue_rss_mb']:>7.0f} {r.get('pydub_x_realtime', nan):>10.1f} "
              f"{r.get('pydub_rss_mb', nan):>7.0f} {r.get('speed_ratio', nan):>6.2f}")
    for r in rows:
        if "quality" in r:
            print(f"\nquality ({r['minutes']:g} min):")
            for k, v in r["quality"].items():
                print(f"  {k}: {v}")
    if charted:
        print("\nbeatmatches between charted songs:")
        for k, v in charted.items():
            print(f"  {k}: {v}")


def print_hard(hard: dict[str, Any] | None, mem: list[dict[str, Any]] | None) -> None:
    """The hard-master tables on stdout."""
    for name, res in (hard or {}).items():
        print(f"\n{name} masters, {res['minutes']:.0f} min, {res['tracks']} tracks: loudness "
              f"error median {res['loudness_dev_lu_median']:.2f} LU, worst "
              f"{res['loudness_dev_lu_max']:.2f} LU")
        print(f"{'output':<22} {'ffmpeg dBTP':>11} {'segue dBTP':>10} {'LUFS':>7} {'x RT':>6} "
              f"{'guard LU':>8} {'speed':>6}")
        for out, r in res["peaks"].items():
            print(f"{out:<22} {r['ffmpeg_dbtp']:>11.2f} {r['segue_dbtp']:>10.2f} "
                  f"{r['lufs']:>7.2f} {r['x_realtime']:>6.0f} {r.get('guard_cost_lu', 0):>8.2f} "
                  f"{r.get('guard_speed_ratio', 1):>6.2f}")
        print(f"{'track':<34} {'LUFS':>6} {'dBTP':>5} {'gain':>5} {'pred':>5} {'real':>5} "
              f"{'plays':>6}")
        for m in res["makeup"]:
            print(f"{m['track'][:34]:<34} {m['lufs']:>6.1f} {m['true_peak']:>5.1f} "
                  f"{m['gain_db']:>5.1f} {m['predicted_loss_lu']:>5.2f} {m['real_loss_lu']:>5.2f} "
                  f"{m['plays_at_lufs']:>6.2f}")
    for r in mem or []:
        print(f"\nmemory, {r['minutes']:.0f} min ({r['tracks']} tracks, {r['links']} links): peak "
              f"RSS {r['rss_mb']:.0f} MB (start {r['start_rss_mb']:.0f}, every 10 min "
              f"{r['rss_every_10min_mb']}), speech {r['speech_mb']:.0f} MB, "
              f"{r['x_realtime']:.0f}x real time, {r['true_peak_dbtp']:.2f} dBTP, "
              f"{r['tracks_within_1lu']}/{r['measured']} tracks within 1 LU")
        for line in r.get("top_allocations", []):
            print(f"  {line}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child-render":
        child_render(Path(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--child-pydub":
        child_pydub(Path(sys.argv[2]))
    else:
        main()
