"""``segue prompts``: the prompt workbench (list, show, preview, eval, compare, guards).

Producers tune the templates and parts in ``prompts/`` here: see what a template
renders and what each backend makes of it for a real playlist (and hear it,
with ``preview --audio``), score it over the case set in ``prompts/cases/`` or a
real folder (``--set``), compare two templates or backends side by side, keep
every run (``--history``) to diff tuning over time, and measure the guards.

Only light modules are imported here; analysis and planning are imported by
the commands that need them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from segue.cli import app, err, fail, skipped
from segue.cli.options import LlmBaseUrlOpt, LlmModelOpt, NarratorOpt, PromptsOpt
from segue.config import Settings
from segue.errors import InputError, SegueError
from segue.listener import load_listener
from segue.models import Listener
from segue.narration.backends import NARRATORS, llm_settings, make_narrator
from segue.narration.evaluate import (
    METRICS,
    Case,
    EvalRun,
    better,
    default_cases_dir,
    evaluate,
    format_metric,
    load_cases,
    voice_speaker,
    write_json,
    write_report,
)
from segue.narration.narrator import Line, LinkRequest, Narrator, TemplateNarrator
from segue.narration.script import Gap, narrate_gaps
from segue.narration.templates import TemplateStore

if TYPE_CHECKING:
    from segue.models import FloatArray

prompts_app = typer.Typer(
    help="The prompt workbench: list, show, preview, evaluate and compare templates.",
    no_args_is_help=True,
)
app.add_typer(prompts_app, name="prompts")
out = Console()

PromptsDir = PromptsOpt
BaseUrlOpt = LlmBaseUrlOpt
ModelOpt = LlmModelOpt
CasesOpt = Annotated[
    Path | None, typer.Option("--cases", help="Folder of case files (default: PROMPTS/cases).")
]
CaseOpt = Annotated[
    list[str] | None, typer.Option("--case", help="Only this case (repeatable).")
]
SetOpt = Annotated[
    list[Path] | None,
    typer.Option("--set", help="Score on this real folder or file instead of the cases "
                 "(repeatable; analysed and planned like a render)."),
]  # fmt: skip
ListenerOpt = Annotated[
    Path | None, typer.Option("--listener", help="Listener profile (TOML) for --set / preview.")
]
HistoryOpt = Annotated[
    Path | None,
    typer.Option("--history", help="Keep this run as JSON in this folder (one file per run, "
                 "plus index.jsonl), to diff tuning over time."),
]  # fmt: skip
NoSpeechOpt = Annotated[
    bool, typer.Option("--no-speech", help="Skip synthesis (no spoken-fit metric).")
]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Generate every line afresh (ignore the line cache).")
]


def _store(directory: Path | None) -> TemplateStore:
    return TemplateStore(directory) if directory else TemplateStore()


def _settings(
    narrator: str | None, base_url: str | None, model: str | None, *, no_cache: bool = False
) -> Settings:
    settings = llm_settings(Settings.from_env(), narrator, base_url, model)
    return dataclasses.replace(settings, llm_cache=False) if no_cache else settings


# ---------------------------------------------------------------------------- list, show


def _use(name: str, meta: dict[str, str], purpose: str) -> str:
    """``link · chatty · talkover · de``: what a template is chosen for."""
    language = [p for p in name.split(".")[1:] if len(p) == 2]
    parts = [purpose, meta.get("talk", "any"), meta.get("delivery", "any"), *language]
    return " · ".join(p for p in parts if p and p != "any")


@prompts_app.command("list")
def list_templates(prompts: PromptsDir = None) -> None:
    """List the templates: what each is chosen for, its length and what it is."""
    from rich.padding import Padding

    try:
        store = _store(prompts)
        rows = [(name, store.get(name)) for name in store.names()]
    except SegueError as exc:
        raise fail(str(exc)) from exc
    out.print(f"[bold]Templates in {store.directory}[/]", highlight=False)
    for name, t in rows:
        personal = t.meta.get("personal", "name, likes")
        out.print(f"\n[bold]{name}[/]  [dim]{_use(name, dict(t.meta), t.purpose)} · "
                  f"{t.target_words} words · personal: {personal}[/]", highlight=False)
        out.print(Padding(t.description, (0, 0, 0, 2)), highlight=False)


@prompts_app.command("show")
def show(
    template: Annotated[str, typer.Argument(help="Template name or .j2 path.")],
    case: Annotated[
        str | None,
        typer.Option("--case", help="Also render every block of this template for the case's "
                     "first line of its kind."),
    ] = None,
    prompts: PromptsDir = None,
    cases: CasesOpt = None,
) -> None:
    """Show a template's front matter and source (and, with --case, what it renders)."""
    from rich.syntax import Syntax

    try:
        store = _store(prompts)
        t = store.get(template)
        out.print(f"[bold]{t.name}[/]  {t.path}", highlight=False)
        for key, value in t.meta.items():
            out.print(f"  {key}: {value}", highlight=False)
        out.print(Syntax(t.source, "jinja", theme="ansi_dark", word_wrap=True))
        if case is None:
            return
        found = load_cases(cases or default_cases_dir(store), [case])[0]
        # The case's first line of this template's kind, rendered with this very template.
        pairs = narrate_gaps(list(found.gaps), found.listener, TemplateNarrator(store), store,
                             template=t.purpose, now=found.now)  # fmt: skip
        if not pairs:
            raise fail(f"case {case!r} has no {t.purpose} line")
        rendered = store.render_all(template, pairs[0][0].context)
        for block in ("line", "system", "prompt", "completion"):
            text = getattr(rendered, block)
            if text:
                out.print(Panel(text, title=block, title_align="left"))
    except SegueError as exc:
        raise fail(str(exc)) from exc


# ---------------------------------------------------------------------------- preview


def gaps_for_folder(
    paths: list[Path], listener: Listener, settings: Settings
) -> tuple[list[Gap], list[str]]:
    """A playlist's gaps as a render would make them (folder → list of :class:`Gap`).

    Analyses (cached) the files, then asks the show engine for the gaps a render
    would narrate: its plan for ``listener``, its handovers (from the grids) and
    the facts it gives the words stage. Returns them with the problems met.

    Raises
    ------
    InputError
        When no file could be used.

    """
    from segue.library import Library
    from segue.pipeline import analyze_files, collect_inputs
    from segue.show.engine import Show

    files, problems = collect_inputs(paths)
    tracks, failed = analyze_files(files, settings)
    problems += failed
    if not tracks:
        raise InputError("nothing to preview: " + ("; ".join(problems) or "no input files"))
    with Show(Library.of(tracks), listener=listener, settings=settings, endless=False) as show:
        gaps = show.gaps()
    if not settings.closing_link:
        gaps = [g for g in gaps if g.kind != "closing"]
    return gaps, problems


def _prompt_text(line: Line, backend: str, store: TemplateStore, req: LinkRequest) -> str:
    """What the backend was sent; for the template narrator, what a chat model would be."""
    prompt = line.prompt or store.render_all(req.template, req.context)
    if backend == "local":
        return prompt.completion
    system = f"[system]\n{prompt.system}\n\n" if prompt.system else ""
    return f"{system}[user]\n{prompt.prompt}" if prompt.prompt else ""


def _speak_to_files(
    pairs: list[tuple[LinkRequest, Line]], settings: Settings, language: str, folder: Path
) -> list[tuple[Path | None, float | None]]:
    """Each line spoken with the configured voice into ``folder``: (file, seconds) per line."""
    import soundfile as sf

    from segue.config import default_cache_dir
    from segue.voice.engines import close_engine, make_engine
    from segue.voice.speech import SpeechCache, prepare_speech, synthesize_phrased

    folder.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.voice_engine, settings, language=language)
    cache = SpeechCache(default_cache_dir() / "speech")
    result: list[tuple[Path | None, float | None]] = []
    try:
        for req, line in pairs:
            path = folder / f"{req.before_track + 1:03d}-{req.kind}.wav"
            try:
                raw, sr = synthesize_phrased(engine, line.text, cache)
                samples: FloatArray = prepare_speech(raw, sr, out_sr=sr,
                                                     target_lufs=settings.target_lufs)
                sf.write(path, samples, sr)
                result.append((path, len(samples) / sr))
            except SegueError as exc:
                skipped(f"line before track {req.before_track + 1} not spoken: {exc}")
                result.append((None, None))
    finally:
        close_engine(engine)
    return result


def _preview_table(
    pairs: list[tuple[LinkRequest, Line]], spoken: list[tuple[Path | None, float | None]]
) -> Table:
    table = Table("#", "kind", "words", "spoken / window s", "backend", "line",
                  title="Preview", title_justify="left")  # fmt: skip
    for (req, line), (_, secs) in zip(pairs, spoken, strict=True):
        window = float(req.context["window_s"])
        fits = secs is not None and secs <= window + 0.05
        colour = "green" if fits else "red"
        mark = "–" if secs is None else f"[{colour}]{secs:.1f}[/] / {window:.1f}"
        table.add_row(str(req.before_track + 1), req.kind, f"{len(line.text.split())}/"
                      f"{req.word_budget}", mark, line.backend, line.text)  # fmt: skip
    return table


@prompts_app.command("preview")
def preview(
    template: Annotated[
        str, typer.Argument(help="all, a kind (opening/link/closing), a template name or path.")
    ],
    paths: Annotated[list[Path], typer.Argument(help="Audio files or folders (the playlist).")],
    listener: ListenerOpt = None,
    narrator_name: NarratorOpt = None,
    llm_base_url: BaseUrlOpt = None,
    llm_model: ModelOpt = None,
    prompts: PromptsDir = None,
    audio: Annotated[
        Path | None,
        typer.Option("--audio", help="Speak each line with the configured voice into this "
                     "folder (one WAV per line); the table shows its length against the window."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of panels.")] = False,
) -> None:
    """For each gap of a playlist: the rendered prompt and the generated line."""
    try:
        profile = load_listener(listener) if listener else Listener()
        settings = _settings(narrator_name, llm_base_url, llm_model)
        store = _store(prompts)
        if template not in ("all", "opening", "link", "closing"):
            store.get(template)
        narrator = make_narrator(settings.narrator, settings, store=store)
        gaps, problems = gaps_for_folder(paths, profile, settings)
        pairs = narrate_gaps(gaps, profile, narrator, store, template=template,
                             settings=settings)  # fmt: skip
        spoken: list[tuple[Path | None, float | None]] = [(None, None)] * len(pairs)
        if audio is not None:
            spoken = _speak_to_files(pairs, settings, profile.language, audio)
    except SegueError as exc:
        raise fail(str(exc)) from exc
    for problem in problems:
        skipped(problem)
    if as_json:
        typer.echo(json.dumps(_preview_json(pairs, spoken, narrator, store), indent=2,
                              ensure_ascii=False))  # fmt: skip
    else:
        _print_preview(pairs, spoken, narrator, store, audio is not None)
    if problems:
        raise typer.Exit(1)


def _preview_json(pairs: list[tuple[LinkRequest, Line]],
                  spoken: list[tuple[Path | None, float | None]], narrator: Narrator,
                  store: TemplateStore) -> list[dict[str, object]]:  # fmt: skip
    return [{
        "before_track": req.before_track, "kind": req.kind, "template": req.template,
        "delivery": req.delivery, "window_s": req.context["window_s"],
        "word_budget": req.word_budget, "prompt": _prompt_text(line, narrator.name, store, req),
        "text": line.text, "backend": line.backend, "fallback": line.fallback_reason,
        "raw": line.raw, "latency_s": round(line.latency_s, 4), "cached": line.cached,
        "parts": list(line.parts), "speech_s": round(secs, 3) if secs is not None else None,
        "audio": str(path) if path else None,
    } for (req, line), (path, secs) in zip(pairs, spoken, strict=True)]  # fmt: skip


def _print_preview(pairs: list[tuple[LinkRequest, Line]],
                   spoken: list[tuple[Path | None, float | None]], narrator: Narrator,
                   store: TemplateStore, table: bool) -> None:  # fmt: skip
    for req, line in pairs:
        ctx = req.context
        prev = f"{ctx['prev']['title']} → " if ctx["prev"] else ""
        nxt = ctx["next"]["title"] if ctx["next"] else "(end of set)"
        head = (f"{req.kind} before track {req.before_track + 1}: {prev}{nxt} · "
                f"{req.template} · {req.delivery} {ctx['window_s']} s · "
                f"budget {req.word_budget} words")  # fmt: skip
        prompt = _prompt_text(line, narrator.name, store, req)
        if prompt:
            out.print(Panel(prompt, title="prompt", title_align="left"))
        who = line.backend + (f" (fallback: {line.fallback_reason})"
                              if line.fallback_reason else "")  # fmt: skip
        if line.fallback_reason and line.raw:
            who += f"\nrefused answer: {line.raw!r}"
        out.print(Panel(f"{line.text}\n\n[dim]{who} · {line.latency_s:.2f} s"
                        f"{' · cached' if line.cached else ''}[/]", title=head,
                        title_align="left"))  # fmt: skip
    if table:
        out.print(_preview_table(pairs, spoken))


# ---------------------------------------------------------------------------- eval, compare


def _run(
    spec: str, default_backend: str, base: Settings, store: TemplateStore, cases: list[Case],
    *, speech: bool,
) -> EvalRun:  # fmt: skip
    from rich.progress import BarColumn, Progress, TextColumn

    template, backend = spec, default_backend
    if "@" in spec and spec.rsplit("@", 1)[1] in NARRATORS:
        template, backend = spec.rsplit("@", 1)
    if template not in ("all", "opening", "link", "closing"):
        store.get(template)
    settings = dataclasses.replace(base, narrator=backend)
    narrator: Narrator = make_narrator(backend, settings, store=store)
    model = str(getattr(getattr(narrator, "backend", None), "model", ""))
    speak, close = voice_speaker(settings) if speech else (None, lambda: None)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} cases"), console=err,
                      transient=True) as bar:  # fmt: skip
            task = bar.add_task(f"Evaluating {template}@{backend}", total=len(cases))
            return evaluate(
                cases, narrator, store, settings, template=template,
                label=f"{template}@{backend}", model=model, speak=speak,
                progress=lambda done, total: bar.update(task, completed=done),
            )  # fmt: skip
    finally:
        close()


def _folder_cases(paths: list[Path], listener: Listener, settings: Settings) -> list[Case]:
    """A real folder as one evaluation case (analysed and planned like a render)."""
    gaps, problems = gaps_for_folder(paths, listener, settings)
    for problem in problems:
        skipped(problem)
    name = " + ".join(p.name or str(p) for p in paths)
    return [Case(name=name, description=f"the folder {name}", listener=listener,
                 now=dt.datetime.now(), gaps=tuple(gaps))]  # fmt: skip


def _cases(
    store: TemplateStore, cases: Path | None, case: list[str] | None, folders: list[Path] | None,
    listener: Path | None, settings: Settings,
) -> list[Case]:  # fmt: skip
    if folders:
        profile = load_listener(listener) if listener else Listener()
        return _folder_cases(folders, profile, settings)
    return load_cases(cases or default_cases_dir(store), case or [])


def keep_history(folder: Path, runs: list[EvalRun]) -> Path:
    """Write ``runs`` as ``folder/TIMESTAMP-LABELS.json`` and append a summary to ``index.jsonl``.

    Nothing already there is overwritten. Returns the run's file.

    Raises
    ------
    InputError
        When the folder cannot be written.

    """
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    labels = "-vs-".join(re.sub(r"[^\w.@-]+", "_", r.label) for r in runs)[:120]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stamp}-{labels}.json"
        n = 1
        while path.exists():
            n += 1
            path = folder / f"{stamp}-{labels}-{n}.json"
        write_json(path, runs)
        with (folder / "index.jsonl").open("a", encoding="utf-8") as index:
            index.write(json.dumps({"at": stamp, "file": path.name, "runs": [
                {"label": r.label, "model": r.model, "cases": r.cases, "metrics": r.metrics}
                for r in runs]}, ensure_ascii=False) + "\n")  # fmt: skip
    except OSError as exc:
        raise InputError(f"{folder}: cannot keep the run ({exc})") from exc
    return path


def _metrics_table(runs: list[EvalRun]) -> Table:
    table = Table("metric", *(r.label for r in runs), title="Prompt evaluation")
    for name, _, _ in METRICS:
        cells = [format_metric(name, r.metrics.get(name)) for r in runs]
        if len(runs) == 2:
            mark = better(name, runs[0].metrics.get(name), runs[1].metrics.get(name))
            cells[1] += {1: " [green]▲[/]", -1: " [red]▼[/]", 0: ""}[mark]
        table.add_row(name, *cells)
    return table


def _print_runs(runs: list[EvalRun], *, lines: bool) -> None:
    out.print(_metrics_table(runs))
    for r in runs:
        if r.fallback_reasons:
            reasons = "; ".join(f"{k} ×{v}" for k, v in r.fallback_reasons.items())
            out.print(f"[yellow]fallbacks, {r.label}:[/] {reasons}", highlight=False)
        if lines:
            table = Table("case", "#", "backend", "words", "speech s", "line",
                          title=f"Lines, {r.label}")  # fmt: skip
            for ln in r.lines:
                speech = f"{ln.speech_s:.1f}/{ln.available_s:.1f}" if ln.speech_s is not None \
                    else "–"
                flag = f" [red]({'; '.join(ln.problems)})[/]" if ln.problems else ""
                table.add_row(ln.case, str(ln.before_track), ln.backend,
                              f"{ln.words}/{ln.budget}", speech, ln.text + flag)  # fmt: skip
            out.print(table)


@prompts_app.command("eval")
def eval_template(
    template: Annotated[
        str, typer.Argument(help="all, a kind (opening/link/closing), a template name or path.")
    ] = "all",
    narrator_name: NarratorOpt = None,
    llm_base_url: BaseUrlOpt = None,
    llm_model: ModelOpt = None,
    cases: CasesOpt = None,
    case: CaseOpt = None,
    folders: SetOpt = None,
    listener: ListenerOpt = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the run as JSON to this file.")
    ] = None,
    history: HistoryOpt = None,
    lines: Annotated[bool, typer.Option("--lines", help="Also print every line.")] = False,
    no_speech: NoSpeechOpt = False,
    no_cache: NoCacheOpt = False,
    prompts: PromptsDir = None,
) -> None:
    """Score TEMPLATE over the case set (or a folder): budget and spoken fit, grounding, ..."""
    try:
        settings = _settings(narrator_name, llm_base_url, llm_model, no_cache=no_cache)
        store = _store(prompts)
        found = _cases(store, cases, case, folders, listener, settings)
        run = _run(template, settings.narrator, settings, store, found,
                   speech=not no_speech)  # fmt: skip
        if json_out is not None:
            write_json(json_out, [run])
        kept = keep_history(history, [run]) if history is not None else None
    except SegueError as exc:
        raise fail(str(exc)) from exc
    _print_runs([run], lines=lines)
    for label, path in (("JSON", json_out), ("kept", kept)):
        if path is not None:
            err.print(f"{label}: {path}", highlight=False)


@prompts_app.command("compare")
def compare(
    a: Annotated[str, typer.Argument(help="TEMPLATE[@BACKEND], e.g. link or link@openai.")],
    b: Annotated[str, typer.Argument(help="TEMPLATE[@BACKEND], e.g. drafts/link.j2@local.")],
    narrator_name: NarratorOpt = None,
    llm_base_url: BaseUrlOpt = None,
    llm_model: ModelOpt = None,
    cases: CasesOpt = None,
    case: CaseOpt = None,
    folders: SetOpt = None,
    listener: ListenerOpt = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write a report: .html for HTML, else Markdown."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write both runs as JSON to this file.")
    ] = None,
    history: HistoryOpt = None,
    lines: Annotated[bool, typer.Option("--lines", help="Also print every line.")] = False,
    no_speech: NoSpeechOpt = False,
    no_cache: NoCacheOpt = False,
    prompts: PromptsDir = None,
) -> None:
    """Two templates (or backends) side by side, each only on the lines it would serve."""
    try:
        settings = _settings(narrator_name, llm_base_url, llm_model, no_cache=no_cache)
        store = _store(prompts)
        found = _cases(store, cases, case, folders, listener, settings)
        runs = [_run(spec, settings.narrator, settings, store, found, speech=not no_speech)
                for spec in (a, b)]  # fmt: skip
        if report is not None:
            write_report(report, runs)
        if json_out is not None:
            write_json(json_out, runs)
        kept = keep_history(history, runs) if history is not None else None
    except SegueError as exc:
        raise fail(str(exc)) from exc
    _print_runs(runs, lines=lines)
    for label, path in (("report", report), ("JSON", json_out), ("kept", kept)):
        if path is not None:
            err.print(f"{label}: {path}", highlight=False)


@prompts_app.command("guards")
def guards(
    prompts: PromptsDir = None,
    show_all: Annotated[bool, typer.Option("--all", help="List every refused good line and "
                                           "every bad line that got through.")] = False,
) -> None:
    """The guards' precision on the good lines and recall on the bad lines of PROMPTS/guards."""
    from segue.narration.guardsets import default_guards_dir, score_guards

    try:
        score = score_guards(default_guards_dir(_store(prompts).directory), Settings.from_env())
    except SegueError as exc:
        raise fail(str(exc)) from exc
    out.print(f"precision {score.precision:.1%} on {score.good} good lines, "
              f"recall {score.recall:.1%} on {score.bad} bad lines", highlight=False)
    table = Table("mistake", "refused", "caught first by", title="Bad lines by kind")
    for kind, share in score.recall_by_kind.items():
        caught = ", ".join(f"{g} ×{n}" for g, n in score.caught_by.get(kind, {}).items())
        table.add_row(kind, f"{share:.0%}", caught)
    out.print(table)
    for r in score.false_alarms if show_all else score.false_alarms[:5]:
        out.print(f"[yellow]refused good line[/] ({r.case.context_name}): {r.case.text} "
                  f"[dim]({'; '.join(r.problems)})[/]", highlight=False)
    for r in score.missed:
        out.print(f"[red]bad line let through[/] ({r.case.why}): {r.case.text}", highlight=False)
    if score.missed:
        raise typer.Exit(1)
