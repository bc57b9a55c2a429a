"""``segue prompts``: the prompt workbench (list, show, preview, eval, compare).

Producers tune the templates in ``prompts/`` here: see what a template renders
and what each backend makes of it for a real playlist, score it over the case
set in ``prompts/cases/``, and compare two templates or backends side by side.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn
from rich.syntax import Syntax
from rich.table import Table

from segue.cli import app, err, fail, skipped
from segue.config import Settings
from segue.errors import SegueError
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
from segue.narration.script import narrate_gaps, plan_gaps
from segue.narration.templates import TemplateStore

prompts_app = typer.Typer(
    help="The prompt workbench: list, show, preview, evaluate and compare templates.",
    no_args_is_help=True,
)
app.add_typer(prompts_app, name="prompts")
out = Console()

PromptsDir = Annotated[
    Path | None,
    typer.Option("--prompts", help="Prompts folder (default: SEGUE_PROMPTS_DIR or ./prompts)."),
]
NarratorOpt = Annotated[
    str | None,
    typer.Option("--narrator", help=f"Backend: {', '.join(NARRATORS)} (default: SEGUE_NARRATOR)."),
]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--llm-base-url", help="OpenAI-compatible server URL.")
]
ModelOpt = Annotated[
    str | None, typer.Option("--llm-model", help="Model name (openai) or GGUF path (local).")
]
CasesOpt = Annotated[
    Path | None, typer.Option("--cases", help="Folder of case files (default: PROMPTS/cases).")
]
CaseOpt = Annotated[
    list[str] | None, typer.Option("--case", help="Only this case (repeatable).")
]
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


@prompts_app.command("list")
def list_templates(prompts: PromptsDir = None) -> None:
    """List the templates with their front matter."""
    try:
        store = _store(prompts)
        table = Table(title=f"Templates in {store.directory}")
        for column in ("name", "purpose", "talk", "delivery", "words", "personal"):
            table.add_column(column, no_wrap=True)
        table.add_column("description")
        for name in store.names():
            t = store.get(name)
            table.add_row(name, t.purpose, t.meta.get("talk", "any"),
                          t.meta.get("delivery", "any"), str(t.target_words),
                          t.meta.get("personal", "name, likes"), t.description)  # fmt: skip
    except SegueError as exc:
        raise fail(str(exc)) from exc
    out.print(table)


@prompts_app.command("show")
def show(
    template: Annotated[str, typer.Argument(help="Template name or .j2 path.")],
    case: Annotated[
        str | None,
        typer.Option("--case", help="Also render every block for this case's first fitting line."),
    ] = None,
    prompts: PromptsDir = None,
    cases: CasesOpt = None,
) -> None:
    """Show a template's front matter and source (and, with --case, what it renders)."""
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
        pairs = _narrate_case(found, template, store)
        if not pairs:
            raise fail(f"template {template!r} applies to no line of case {case!r}")
        req, _ = pairs[0]
        rendered = store.render_all(req.template, req.context)
        for block in ("line", "system", "prompt", "completion"):
            text = getattr(rendered, block)
            if text:
                out.print(Panel(text, title=block, title_align="left"))
    except SegueError as exc:
        raise fail(str(exc)) from exc


def _narrate_case(
    case: Case, template: str, store: TemplateStore
) -> list[tuple[LinkRequest, Line]]:
    return narrate_gaps(list(case.gaps), case.listener, TemplateNarrator(store), store,
                        template=template, now=case.now)  # fmt: skip


def _prompt_text(line: Line, backend: str, store: TemplateStore, req: LinkRequest) -> str:
    """What the backend was sent; for the template narrator, what a chat model would be."""
    prompt = line.prompt or store.render_all(req.template, req.context)
    if backend == "local":
        return prompt.completion
    system = f"[system]\n{prompt.system}\n\n" if prompt.system else ""
    return f"{system}[user]\n{prompt.prompt}" if prompt.prompt else ""


@prompts_app.command("preview")
def preview(
    template: Annotated[
        str, typer.Argument(help="all, a kind (opening/link/closing), a template name or path.")
    ],
    paths: Annotated[list[Path], typer.Argument(help="Audio files or folders (the playlist).")],
    listener: Annotated[
        Path | None, typer.Option("--listener", help="Listener profile (TOML).")
    ] = None,
    narrator_name: NarratorOpt = None,
    llm_base_url: BaseUrlOpt = None,
    llm_model: ModelOpt = None,
    prompts: PromptsDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of panels.")] = False,
) -> None:
    """For each gap of a playlist: the rendered prompt and the generated line."""
    from segue.pipeline import analyze_files, collect_inputs
    from segue.sequencing import plan_order

    try:
        profile = load_listener(listener) if listener else Listener()
        settings = _settings(narrator_name, llm_base_url, llm_model)
        store = _store(prompts)
        if template not in ("all", "opening", "link", "closing"):
            store.get(template)
        narrator = make_narrator(settings.narrator, settings, store=store)
        files, problems = collect_inputs(paths)
        tracks, failed = analyze_files(files, settings)
        problems += failed
        if not tracks:
            raise fail("nothing to preview: " + ("; ".join(problems) or "no input files"))
        plan = plan_order(tracks)
        gaps = plan_gaps(plan, settings, closing=settings.closing_link)
        pairs = narrate_gaps(gaps, profile, narrator, store, template=template)
    except SegueError as exc:
        raise fail(str(exc)) from exc
    for problem in problems:
        skipped(problem)
    if as_json:
        data = [{
            "before_track": req.before_track, "kind": req.kind, "template": req.template,
            "delivery": req.delivery, "window_s": req.context["window_s"],
            "word_budget": req.word_budget,
            "prompt": _prompt_text(line, narrator.name, store, req),
            "text": line.text, "backend": line.backend, "fallback": line.fallback_reason,
            "raw": line.raw, "latency_s": round(line.latency_s, 4), "cached": line.cached,
        } for req, line in pairs]  # fmt: skip
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
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
    if problems:
        raise typer.Exit(1)


def _run(
    spec: str,
    default_backend: str,
    base: Settings,
    store: TemplateStore,
    cases: list[Case],
    *,
    speech: bool,
) -> EvalRun:
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
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the run as JSON to this file.")
    ] = None,
    lines: Annotated[bool, typer.Option("--lines", help="Also print every line.")] = False,
    no_speech: NoSpeechOpt = False,
    no_cache: NoCacheOpt = False,
    prompts: PromptsDir = None,
) -> None:
    """Score TEMPLATE over the case set: budget and spoken fit, grounding, variety, ..."""
    try:
        settings = _settings(narrator_name, llm_base_url, llm_model, no_cache=no_cache)
        store = _store(prompts)
        found = load_cases(cases or default_cases_dir(store), case or [])
        run = _run(template, settings.narrator, settings, store, found,
                   speech=not no_speech)  # fmt: skip
        if json_out is not None:
            write_json(json_out, [run])
    except SegueError as exc:
        raise fail(str(exc)) from exc
    _print_runs([run], lines=lines)
    if json_out is not None:
        err.print(f"JSON: {json_out}", highlight=False)


@prompts_app.command("compare")
def compare(
    a: Annotated[str, typer.Argument(help="TEMPLATE[@BACKEND], e.g. link or link@openai.")],
    b: Annotated[str, typer.Argument(help="TEMPLATE[@BACKEND], e.g. drafts/link.j2@local.")],
    narrator_name: NarratorOpt = None,
    llm_base_url: BaseUrlOpt = None,
    llm_model: ModelOpt = None,
    cases: CasesOpt = None,
    case: CaseOpt = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write a report: .html for HTML, else Markdown."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write both runs as JSON to this file.")
    ] = None,
    lines: Annotated[bool, typer.Option("--lines", help="Also print every line.")] = False,
    no_speech: NoSpeechOpt = False,
    no_cache: NoCacheOpt = False,
    prompts: PromptsDir = None,
) -> None:
    """Two templates (or backends) side by side over the case set, with a report."""
    try:
        settings = _settings(narrator_name, llm_base_url, llm_model, no_cache=no_cache)
        store = _store(prompts)
        found = load_cases(cases or default_cases_dir(store), case or [])
        runs = [_run(spec, settings.narrator, settings, store, found, speech=not no_speech)
                for spec in (a, b)]  # fmt: skip
        if report is not None:
            write_report(report, runs)
        if json_out is not None:
            write_json(json_out, runs)
    except SegueError as exc:
        raise fail(str(exc)) from exc
    _print_runs(runs, lines=lines)
    for label, path in (("report", report), ("JSON", json_out)):
        if path is not None:
            err.print(f"{label}: {path}", highlight=False)
