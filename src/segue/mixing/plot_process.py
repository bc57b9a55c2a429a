"""The set's PNG plot, drawn in a child process from the timeline JSON.

matplotlib adds about 30 MB to whatever process imports it and keeps it; a
render draws one plot at its very end, so it is drawn by ``python -m
segue.mixing.plot_process TIMELINE.json OUT.png`` from the timeline just written,
and the render's process stays small however long it ran.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from segue.models import Segment, Timeline, TimelineLink, TimelineTrack

log = logging.getLogger(__name__)

#: The longest the plot may take.
PLOT_TIMEOUT_S = 120.0


def timeline_from_json(data: dict[str, Any]) -> Timeline:
    """A :class:`Timeline` (without speech) from the published timeline JSON."""
    tracks = tuple(
        TimelineTrack(**{k: v for k, v in t.items() if k in TimelineTrack.__dataclass_fields__
                         and k != "segments"},
                      segments=tuple(Segment(**s) for s in t.get("segments", ())))
        for t in data["tracks"]
    )  # fmt: skip
    links = tuple(TimelineLink(**{k: v for k, v in lk.items()
                                  if k in TimelineLink.__dataclass_fields__})
                  for lk in data["links"])  # fmt: skip
    return Timeline(duration_s=data["duration_s"], target_lufs=data["target_lufs"],
                    sr=data.get("sample_rate", 44100), tracks=tracks, links=links)  # fmt: skip


def plot_in_child(timeline_json: Path, png: Path) -> bool:
    """Draw ``png`` from ``timeline_json`` in a child process; ``False`` (logged) if it failed."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "segue.mixing.plot_process", str(timeline_json), str(png)],
            capture_output=True, text=True, timeout=PLOT_TIMEOUT_S, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("%s: plot not drawn (%s)", png, exc)
        return False
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        log.warning("%s: plot not drawn (%s)", png, last)
        return False
    return True


def main(argv: list[str]) -> int:
    """Entry point of the child: read the JSON, draw the PNG."""
    from segue.mixing.artifacts import plot_png

    source, target = Path(argv[0]), Path(argv[1])
    plot_png(timeline_from_json(json.loads(source.read_text(encoding="utf-8"))), target)
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process
    sys.exit(main(sys.argv[1:]))
