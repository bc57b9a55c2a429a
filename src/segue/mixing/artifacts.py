"""The files beside a mix: timeline JSON, WebVTT transcript, CUE sheet, PNG, MP3 chapters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from segue.mixing.encode import SIDECARS, publish, sidecar, write_atomic
from segue.models import Plan, Timeline


def timeline_dict(
    timeline: Timeline, plan: Plan | None = None, dropped: Mapping[int, str] | None = None
) -> dict[str, Any]:
    """The timeline as JSON-ready data.

    Published fields (never renamed): ``duration_s``, ``target_lufs``,
    ``tracks[]`` (``path``, ``title``, ``artist``, ``start_s``, ``end_s``, ...),
    ``links[]`` (``text``, ``start_s``, ``end_s``, ``before_track``, ``backend``, ...).
    Each track after the first also carries the sequencer's ``reason`` and
    ``transition_cost``; ``dropped_links`` lists links that could not be spoken.
    """
    tracks = []
    for i, tr in enumerate(timeline.tracks):
        item = asdict(tr)
        if plan is not None and i > 0:
            transition = plan.transitions[i - 1]
            item["reason"] = transition.reason
            item["transition_cost"] = transition.cost
        tracks.append(item)
    return {
        "duration_s": timeline.duration_s,
        "target_lufs": timeline.target_lufs,
        "sample_rate": timeline.sr,
        "tracks": tracks,
        "links": [asdict(lk) for lk in timeline.links],
        "dropped_links": [
            {"before_track": i, "reason": why} for i, why in sorted((dropped or {}).items())
        ],
        "total_cost": plan.total_cost if plan is not None else None,
    }


def timeline_json(
    timeline: Timeline, plan: Plan | None = None, dropped: Mapping[int, str] | None = None
) -> str:
    """The timeline JSON text."""
    return json.dumps(timeline_dict(timeline, plan, dropped), indent=2, ensure_ascii=False) + "\n"


def vtt_time(seconds: float) -> str:
    """WebVTT timestamp ``HH:MM:SS.mmm``."""
    ms = max(0, round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def timeline_vtt(timeline: Timeline) -> str:
    """A WebVTT transcript: each link's text at the time it is heard."""
    lines = ["WEBVTT", ""]
    for n, link in enumerate(timeline.links, start=1):
        text = link.text.replace("-->", "→")  # the cue-timing arrow may not appear in text
        lines += [str(n), f"{vtt_time(link.start_s)} --> {vtt_time(link.end_s)}", text, ""]
    return "\n".join(lines)


def cue_time(seconds: float) -> str:
    """CUE sheet timestamp ``MM:SS:FF`` (75 frames per second)."""
    frames = max(0, round(seconds * 75))
    minutes, rem = divmod(frames, 75 * 60)
    secs, ff = divmod(rem, 75)
    return f"{minutes:02d}:{secs:02d}:{ff:02d}"


def _cue_text(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")


def timeline_cue(timeline: Timeline, audio_name: str) -> str:
    """A CUE sheet: one index per track, at the moment it starts in the mix."""
    kind = "MP3" if audio_name.lower().endswith(".mp3") else "WAVE"
    lines = ['PERFORMER "segue"', 'TITLE "segue mix"', f'FILE "{_cue_text(audio_name)}" {kind}']
    for n, tr in enumerate(timeline.tracks, start=1):
        lines += [
            f"  TRACK {n:02d} AUDIO",
            f'    TITLE "{_cue_text(tr.title)}"',
            f'    PERFORMER "{_cue_text(tr.artist)}"',
            f"    INDEX 01 {cue_time(tr.start_s)}",
        ]
    return "\n".join(lines) + "\n"


def write_id3_chapters(path: Path, timeline: Timeline) -> None:
    """Add ID3v2 chapters (CHAP + CTOC) to an MP3: one per track, contiguous."""
    from mutagen.id3 import CHAP, CTOC, ID3, TIT2, TPE1, CTOCFlags, ID3NoHeaderError

    try:
        tags = ID3(path)
    except ID3NoHeaderError:
        tags = ID3()
    tags.add(TIT2(encoding=3, text="segue mix"))
    tags.add(TPE1(encoding=3, text="segue"))
    ids: list[str] = []
    end_ms = round(timeline.duration_s * 1000)
    for n, tr in enumerate(timeline.tracks):
        start = round(tr.start_s * 1000)
        last = n + 1 == len(timeline.tracks)
        stop = end_ms if last else round(timeline.tracks[n + 1].start_s * 1000)
        element = f"chp{n}"
        ids.append(element)
        names = [TIT2(encoding=3, text=tr.title), TPE1(encoding=3, text=tr.artist)]
        tags.add(CHAP(element_id=element, start_time=start, end_time=stop, sub_frames=names))
    tags.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                  child_element_ids=ids, sub_frames=[TIT2(encoding=3, text="Tracks")]))
    tags.save(path, v2_version=4)


def plot_png(timeline: Timeline, path: Path) -> None:
    """A picture of the set: each track's energy and tempo across the mix, links marked."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4.5), dpi=100)
    tempo_ax = ax.twinx()
    for n, tr in enumerate(timeline.tracks):
        start, end = tr.start_s / 60, tr.end_s / 60
        ax.fill_between([start, end], 0, tr.energy, alpha=0.35, step="pre",
                        color=f"C{n % 10}", linewidth=0)
        ax.text((start + end) / 2, tr.energy + 0.02, f"{tr.title}\n{tr.camelot}",
                ha="center", va="bottom", fontsize=7)
        if tr.bpm > 0:
            tempo_ax.plot([start, end], [tr.bpm, tr.bpm], color="black", linewidth=1.5)
    for link in timeline.links:
        ax.axvspan(link.start_s / 60, link.end_s / 60, color="red", alpha=0.25, linewidth=0)
    ax.set_xlim(0, timeline.duration_s / 60)
    ax.set_ylim(0, 1.15)
    ax.set_xlabel("mix time (minutes)")
    ax.set_ylabel("energy (0–1), coloured per track")
    tempo_ax.set_ylabel("tempo (BPM), black lines")
    ax.set_title("segue set: energy and tempo per track; red: spoken links")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_sidecars(
    out: Path, timeline: Timeline, plan: Plan | None = None,
    dropped: Mapping[int, str] | None = None,
) -> dict[str, Path]:  # fmt: skip
    """Write the timeline, transcript, CUE sheet and plot beside ``out``; return their paths."""
    paths = {name: sidecar(out, suffix) for suffix, name in SIDECARS.items()}
    write_atomic(paths["timeline"], timeline_json(timeline, plan, dropped))
    write_atomic(paths["transcript"], timeline_vtt(timeline))
    write_atomic(paths["cue sheet"], timeline_cue(timeline, out.name))
    from segue.mixing.plot_process import plot_in_child

    tmp = paths["plot"].with_name(f".{paths['plot'].name}.partial.png")
    if plot_in_child(paths["timeline"], tmp):  # matplotlib stays out of this process
        publish(tmp, paths["plot"])
    return paths
