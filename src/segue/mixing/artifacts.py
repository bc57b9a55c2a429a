"""The files beside a mix: the timeline JSON and the WebVTT transcript."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

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
