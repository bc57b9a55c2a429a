"""The whole pipeline as plain functions: inputs → tracks → plan → links → speech → mix.

The CLI, the HTTP service and the prompt workbench are thin shells over these.
Problems with single inputs are collected as one-line messages and the rest of
the job goes on; only a problem that leaves nothing to do raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from segue.analysis.decode import AUDIO_EXTENSIONS
from segue.config import Settings, default_cache_dir
from segue.errors import InputError, SegueError
from segue.mixing.artifacts import write_id3_chapters, write_sidecars
from segue.mixing.encode import (
    SIDECARS,
    FileSink,
    check_output_path,
    limiter_ceiling_dbfs,
    sidecar,
)
from segue.mixing.render import render_blocks
from segue.mixing.timeline import build_timeline, decide_handovers
from segue.models import Listener, Plan, Timeline, Track
from segue.narration import make_narrator, write_script
from segue.narration.narrator import Narrator
from segue.sequencing import plan_order
from segue.voice.engines import close_engine, make_engine
from segue.voice.speech import SpeechCache, SpeechEngine, speak_links

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
    settings: Settings | None = None,
    narrator: Narrator | None = None,
    engine: SpeechEngine | None = None,
    progress: Progress = _no_progress,
) -> RenderResult:
    """Render ``paths`` into a narrated mix at ``out`` with its transcript and timeline.

    Raises
    ------
    OutputError
        Before any work, when ``out`` is unusable or would overwrite an input.
    InputError
        When no input could be used at all (the message lists why).

    """
    settings = settings or Settings.from_env()
    listener = listener or Listener()
    files, problems = collect_inputs(paths)
    check_output_path(out, files)
    tracks, analysis_problems = analyze_files(files, settings, progress)
    problems += analysis_problems
    if not tracks:
        raise InputError("nothing to play: " + ("; ".join(problems) or "no input files"))

    plan = plan_order(tracks, listener=listener, settings=settings)
    handovers = decide_handovers(plan, settings)
    progress("plan", 1, 1)
    narrator = narrator or make_narrator(settings.narrator, settings)
    links = write_script(plan, listener, narrator, settings, closing=settings.closing_link,
                         handovers=handovers)
    progress("script", 1, 1)

    own_engine = engine is None
    tts = engine or make_engine(settings.voice_engine, settings, language=listener.language)
    try:
        speeches, dropped = speak_links(
            links, tts, settings, SpeechCache(default_cache_dir() / "speech")
        )
    finally:
        if own_engine:
            close_engine(tts)
    problems += [f"link before track {i + 1} not spoken: {why}" for i, why in dropped.items()]
    progress("voice", 1, 1)

    ceiling = limiter_ceiling_dbfs(out, settings.ceiling_dbfs)
    timeline = build_timeline(plan, speeches, settings, handovers=handovers,
                              ceiling_dbfs=ceiling)
    total = round(timeline.duration_s * timeline.sr)
    done = 0
    chapters = (lambda tmp: write_id3_chapters(tmp, timeline)) if out.suffix == ".mp3" else None
    with FileSink(out, sr=timeline.sr, before_commit=chapters,
                  ceiling_dbfs=settings.ceiling_dbfs) as sink:
        for block in render_blocks(timeline, settings, ceiling_dbfs=ceiling):
            sink.write(block)
            done += block.shape[1]
            progress("mix", min(done, total), total)
    write_sidecars(out, timeline, plan, dropped)
    return RenderResult(out=out, timeline=timeline, plan=plan, problems=problems)
