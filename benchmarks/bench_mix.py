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

Results go to ``benchmarks/results/mix.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import platform
import re
import resource
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


def analysed(paths: list[Path]) -> list[Any]:
    """segue's analysis of each path, cached by path and modification time."""
    from segue.analysis import analyze_file

    store = CACHE / "analysis.pickle"
    cached: dict[str, Any] = pickle.loads(store.read_bytes()) if store.is_file() else {}
    out = []
    for p in paths:
        key = f"{p}:{p.stat().st_mtime_ns}"
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
    from segue.mixing.timeline import build_timeline
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
            track = dataclasses.replace(track, tags=dataclasses.replace(
                track.tags, title=f"{track.tags.title} (reprise {i // len(tracks)})"))
        chosen.append(track)
        total += track.analysis.duration_s * 0.93  # overlaps eat a little
        i += 1
    settings = Settings()
    plan = plan_order(chosen)
    listener = Listener(name="Alex", liked_artists=("Muldjord",))
    links = write_script(plan, listener, TemplateNarrator(TemplateStore()), settings)
    with Pyttsx3Engine() as engine:
        speeches, _ = speak_links(links, engine, settings, SpeechCache(CACHE / "speech"))
    timeline = build_timeline(plan, speeches, settings)
    return plan, timeline


# --------------------------------------------------------------------------- children


def child_render(job: Path) -> None:
    """Child process: render a pickled timeline to MP3, report time and peak RSS."""
    from segue.config import Settings
    from segue.mixing.encode import FileSink, limiter_ceiling_dbfs
    from segue.mixing.render import render_blocks

    timeline, out = pickle.loads(job.read_bytes())
    t0 = time.perf_counter()
    ceiling = limiter_ceiling_dbfs(Path(out), Settings().ceiling_dbfs)
    with FileSink(Path(out), sr=timeline.sr) as sink:
        for block in render_blocks(timeline, Settings(), ceiling_dbfs=ceiling):
            sink.write(block)
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "rss_mb": _peak_rss_mb()}))


def child_pydub(job: Path) -> None:
    """Child process: the pydub baseline over the same tracks and overlaps."""
    from pydub import AudioSegment

    timeline, out = pickle.loads(job.read_bytes())
    t0 = time.perf_counter()
    mix = None
    for tr in timeline.tracks:
        seg = AudioSegment.from_file(tr.path).set_frame_rate(44100).set_channels(2)
        seg = seg[round(tr.source_in_s * 1000) : round(tr.source_out_s * 1000)]
        mix = seg if mix is None else mix.append(seg, crossfade=round(tr.crossfade_s * 1000))
    assert mix is not None
    mix.export(out, format="mp3", codec="libmp3lame", parameters=["-q:a", "2"])
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "rss_mb": _peak_rss_mb(), "duration_s": len(mix) / 1000}))


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; unlike ru_maxrss it does not inherit the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    proc = subprocess.run(["ffmpeg", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
                           "-f", "null", "-"], capture_output=True, text=True, check=True)
    found = re.findall(r"Peak:\s+(-?[\d.]+|-inf) dBFS", proc.stderr)
    return float(found[-1])


def quality(timeline: Any, mix_path: Path) -> dict[str, Any]:
    """Quality figures of one rendered set."""
    import librosa
    import pyloudnorm

    from segue.config import Settings
    from segue.mixing.render import render_blocks

    sr = timeline.sr
    settings = Settings()
    mix = decode(mix_path, sr)
    meter = pyloudnorm.Meter(sr)
    # Loudness of each track where it plays alone and nobody talks.
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
        deviations.append(lufs - timeline.target_lufs)
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
    # Beat offset inside beatmatched overlaps: a beat tracker on each track's rendered
    # part of the overlap (tempo prior: the outgoing track's), and, as a cross-check,
    # the lag that best aligns their low-band (kick and bass) onset envelopes.
    offsets, lags = [], []
    hop = 256
    for i, tr in enumerate(timeline.tracks):
        if tr.transition != "beatmatch":
            continue
        prev = timeline.tracks[i - 1]
        lo, hi = tr.start_s, prev.end_s
        if hi - lo < 2.0:
            continue
        # Each tracker hears its track with 15 s of context (before the overlap for
        # the outgoing track, after it for the incoming one); beats are compared in
        # the middle half of the overlap, where both are clearly audible.
        beats, envs = [], []
        for j, (a0, a1) in ((i - 1, (lo - 15, hi)), (i, (lo, hi + 15))):
            solo = dataclasses.replace(timeline, tracks=(timeline.tracks[j],), links=(),
                                       speech=())
            pcm = np.concatenate(list(render_blocks(solo, settings, voice=False)), axis=1)
            part = pcm[:, round(max(0.0, a0) * sr) : round(a1 * sr)].mean(axis=0)
            _, frames_ = librosa.beat.beat_track(y=part, sr=sr, hop_length=hop, trim=False,
                                                 start_bpm=prev.bpm, tightness=400)
            times = librosa.frames_to_time(frames_, sr=sr, hop_length=hop) + max(0.0, a0)
            q = (hi - lo) / 4
            beats.append(times[(times >= lo + q) & (times <= hi - q)])
            overlap = part[round((lo - max(0.0, a0)) * sr) : round((hi - max(0.0, a0)) * sr)]
            envs.append(librosa.onset.onset_strength(y=overlap, sr=sr, hop_length=hop,
                                                     fmax=250, n_mels=32))
        if len(beats[0]) and len(beats[1]):
            beat = 60 / prev.bpm  # compare only where both trackers report beats
            first, last = beats[0][0] - beat / 2, beats[0][-1] + beat / 2
            both = beats[1][(beats[1] >= first) & (beats[1] <= last)]
            offsets += [float(np.min(np.abs(beats[0] - t))) for t in both]
        half = int(30 / prev.bpm * sr / hop)  # half a beat, in frames
        n = min(len(envs[0]), len(envs[1]))
        envs = [e[:n] for e in envs]
        a, b = envs[0] - envs[0].mean(), envs[1] - envs[1].mean()
        scores = []
        for k in range(-half, half + 1):  # correlation of b shifted by k frames against a
            x, y = a[max(0, k) : len(a) + min(0, k)], b[max(0, -k) : len(b) + min(0, -k)]
            scores.append(float(np.dot(x, y)))
        lags.append(abs(int(np.argmax(scores)) - half) * hop / sr)
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
        "beat_offset_ms_median": 1000 * float(np.median(offsets)) if offsets else None,
        "onset_lag_ms_median": 1000 * float(np.median(lags)) if lags else None,
        "transitions": {k: sum(t.transition == k for t in timeline.tracks[1:])
                        for k in ("beatmatch", "crossfade", "fade", "cut")},
    }


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
    args = parser.parse_args()

    print(f"machine: {machine()}", file=sys.stderr)
    tracks = analysed(corpus())
    rows = []
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="segue-bench-") as tmp:
        for minutes in args.minutes:
            t0 = time.perf_counter()
            _, timeline = build_set(minutes, tracks)
            prep = time.perf_counter() - t0
            out = Path(tmp) / f"mix-{minutes:g}.mp3"
            job = Path(tmp) / f"job-{minutes:g}.pickle"
            job.write_bytes(pickle.dumps((timeline, str(out))))
            ours = run_child("render", job)
            row: dict[str, Any] = {
                "minutes": minutes, "mix_s": timeline.duration_s, "tracks": len(timeline.tracks),
                "links": len(timeline.links), "plan_script_voice_s": prep,
                "segue_wall_s": ours["wall_s"], "segue_rss_mb": ours["rss_mb"],
                "segue_x_realtime": timeline.duration_s / ours["wall_s"],
            }
            if not args.no_baseline:
                base_job = Path(tmp) / f"base-{minutes:g}.pickle"
                base_job.write_bytes(pickle.dumps((timeline, str(Path(tmp) / "pydub.mp3"))))
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
    (RESULTS / "mix.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
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


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child-render":
        child_render(Path(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--child-pydub":
        child_pydub(Path(sys.argv[2]))
    else:
        main()
