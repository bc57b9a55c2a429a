"""The prompt workbench's evaluation: score a template and backend over a case set.

A case (``prompts/cases/*.toml``) is one realistic set: a listener and a few
tracks with their facts, the talk-over window before each and the sequencer's
reason for each transition. Every case is narrated as a set (opening, links,
closing), so variety is measured the way a listener hears it.

Metrics (each a share in 0–1 unless its name has a unit):

Quality metrics (``budget_fit`` to ``guard_clean``) are measured on the
backend's own lines: for an LLM, the lines it wrote, with the lines that fell
back to the template counted apart (``fallback_rate``, ``own_lines``); for the
template narrator, every line. What a listener hears over a set (variety, the
name rule, personal touches) is measured on every line.

- ``budget_fit``: lines within their word budget.
- ``spoken_fit``: lines whose speech, synthesized with the configured voice and
  trimmed as the mix trims it, fits the time available (the talk-over window;
  for a standalone line, its budget at 2.5 words per second);
  ``spoken_overrun_s``: the mean excess over it.
- ``grounding``: lines that name the next track's title or artist (lines with a
  next track); ``invented``: lines naming an artist or title not in the context.
- ``guard_clean``: spoken lines that pass every guard.
- ``distinct_openers``: distinct two-word openings (names masked, so "Here's A"
  and "Here's B" open alike) per line, per set;
  ``repeated_trigrams``: word 3-grams (names masked) said in more than one line
  of a set, as a share of all 3-grams.
- ``identical``: lines said twice in a set (as a share of lines; should be 0).
- ``informative``: lines that carry a fact, a change as heard or a plain
  reason (composed from such parts, or saying a year, album, genre or a
  change word); ``personal_share``: lines with a personal touch.
- ``name_rule``: sets where the name rule held (the name in the opening and
  the closing, in at most one link in four, never in two lines in a row).
- ``personalisation``: where the template intends it (front matter
  ``personal``: ``name`` and/or ``likes``, default both), the share of chances
  taken: the listener's name in the opening and the closing; a liked track
  introduced as such (what they like, and "you" or their name) where the talk
  plan offered a personal touch. ``name_overuse``: lines that use the name
  where the name rule does not allow it.
- ``latency_mean_s``, ``latency_p95_s``: time per line (generation, guards,
  fallback), over lines not served from the cache.
- ``fallback_rate``: lines where the backend's answer was refused, with the
  reasons counted in ``fallback_reasons``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import itertools
import json
import logging
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from segue.config import Settings
from segue.errors import InputError, NarrationError, SegueError
from segue.listener import listener_from_dict
from segue.models import Listener
from segue.narration.compose import INFORMATIVE
from segue.narration.context import facts_from_mapping
from segue.narration.guards import (
    banned_list,
    check_line,
    invented_names,
    known_names,
    known_tokens,
    line_opener,
    readable_opener,
)
from segue.narration.guards import line_shape as _line_shape
from segue.narration.guards import mask_names as _mask_names
from segue.narration.narrator import Line, LinkRequest, Narrator
from segue.narration.script import Gap, narrate_gaps
from segue.narration.templates import TemplateStore
from segue.narration.text import WORDS_PER_SECOND, mentions, word_count

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

log = logging.getLogger(__name__)

#: Metrics in report order, with how to show them and whether higher is better.
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("lines", "{:.0f}", True),
    ("budget_fit", "{:.0%}", True),
    ("spoken_fit", "{:.0%}", True),
    ("spoken_overrun_s", "{:.2f}", False),
    ("grounding", "{:.0%}", True),
    ("invented", "{:.0%}", False),
    ("guard_clean", "{:.0%}", True),
    ("distinct_openers", "{:.0%}", True),
    ("repeated_trigrams", "{:.0%}", False),
    ("personalisation", "{:.0%}", True),
    ("name_overuse", "{:.0%}", False),
    ("identical", "{:.0%}", False),
    ("informative", "{:.0%}", True),
    ("personal_share", "{:.0%}", False),
    ("name_rule", "{:.0%}", True),
    ("own_lines", "{:.0f}", True),
    ("latency_mean_s", "{:.3f}", False),
    ("latency_p95_s", "{:.3f}", False),
    ("fallback_rate", "{:.0%}", False),
)

#: ``speak(text, language) -> seconds`` of speech as the mix would play it.
SpeakFn = Callable[[str, str], float]


@dataclass(frozen=True)
class Case:
    """One evaluation set: a listener, the local time, and the gaps of the set."""

    name: str
    description: str
    listener: Listener
    now: dt.datetime
    gaps: tuple[Gap, ...]


@dataclass
class LineResult:
    """One narrated line with everything the metrics need."""

    case: str
    before_track: int
    kind: str
    template: str
    delivery: str
    text: str
    backend: str
    fallback_reason: str | None
    words: int
    budget: int
    window_s: float
    available_s: float
    speech_s: float | None
    latency_s: float
    cached: bool
    names_next: bool | None
    invented: list[str]
    problems: list[str]
    name_expected: bool
    name_used: bool
    like_expected: bool
    like_used: bool
    raw: str | None = None
    prompt: dict[str, str] = field(default_factory=dict)
    opener: str = ""
    parts: list[str] = field(default_factory=list)
    informative: bool = False
    personal: bool = False
    guards: list[str] = field(default_factory=list)
    name_allowed: bool = False


@dataclass
class EvalRun:
    """The lines and metrics of one template and backend over a case set."""

    label: str
    template: str
    backend: str
    model: str
    cases: list[str]
    metrics: dict[str, float | None]
    fallback_reasons: dict[str, int]
    lines: list[LineResult]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data (stable keys, so runs can be diffed)."""
        return asdict(self)


def _time(value: object, source: str) -> dt.datetime:
    base = dt.datetime(2024, 5, 3, 12, 0)
    if value is None:
        return base
    try:
        t = dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise InputError(f"{source}: time = {value!r}, expected HH:MM") from exc
    return base.replace(hour=t.hour, minute=t.minute)


def load_case(path: Path) -> Case:
    """Read one case file; a bad field raises :class:`InputError` naming file and field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read case ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from exc
    listener = listener_from_dict(dict(data.get("listener", {})), source=f"{path}: listener")
    tracks = data.get("tracks")
    if not isinstance(tracks, list) or not tracks:
        raise InputError(f"{path}: needs at least one [[tracks]] entry")
    gaps: list[Gap] = []
    facts: list[dict[str, Any]] = []
    for i, tr in enumerate(tracks):
        where = f"{path}: tracks[{i}]"
        if not isinstance(tr, dict) or not tr.get("title") or not tr.get("artist"):
            raise InputError(f"{where}: needs a title and an artist")
        try:
            facts.append(facts_from_mapping(tr))
            window = float(tr.get("window_s", 8.0))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: {exc}") from exc
        gaps.append(Gap(before_track=i, kind="opening" if i == 0 else "link",
                        prev=facts[i - 1] if i else None, next=facts[i],
                        reason=str(tr.get("reason", "")), window_s=window,
                        total=len(tracks)))  # fmt: skip
    gaps = [dataclasses.replace(g, upcoming=tuple(facts[g.before_track + 1:])) for g in gaps]
    if data.get("closing", True):
        gaps.append(Gap(before_track=len(tracks), kind="closing", prev=facts[-1], next=None,
                        reason="", window_s=float(data.get("closing_window_s", 6.0)),
                        total=len(tracks)))  # fmt: skip
    return Case(
        name=str(data.get("name", path.stem)), description=str(data.get("description", "")),
        listener=listener, now=_time(data.get("time"), str(path)), gaps=tuple(gaps),
    )  # fmt: skip


def default_cases_dir(store: TemplateStore) -> Path:
    """``cases/`` inside the prompts folder."""
    return store.directory / "cases"


def load_cases(directory: Path, names: Sequence[str] = ()) -> list[Case]:
    """Every ``*.toml`` case in ``directory`` (or only ``names``), sorted by file name.

    Raises
    ------
    InputError
        When the folder holds no case, a named case is missing, or a file is invalid.

    """
    files = sorted(directory.glob("*.toml"))
    if names:
        wanted = set(names)
        files = [f for f in files if f.stem in wanted]
        missing = wanted - {f.stem for f in files}
        if missing:
            raise InputError(f"{directory}: no case named {', '.join(sorted(missing))}")
    if not files:
        raise InputError(f"{directory}: no evaluation cases (*.toml)")
    return [load_case(f) for f in files]


def _personal(store: TemplateStore, template: str) -> set[str]:
    raw = store.get(template).meta.get("personal", "name, likes")
    return {p.strip() for p in raw.split(",") if p.strip() and p.strip() != "none"}


_INFORMATIVE_WORDS = re.compile(
    r"\b(pace|tempo|key|energy|calmer|livelier|brighter|darker|album|genre|groove|"
    r"building|winding|slow(?:er|ing)|fast(?:er)?|quicker)\b|\b(?:19|20)\d\d\b", re.I)
_SECOND_PERSON = re.compile(r"\b(you|your|yours|you're|favourite|favorite)\b", re.I)


def _personal_use(line: Line, listener: Mapping[str, Any]) -> tuple[bool, bool]:
    """Whether ``line`` says the name, and whether it makes a personal touch."""
    named = bool(listener["name"] and mentions(line.text, listener["name"]))
    if line.parts:
        return named, any(p.startswith("personal") for p in line.parts)
    liked_said = bool(listener["liked_reason"]) and mentions(line.text, listener["liked_reason"])
    return named, named or (liked_said and bool(_SECOND_PERSON.search(line.text)))


def _score_line(
    case: Case, request: LinkRequest, line: Line, store: TemplateStore,
    settings: Settings, speak: SpeakFn | None,
) -> LineResult:  # fmt: skip
    ctx = request.context
    listener = ctx["listener"]
    nxt = ctx.get("next")
    verdict = check_line(line.text, context=ctx, word_budget=request.word_budget,
                         recent=request.recent, banned=banned_list(settings.banned_phrases),
                         recent_openers=request.recent_openers)
    personal = _personal(store, request.template)
    offered = set(ctx.get("personal") or ())
    name_used, personal_used = _personal_use(line, listener)
    name_expected = bool("name" in personal and listener["name"] and request.kind != "link")
    like_expected = "likes" in personal and bool(offered & {"liked_artist", "liked_genre"})
    like_used = like_expected and mentions(line.text, listener["liked_reason"]) and bool(
        _SECOND_PERSON.search(line.text) or name_used)
    available = request.context["window_s"] if request.delivery == "talkover" else (
        request.word_budget / WORDS_PER_SECOND)  # fmt: skip
    speech_s = None
    if speak is not None:
        try:
            speech_s = speak(line.text, case.listener.language)
        except SegueError as exc:
            log.warning("%s, line %d: not synthesized (%s)", case.name, request.before_track, exc)
    prompt = {}
    if line.prompt is not None:
        prompt = {"system": line.prompt.system, "prompt": line.prompt.prompt,
                  "completion": line.prompt.completion}  # fmt: skip
    informative = any(p.split(".")[0] in INFORMATIVE for p in line.parts) if line.parts \
        else bool(_INFORMATIVE_WORDS.search(line.text))
    return LineResult(
        case=case.name, before_track=request.before_track, kind=request.kind,
        template=request.template, delivery=request.delivery, text=line.text,
        backend=line.backend, fallback_reason=line.fallback_reason,
        words=word_count(line.text), budget=request.word_budget,
        window_s=float(request.context["window_s"]), available_s=round(float(available), 2),
        speech_s=round(speech_s, 3) if speech_s is not None else None,
        latency_s=round(line.latency_s, 4), cached=line.cached,
        names_next=None if not nxt else any(
            mentions(line.text, n) for n in (nxt["title"], nxt["artist"]) if n),
        invented=invented_names_in(line.text, ctx), problems=list(verdict.problems),
        name_expected=name_expected, name_used=name_used,
        like_expected=like_expected, like_used=bool(like_used),
        raw=line.raw, prompt=prompt,
        opener=readable_opener(line_opener(line.text, known_names(ctx))),
        parts=list(line.parts), informative=informative, personal=personal_used,
        guards=list(verdict.guards), name_allowed=bool(listener["name_allowed"]),
    )  # fmt: skip


def invented_names_in(text: str, context: Mapping[str, Any]) -> list[str]:
    """Names in ``text`` that the context does not account for (see the guards)."""
    names = known_names(context)
    nxt = context.get("next") or {}
    extra = [str(nxt.get("title", "")), str(nxt.get("artist", ""))]
    language = str(context["listener"].get("language") or "en")
    return invented_names(_mask_names(text, [*names, *extra]),
                          known_tokens([*names, *extra]), language)  # fmt: skip


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _trigrams(text: str) -> list[tuple[str, ...]]:
    shape = _line_shape(text)
    return [tuple(shape[i : i + 3]) for i in range(len(shape) - 2)]


def _name_rule_held(lines: Sequence[LineResult]) -> bool:
    """The name in the opening and closing, at most one link in four, never twice in a row."""
    named = [ln.name_used for ln in lines]
    if any(a and b for a, b in itertools.pairwise(named)):
        return False
    links = [ln.name_used for ln in lines if ln.kind == "link"]
    return all(sum(links[i : i + 4]) <= 1 for i in range(len(links)))


def _variety(by_case: Mapping[str, list[LineResult]]) -> dict[str, float | None]:
    distinct: list[float] = []
    repeated: list[float] = []
    identical: list[float] = []
    for case_lines in by_case.values():
        openers = [ln.opener for ln in case_lines]
        distinct.append(len(set(openers)) / len(openers))
        texts = [" ".join(ln.text.lower().split()) for ln in case_lines]
        identical.append((len(texts) - len(set(texts))) / len(texts))
        grams = [set(_trigrams(ln.text)) for ln in case_lines]
        counts = Counter(g for gs in grams for g in gs)
        total = sum(len(gs) for gs in grams)
        if total:
            repeated.append(sum(1 for gs in grams for g in gs if counts[g] > 1) / total)
    return {
        "distinct_openers": statistics.fmean(distinct) if distinct else None,
        "repeated_trigrams": statistics.fmean(repeated) if repeated else None,
        "identical": statistics.fmean(identical) if identical else None,
        "name_rule": _share([_name_rule_held(ls) for ls in by_case.values()]),
    }


def compute_metrics(lines: Sequence[LineResult]) -> dict[str, float | None]:
    """The metrics of the module docstring over ``lines``."""
    own = [ln for ln in lines if ln.fallback_reason is None]
    spoken = [ln for ln in own if ln.speech_s is not None]
    with_next = [ln for ln in own if ln.names_next is not None]
    by_case: dict[str, list[LineResult]] = {}
    for ln in lines:
        by_case.setdefault(ln.case, []).append(ln)
    expected = sum(ln.name_expected for ln in lines) + sum(ln.like_expected for ln in lines)
    taken = sum(ln.name_expected and ln.name_used for ln in lines) + sum(
        ln.like_used for ln in lines)
    unexpected = [ln for ln in lines if not ln.name_expected and not ln.name_allowed]
    fresh = sorted(ln.latency_s for ln in lines if not ln.cached)
    return {
        "lines": float(len(lines)),
        "budget_fit": _share([ln.words <= ln.budget for ln in own]),
        "spoken_fit": _share([ln.speech_s <= ln.available_s + 0.05 for ln in spoken
                              if ln.speech_s is not None]),
        "spoken_overrun_s": statistics.fmean(
            max(0.0, ln.speech_s - ln.available_s) for ln in spoken if ln.speech_s is not None
        ) if spoken else None,
        "grounding": _share([bool(ln.names_next) for ln in with_next]),
        "invented": _share([bool(ln.invented) for ln in own]),
        "guard_clean": _share([not ln.problems for ln in own]),
        **_variety(by_case),
        "personalisation": taken / expected if expected else None,
        "name_overuse": _share([ln.name_used for ln in unexpected]),
        "informative": _share([ln.informative for ln in lines if ln.kind == "link"]),
        "personal_share": _share([ln.personal for ln in lines if ln.kind == "link"]),
        "own_lines": float(len(own)),
        "latency_mean_s": statistics.fmean(fresh) if fresh else None,
        "latency_p95_s": fresh[min(len(fresh) - 1, round(0.95 * (len(fresh) - 1)))]
        if fresh else None,
        "fallback_rate": _share([ln.fallback_reason is not None for ln in lines]),
    }  # fmt: skip


def reason_kind(reason: str) -> str:
    """A fallback reason without its details, for counting.

    ``guard: over budget (30 words > 20)`` becomes ``guard: over budget``.
    """
    reason = re.sub(r"https?://\S+", "SERVER", reason)
    return re.sub(r"\s*\(.*$", "", reason).strip()


def evaluate(
    cases: Sequence[Case],
    narrator: Narrator,
    store: TemplateStore,
    settings: Settings,
    *,
    template: str = "all",
    label: str | None = None,
    model: str = "",
    speak: SpeakFn | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalRun:
    """Narrate every case with ``narrator`` and score the lines.

    ``template`` is ``all``, a kind (``opening``/``link``/``closing``: its best
    variant per gap) or one template name or path (the gaps of its purpose).

    Raises
    ------
    NarrationError
        When the template applies to no gap of any case.

    """
    results: list[LineResult] = []
    for n, case in enumerate(cases, start=1):
        pairs = narrate_gaps(list(case.gaps), case.listener, narrator, store,
                             template=template, now=case.now, settings=settings)  # fmt: skip
        results += [_score_line(case, req, line, store, settings, speak) for req, line in pairs]
        if progress is not None:
            progress(n, len(cases))
    if not results:
        raise NarrationError(f"template {template!r} applies to no line of the cases")
    reasons = Counter(reason_kind(ln.fallback_reason) for ln in results if ln.fallback_reason)
    return EvalRun(
        label=label or f"{template}@{narrator.name}", template=template, backend=narrator.name,
        model=model, cases=[c.name for c in cases], metrics=compute_metrics(results),
        fallback_reasons=dict(reasons.most_common()), lines=results,
    )  # fmt: skip


def format_metric(name: str, value: float | None) -> str:
    """A metric as the reports show it (``–`` when not measured)."""
    if value is None:
        return "–"
    fmt = next((f for m, f, _ in METRICS if m == name), "{:.3f}")
    return fmt.format(value)


def better(name: str, a: float | None, b: float | None) -> int:
    """``1`` when ``b`` is better than ``a`` on metric ``name``, ``-1`` when worse, else 0."""
    if a is None or b is None or abs(a - b) < 1e-9:
        return 0
    higher = next((h for m, _, h in METRICS if m == name), True)
    return 1 if (b > a) == higher else -1


def markdown_report(runs: Sequence[EvalRun]) -> str:
    """A Markdown report: the metrics side by side, fallback reasons, then every line."""
    out = ["# segue prompt evaluation", ""]
    out.append("| metric | " + " | ".join(r.label for r in runs) + " |")
    out.append("|---|" + "---:|" * len(runs))
    for name, _, _ in METRICS:
        cells = [format_metric(name, r.metrics.get(name)) for r in runs]
        if len(runs) == 2:
            mark = {1: " ▲", -1: " ▼", 0: ""}[better(name, runs[0].metrics.get(name),
                                                     runs[1].metrics.get(name))]
            cells[1] += mark
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "▲/▼: the second run is better/worse on that metric.", ""]
    for r in runs:
        if r.fallback_reasons:
            out.append(f"**Fallbacks, {r.label}:** " + "; ".join(
                f"{k} ×{v}" for k, v in r.fallback_reasons.items()))
            out.append("")
    out += ["## Lines", ""]
    keyed = [{(ln.case, ln.before_track): ln for ln in r.lines} for r in runs]
    keys = sorted({k for d in keyed for k in d}, key=lambda k: (k[0], k[1]))
    out.append("| case | # | " + " | ".join(r.label for r in runs) + " |")
    out.append("|---|---:|" + "---|" * len(runs))
    for key in keys:
        cells = []
        for d in keyed:
            ln = d.get(key)
            if ln is None:
                cells.append("")
                continue
            note = f" _(fallback: {ln.fallback_reason})_" if ln.fallback_reason else ""
            cells.append((ln.text + note).replace("|", "\\|"))
        out.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def html_report(runs: Sequence[EvalRun]) -> str:
    """The Markdown report's content as a standalone HTML page."""
    rows = []
    for name, _, _ in METRICS:
        cells = "".join(f"<td>{html.escape(format_metric(name, r.metrics.get(name)))}</td>"
                        for r in runs)  # fmt: skip
        rows.append(f"<tr><th>{name}</th>{cells}</tr>")
    head = "".join(f"<th>{html.escape(r.label)}</th>" for r in runs)
    keyed = [{(ln.case, ln.before_track): ln for ln in r.lines} for r in runs]
    keys = sorted({k for d in keyed for k in d})
    line_rows = []
    for key in keys:
        cells = ""
        for d in keyed:
            ln = d.get(key)
            text = "" if ln is None else ln.text
            note = f"<br><small>fallback: {html.escape(ln.fallback_reason)}</small>" if (
                ln is not None and ln.fallback_reason) else ""  # fmt: skip
            cells += f"<td>{html.escape(text)}{note}</td>"
        line_rows.append(f"<tr><td>{html.escape(key[0])}</td><td>{key[1]}</td>{cells}</tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>segue prompt evaluation</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;"
        "vertical-align:top}</style></head><body><h1>segue prompt evaluation</h1>"
        f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"
        f"<h2>Lines</h2><table><tr><th>case</th><th>#</th>{head}</tr>{''.join(line_rows)}"
        "</table></body></html>\n"
    )


def write_report(path: Path, runs: Sequence[EvalRun]) -> None:
    """Write the report as HTML (``.html``/``.htm``) or Markdown (anything else).

    Raises
    ------
    InputError
        When ``path`` cannot be written.

    """
    text = html_report(runs) if path.suffix.lower() in (".html", ".htm") else markdown_report(runs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write report ({exc})") from exc


def write_json(path: Path, runs: Sequence[EvalRun]) -> None:
    """Write runs as JSON (one object, or a list for several)."""
    data: Any = runs[0].to_json() if len(runs) == 1 else [r.to_json() for r in runs]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write JSON ({exc})") from exc


def voice_speaker(settings: Settings) -> tuple[SpeakFn, Callable[[], None]]:
    """``speak(text, language) -> seconds`` with the configured voice, and a closer.

    The engine comes from the voice registry (``settings.voice_engine``, one per
    language); speech is phrased and cached like the render's, and measured
    after the same trimming the mix applies.
    """
    from segue.config import default_cache_dir
    from segue.voice.engines import close_engine, make_engine
    from segue.voice.speech import SpeechCache, SpeechEngine, prepare_speech, synthesize_phrased

    engines: dict[str, SpeechEngine] = {}
    cache = SpeechCache(default_cache_dir() / "speech")

    def speak(text: str, language: str = "en") -> float:
        if language not in engines:
            engines[language] = make_engine(settings.voice_engine, settings, language=language)
        samples, sr = synthesize_phrased(engines[language], text, cache)
        out = prepare_speech(samples, sr, out_sr=sr, target_lufs=settings.target_lufs)
        return len(out) / sr

    def close() -> None:
        for engine in engines.values():
            close_engine(engine)

    return speak, close
