"""The files beside a mix: timeline JSON, WebVTT transcript, CUE sheet, PNG, MP3 chapters."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from segue.mixing.encode import SIDECARS, publish, sidecar, write_atomic
from segue.models import Plan, Timeline
from segue.text import cut

log = logging.getLogger(__name__)


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


#: The CUE format's limits: 80 characters of a TITLE or PERFORMER, 99 tracks.
CUE_MAX_CHARS = 80
CUE_MAX_TRACKS = 99


def _cue_text(text: str, limit: int | None = CUE_MAX_CHARS) -> str:
    """``text`` fit for a quoted CUE field: no double quotes or line breaks, cut to ``limit``."""
    text = text.replace('"', "'").replace("\n", " ")
    return text if limit is None else cut(text, limit)


def timeline_cue(timeline: Timeline, audio_name: str) -> str:
    """A CUE sheet: one index per track, at the moment it starts in the mix.

    The format holds 99 tracks; a longer set's sheet lists its first 99 (a warning says
    so; the chapters, timeline and transcript list them all).
    """
    kind = "MP3" if audio_name.lower().endswith(".mp3") else "WAVE"
    # The file name is never cut: it must name the file.
    lines = ['PERFORMER "segue"', 'TITLE "segue mix"',
             f'FILE "{_cue_text(audio_name, None)}" {kind}']
    if len(timeline.tracks) > CUE_MAX_TRACKS:
        log.warning("the cue sheet lists the first %d of %d tracks (the format's limit)",
                    CUE_MAX_TRACKS, len(timeline.tracks))
    for n, tr in enumerate(timeline.tracks[:CUE_MAX_TRACKS], start=1):
        lines += [
            f"  TRACK {n:02d} AUDIO",
            f'    TITLE "{_cue_text(tr.title)}"',
            f'    PERFORMER "{_cue_text(tr.artist)}"',
            f"    INDEX 01 {cue_time(tr.start_s)}",
        ]
    return "\n".join(lines) + "\n"


#: ID3v2.4 frame flags (none set) and a CTOC's flags: top level, children ordered.
_NO_FLAGS = b"\x00\x00"
_CTOC_TOP_ORDERED = 0x03
#: A CTOC lists at most 255 children (one byte); longer sets get one sub-table per 255.
_CTOC_MAX_CHILDREN = 255
_NO_OFFSET = 0xFFFFFFFF


def _syncsafe(n: int) -> bytes:
    """``n`` as ID3v2's 4-byte syncsafe integer (7 bits per byte)."""
    return bytes((n >> shift) & 0x7F for shift in (21, 14, 7, 0))


def _id3_frame(frame_id: str, body: bytes) -> bytes:
    return frame_id.encode("ascii") + _syncsafe(len(body)) + _NO_FLAGS + body


def _id3_text(frame_id: str, text: str) -> bytes:
    return _id3_frame(frame_id, b"\x03" + text.encode("utf-8"))  # 3: UTF-8 (ID3v2.4)


def _id3_ctoc(element: str, children: list[str], title: str, *, top: bool) -> bytes:
    body = element.encode("latin-1") + b"\x00"
    body += bytes([_CTOC_TOP_ORDERED if top else 0x01, len(children)])
    body += b"".join(c.encode("latin-1") + b"\x00" for c in children)
    return _id3_frame("CTOC", body + _id3_text("TIT2", title))


def chapter_tag(timeline: Timeline) -> bytes:
    """An ID3v2.4 tag with one chapter (CHAP) per track, in play order, and their table.

    Written byte by byte rather than with mutagen, whose writer sorts frames by
    size (so chapters came out in an order of title lengths). Chapters are
    contiguous: each ends where the next track starts, the last at the end of
    the mix. Sets over 255 tracks get a top-level table of sub-tables.
    """
    frames = [_id3_text("TIT2", "segue mix"), _id3_text("TPE1", "segue")]
    ids: list[str] = []
    end_ms = round(timeline.duration_s * 1000)
    starts = [round(tr.start_s * 1000) for tr in timeline.tracks]
    for n, tr in enumerate(timeline.tracks):
        stop = starts[n + 1] if n + 1 < len(starts) else end_ms
        element = f"chp{n:04d}"
        ids.append(element)
        body = element.encode("latin-1") + b"\x00"
        body += struct.pack(">IIII", starts[n], stop, _NO_OFFSET, _NO_OFFSET)
        body += _id3_text("TIT2", tr.title) + _id3_text("TPE1", tr.artist)
        frames.append(_id3_frame("CHAP", body))
    if len(ids) <= _CTOC_MAX_CHILDREN:
        frames.append(_id3_ctoc("toc", ids, "Tracks", top=True))
    else:
        groups = [ids[i : i + _CTOC_MAX_CHILDREN] for i in range(0, len(ids), _CTOC_MAX_CHILDREN)]
        subs = [f"toc{k}" for k in range(len(groups))]
        frames.append(_id3_ctoc("toc", subs, "Tracks", top=True))
        for k, (sub, group) in enumerate(zip(subs, groups, strict=True)):
            first = k * _CTOC_MAX_CHILDREN + 1
            title = f"Tracks {first}–{first + len(group) - 1}"
            frames.append(_id3_ctoc(sub, group, title, top=False))
    data = b"".join(frames)
    return b"ID3\x04\x00\x00" + _syncsafe(len(data)) + data


def _id3v2_length(head: bytes) -> int:
    """Bytes taken by an ID3v2 tag at the start of a file (0 when there is none)."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def write_id3_chapters(path: Path, timeline: Timeline) -> None:
    """Put ID3v2.4 chapters (CHAP + CTOC, see :func:`chapter_tag`) at the front of an MP3.

    Any ID3v2 tag already there (ffmpeg writes one) is replaced; the audio is
    copied unchanged into a temporary file that takes the MP3's place.
    """
    tag = chapter_tag(timeline)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".id3", dir=path.parent)
    try:
        with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
            src.seek(_id3v2_length(src.read(10)))
            dst.write(tag)
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
