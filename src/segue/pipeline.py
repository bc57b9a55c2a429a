"""The whole pipeline as plain functions: inputs → tracks → plan → links → speech → mix.

The CLI, the HTTP service and the prompt workbench are thin shells over these.
Problems with single inputs are collected as one-line messages and the rest of
the job goes on; only a problem that leaves nothing to do raises.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from segue.analysis.decode import AUDIO_EXTENSIONS
from segue.config import Settings
from segue.errors import InputError, SegueError
from segue.library import Library
from segue.mixing.artifacts import write_id3_chapters, write_sidecars
from segue.mixing.encode import (
    SIDECARS,
    FileSink,
    check_output_path,
    limiter_ceiling_dbfs,
    sidecar,
)
from segue.models import Listener, Plan, Timeline, Track
from segue.narration.narrator import Narrator
from segue.sequencing import plan_order
from segue.show.engine import Show
from segue.voice.speech import SpeechEngine

log = logging.getLogger(__name__)

#: ``progress(stage, done, total)``: called as long steps advance.
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


@dataclass
class RenderResult:
    """What a render produced and what it had to skip."""

    out: Path
    timeline: Timeline
    plan: Plan
    problems: list[str] = field(default_factory=list)

    @property
    def artifacts(self) -> dict[str, Path]:
        """The mix and its sidecar files."""
        return {"mix": self.out} | {name: sidecar(self.out, s) for s, name in SIDECARS.items()}


def collect_inputs(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """Expand files and folders into audio files, in a stable order.

    Folders are searched recursively for known audio extensions; a file given
    by name is taken whatever its extension (it may still fail to decode).
    Returns the files (deduplicated) and one message per unusable path.
    """
    files: list[Path] = []
    problems: list[str] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS
            )
            if not found:
                problems.append(f"{p}: folder contains no audio files")
            candidates = found
        elif p.is_file():
            candidates = [p]
        elif p.exists():
            problems.append(f"{p}: not a regular file")
            continue
        else:
            problems.append(f"{p}: no such file or folder")
            continue
        for f in candidates:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files, problems


def distinct_audio(files: Sequence[Path], *, once: str = "played once"
                   ) -> tuple[list[Path], list[str]]:  # fmt: skip
    """Drop files whose bytes repeat an earlier file's (a copy kept in two folders).

    A set must not play the same recording twice because the library holds it
    twice. Only files sharing a size are hashed (the analysis cache's content
    hash), so a library without copies costs one ``stat`` a file. A file that
    cannot be read is kept, for the analysis to report. Returns the files kept, in
    order, and one message per copy left out.
    """
    from segue.analysis.cache import content_hash

    sizes: dict[int, int] = {}
    for f in files:
        with contextlib.suppress(OSError):
            size = f.stat().st_size
            sizes[size] = sizes.get(size, 0) + 1
    first: dict[str, Path] = {}
    kept: list[Path] = []
    notes: list[str] = []
    for f in files:
        try:
            digest = content_hash(f) if sizes.get(f.stat().st_size, 0) > 1 else None
        except OSError:
            digest = None
        if digest is not None and digest in first:
            notes.append(f"{f}: the same audio as {first[digest]}, {once}")
            continue
        if digest is not None:
            first[digest] = f
        kept.append(f)
    return kept, notes


def analyze_files(
    files: Sequence[Path], settings: Settings, progress: Progress = _no_progress
) -> tuple[list[Track], list[str]]:
    """Analyse each file in parallel, cached; a file that fails is reported and skipped.

    Tracks come back in input order. Results (and failures) are kept in the
    analysis cache, so an unchanged file is never analysed twice.
    """
    from segue.analysis.executor import analyze_paths, open_default_cache

    def report(done: int, total: int, outcome: object) -> None:
        progress("analyse", done, total)

    try:
        cache = open_default_cache()
    except SegueError as exc:  # an unusable cache slows the render down, nothing more
        log.warning("analysing without a cache: %s", exc)
        outcomes = analyze_paths(files, jobs=settings.analysis_jobs, progress=report)
    else:
        with cache:
            outcomes = analyze_paths(files, jobs=settings.analysis_jobs, cache=cache,
                                     progress=report)
    tracks = [o.track for o in outcomes if o.track is not None]
    problems = [o.error or f"{o.path}: analysis failed" for o in outcomes if o.track is None]
    return tracks, problems


def render_set(
    paths: Sequence[str | Path],
    out: Path,
    *,
    listener: Listener | None = None,
    settings: Settings,
    narrator: Narrator | None = None,
    engine: SpeechEngine | None = None,
    progress: Progress = _no_progress,
    duration_s: float | None = None,
    arc: str | None = None,
    show_ready: Callable[[Show], None] | None = None,
    keep_speech: bool = False,
) -> RenderResult:
    """Render ``paths`` into a narrated mix at ``out`` with its transcript and timeline.

    The show engine plays the set as fast as it can into the file: each track once
    in the global plan's order (exact up to 12 tracks, near-optimal beyond), or, with
    ``duration_s``, an endless show that ends after the track crossing that time.
    ``show_ready`` is called with the running show (to react to it from Python);
    ``keep_speech`` keeps the links' speech in the result's timeline (to render it
    again, as tests and benchmarks do).

    Raises
    ------
    OutputError
        Before any work, when ``out`` is unusable or would overwrite an input.
    InputError
        When no input could be used at all (the message lists why).

    """
    listener = listener or Listener()
    files, problems = collect_inputs(paths)
    check_output_path(out, files)
    files, copies = distinct_audio(files)
    problems += copies
    tracks, analysis_problems = analyze_files(files, settings, progress)
    problems += analysis_problems
    if not tracks:
        raise InputError("nothing to play: " + ("; ".join(problems) or "no input files"))
    library = Library.of(tracks)
    endless = duration_s is not None
    plan = None if endless else plan_order(tracks, listener=listener, settings=settings, arc=arc)
    progress("plan", 1, 1)
    ceiling = limiter_ceiling_dbfs(out, settings.ceiling_dbfs)
    show = Show(library, listener=listener, settings=settings, narrator=narrator, voice=engine,
                endless=endless, plan=plan, arc=arc, stop_after_s=duration_s,
                ceiling_dbfs=ceiling, keep_speech=keep_speech)  # fmt: skip
    if show_ready is not None:
        show_ready(show)
    with show:
        timeline = _play_into(show, out, progress, duration_s)
        problems += [f"link before track {i + 1} not spoken: {why}"
                     for i, why in sorted(show.log.dropped.items())]  # fmt: skip
        problems += show.library.problems  # tracks that became unplayable mid-show
        heard = show.log.plan()
        write_sidecars(out, timeline, heard, show.log.dropped)
    return RenderResult(out=out, timeline=timeline, plan=heard, problems=problems)


def _play_into(show: Show, out: Path, progress: Progress, duration_s: float | None) -> Timeline:
    """Encode the show's blocks into ``out``; the timeline of what was heard."""
    settings, sr = show.settings, show.sr
    expected = duration_s
    if expected is None:
        expected = sum(t.analysis.duration_s for t in show.library.tracks()) * 0.93
    total = max(1, round(expected * sr))
    done = 0

    def chapters(tmp: Path) -> None:
        write_id3_chapters(tmp, heard_timeline())

    def heard_timeline() -> Timeline:
        return show.log.timeline(sr=sr, target_lufs=settings.target_lufs,
                                 duration_s=show.position_s)  # fmt: skip

    with FileSink(out, sr=sr, before_commit=chapters if out.suffix == ".mp3" else None,
                  ceiling_dbfs=settings.ceiling_dbfs) as sink:
        for block in show.blocks():
            sink.write(block)
            done += block.shape[1]
            progress("mix", min(done, total), total)
        progress("mix", total, total)
    return heard_timeline()
