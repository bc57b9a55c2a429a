"""The prompt workbench: templates and variants, the case set, eval/compare metrics and reports."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openai_server import Helpful, ScriptedOpenAI, good
from segue.cli import app
from segue.config import Settings
from segue.errors import InputError, NarrationError
from segue.models import Listener
from segue.narration import make_narrator, write_script
from segue.narration.evaluate import (
    compute_metrics,
    default_cases_dir,
    evaluate,
    load_case,
    load_cases,
    markdown_report,
    voice_speaker,
)
from segue.narration.narrator import TemplateNarrator
from segue.narration.templates import TemplateStore, default_prompts_dir
from test_narration import EVERY, make_plan

runner = CliRunner()
PROMPTS = default_prompts_dir()


def test_every_template_renders_every_block_for_every_case() -> None:
    store = TemplateStore()
    cases = load_cases(default_cases_dir(store))
    assert len(cases) >= 5
    for name in store.names():
        t = store.get(name)
        assert t.purpose in ("opening", "link", "closing") and t.description, name
        runs = evaluate(cases, TemplateNarrator(store), store, Settings(), template=name)
        assert runs.lines, name
        for ln in runs.lines[:3]:
            rendered = store.render_all(ln.template, _context_of(store, cases, name))
            assert rendered.line and rendered.system and rendered.prompt, name
            assert rendered.completion.rstrip().endswith("DJ:"), name


def _context_of(store: TemplateStore, cases: list, name: str) -> dict:  # type: ignore[type-arg]
    from segue.narration.script import narrate_gaps

    for case in cases:
        pairs = narrate_gaps(list(case.gaps), case.listener, TemplateNarrator(store), store,
                             template=name, now=case.now)
        if pairs:
            return dict(pairs[0][0].context)
    raise AssertionError(name)


def test_variants_are_chosen_by_talk_level_delivery_and_language(tmp_path: Path) -> None:
    store = TemplateStore()
    assert store.resolve("link", "brief", "talkover") == "link.brief"
    assert store.resolve("link", "chatty", "talkover") == "link.chatty"
    assert store.resolve("link", "normal", "standalone") == "link.standalone"
    assert store.resolve("link", "chatty", "standalone") == "link.standalone"
    assert store.resolve("link", "normal", "talkover") == "link"
    assert store.resolve("closing", "chatty", "standalone") == "closing.chatty"
    shutil.copytree(PROMPTS, tmp_path / "p", ignore=shutil.ignore_patterns("cases"))
    (tmp_path / "p" / "link.de.j2").write_text("Jetzt {{ next.title }} von {{ next.artist }}.\n")
    german = TemplateStore(tmp_path / "p")
    assert german.resolve("link", "normal", "talkover", "de") == "link.de"
    assert german.resolve("link", "brief", "talkover", "de") == "link.de"  # language first
    assert german.resolve("link", "brief", "talkover", "fr") == "link.brief"
    with pytest.raises(NarrationError, match=r"'interlude' not found.*known: closing"):
        german.resolve("interlude", "normal", "talkover")


def test_a_short_intro_makes_a_standalone_link_with_its_own_budget() -> None:
    plan = make_plan(3)
    # The previous track plays to its very end and the next one sings at once: no window.
    no_outro = dataclasses.replace(plan.tracks[1].analysis, outro_start_s=200.0)
    no_intro = dataclasses.replace(plan.tracks[2].analysis, intro_end_s=0.5)
    plan = dataclasses.replace(plan, tracks=(
        plan.tracks[0], dataclasses.replace(plan.tracks[1], analysis=no_outro),
        dataclasses.replace(plan.tracks[2], analysis=no_intro)))
    links = write_script(plan, Listener(), TemplateNarrator(TemplateStore()), EVERY)
    assert [lk.delivery for lk in links] == ["talkover", "talkover", "standalone"]
    assert links[2].template == "link.standalone" and links[2].word_budget == 14
    assert "Title 2" in links[2].text


def test_an_unknown_variable_in_a_block_names_the_template_and_the_variable(
    tmp_path: Path,
) -> None:
    (tmp_path / "link.j2").write_text(
        "{% block line %}Hi {{ next.title }}{% endblock %}\n"
        "{% block prompt %}Write about {{ nxt.title }}{% endblock %}\n")
    store = TemplateStore(tmp_path)
    assert store.render("link", {"next": {"title": "X"}}) == "Hi X"
    with pytest.raises(NarrationError, match=r"'link' \(.*link\.j2, line 2\): 'nxt' is undefined"):
        store.render_all("link", {"next": {"title": "X"}})


def test_a_running_narrator_picks_up_an_edited_template_without_restart(tmp_path: Path) -> None:
    shutil.copytree(PROMPTS, tmp_path / "p", ignore=shutil.ignore_patterns("cases"))
    store = TemplateStore(tmp_path / "p")
    narrator = TemplateNarrator(store)  # one narrator, as a server would keep it
    plan = make_plan(2)
    before = write_script(plan, Listener(talk_level="brief"), narrator, EVERY)
    path = tmp_path / "p" / "link.brief.j2"
    path.write_text("{% block line %}Edited: {{ next.title }}.{% endblock %}\n")
    os.utime(path, (1, 1))
    after = write_script(plan, Listener(talk_level="brief"), narrator, EVERY)
    assert before[1].text != after[1].text and after[1].text == "Edited: Title 1."


def test_case_files_are_validated_with_the_culprit_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[listener]\ntalk = "loud"\n'
                   '[[tracks]]\ntitle = "A"\nartist = "B"\n')
    with pytest.raises(InputError, match=r"bad\.toml: listener: talk = 'loud'"):
        load_case(bad)
    bad.write_text('[[tracks]]\ntitle = "A"\n')
    with pytest.raises(InputError, match=r"bad\.toml: tracks\[0\]: needs a title and an artist"):
        load_case(bad)
    with pytest.raises(InputError, match="no case named nope"):
        load_cases(PROMPTS / "cases", ["nope"])


def test_template_metrics_over_the_shipped_cases() -> None:
    store = TemplateStore()
    run = evaluate(load_cases(default_cases_dir(store)), TemplateNarrator(store), store,
                   Settings())
    m = run.metrics
    assert m["lines"] is not None and m["lines"] >= 45
    assert m["grounding"] == 1.0 and m["invented"] == 0.0 and m["fallback_rate"] == 0.0
    assert m["distinct_openers"] == 1.0  # no two links of a set open the same way
    assert m["budget_fit"] is not None and m["budget_fit"] >= 0.95
    assert m["personalisation"] is not None and m["personalisation"] >= 0.9
    assert m["spoken_fit"] is None  # no voice given
    data = json.loads(json.dumps(run.to_json()))
    assert data["metrics"] == m and len(data["lines"]) == m["lines"]


def test_metrics_punish_what_listeners_dislike() -> None:
    store = TemplateStore()
    case = load_cases(default_cases_dir(store), ["morning-commute"])
    good_run = evaluate(case, TemplateNarrator(store), store, Settings(), template="link")
    lines = [dataclasses.replace(ln, text="Here we go again with the next song.", names_next=False,
                                 opener="here we", name_used=False, like_used=False)
             for ln in good_run.lines]  # fmt: skip
    bad = compute_metrics(lines)
    assert bad["grounding"] == 0.0 and bad["distinct_openers"] == pytest.approx(1 / len(lines))
    assert bad["repeated_trigrams"] == 1.0 and bad["personalisation"] == 0.0


def test_spoken_fit_uses_the_configured_voice() -> None:
    store = TemplateStore()
    case = load_cases(default_cases_dir(store), ["brief-workday"])
    speak, close = voice_speaker(Settings())
    try:
        run = evaluate(case, TemplateNarrator(store), store, Settings(), speak=speak)
    finally:
        close()
    assert all(ln.speech_s is not None and ln.speech_s > 0.5 for ln in run.lines)
    assert run.metrics["spoken_fit"] is not None and 0.0 <= run.metrics["spoken_fit"] <= 1.0
    longest = max(run.lines, key=lambda ln: ln.words)
    shortest = min(run.lines, key=lambda ln: ln.words)
    assert longest.speech_s > shortest.speech_s  # type: ignore[operator]


def test_cli_list_show_and_eval_json(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["prompts", "list"])
    assert listed.exit_code == 0 and "link.standalone" in listed.output
    shown = runner.invoke(app, ["prompts", "show", "link", "--case", "morning-commute"])
    assert shown.exit_code == 0 and "target_words" in shown.output and "Bobby Hebb" in shown.output
    out = tmp_path / "eval.json"
    res = runner.invoke(app, ["prompts", "eval", "link", "--no-speech", "--json", str(out),
                              "--case", "long-set"])
    assert res.exit_code == 0, res.output
    assert "distinct_openers" in res.output
    data = json.loads(out.read_text())
    assert data["label"] == "link@template" and data["cases"] == ["long-set"]
    assert {ln["template"] for ln in data["lines"]} == {"link"}
    missing = runner.invoke(app, ["prompts", "eval", "nosuch", "--no-speech"])
    assert missing.exit_code == 2 and "nosuch" in missing.output


def test_cli_compare_two_backends_writes_a_report(tmp_path: Path) -> None:
    # The first line's answer and its regeneration both fail the guards: it falls back.
    with ScriptedOpenAI(good("Here we go."), good("Here we go again."), Helpful()) as server:
        report = tmp_path / "ab.md"
        res = runner.invoke(app, [
            "prompts", "compare", "link", "link@openai", "--case", "brief-workday",
            "--llm-base-url", server.url, "--no-speech", "--no-cache", "--report", str(report),
        ], env={"SEGUE_LLM_TIMEOUT_S": "2", "SEGUE_LLM_RETRIES": "0"})
    assert res.exit_code == 0, res.output
    text = report.read_text()
    assert "| metric | link@template | link@openai |" in text
    assert "fallback: guard: does not name the next track" in text  # the first, bad answer
    html = tmp_path / "ab.html"
    res = runner.invoke(app, ["prompts", "compare", "link.brief", "link", "--case",
                              "brief-workday", "--no-speech", "--report", str(html)])
    assert res.exit_code == 0, res.output
    assert html.read_text().startswith("<!doctype html>")


def test_markdown_report_marks_the_better_side() -> None:
    store = TemplateStore()
    case = load_cases(default_cases_dir(store), ["metal-night"])
    a = evaluate(case, TemplateNarrator(store), store, Settings(), template="link")
    b = evaluate(case, TemplateNarrator(store, seed=3), store, Settings(), template="link.chatty")
    text = markdown_report([a, b])
    assert "| budget_fit |" in text and "## Lines" in text


@pytest.mark.slow
def test_cli_preview_shows_prompt_and_line_for_each_gap(
    synth_set: dict[str, Path], listener_file: Path
) -> None:
    with ScriptedOpenAI(Helpful()) as server:
        res = runner.invoke(app, ["prompts", "preview", "all", *map(str, synth_set.values()),
                                  "--listener", str(listener_file), "--narrator", "openai",
                                  "--llm-base-url", server.url, "--json"],
                            env={"SEGUE_LLM_CACHE": "0"})
    assert res.exit_code == 0, res.output
    items = json.loads(res.stdout)
    assert [i["kind"] for i in items] == ["opening", "link", "link", "closing"]
    assert all(i["prompt"].startswith("[system]") for i in items)
    assert all(i["backend"] == "openai" for i in items[:3])


def test_render_refuses_an_unusable_narrator_before_any_work(tmp_path: Path) -> None:
    res = runner.invoke(app, ["render", str(tmp_path), "-o", str(tmp_path / "mix.mp3"),
                              "--narrator", "gpt"])
    assert res.exit_code == 2 and "unknown narrator 'gpt'" in res.output
    res = runner.invoke(app, ["render", str(tmp_path), "-o", str(tmp_path / "mix.mp3"),
                              "--narrator", "openai"], env={"OPENAI_API_KEY": "",
                                                            "OPENAI_BASE_URL": ""})
    assert res.exit_code == 2 and "OPENAI_API_KEY" in res.output
    assert not (tmp_path / "mix.mp3").exists()


def test_a_draft_serves_only_the_lines_its_template_would(tmp_path: Path) -> None:
    draft = tmp_path / "link.j2"
    draft.write_text((PROMPTS / "link.j2").read_text())
    store = TemplateStore()
    german = load_cases(default_cases_dir(store), ["german-evening"])
    with pytest.raises(NarrationError, match="applies to no line"):
        evaluate(german, TemplateNarrator(store), store, Settings(), template=str(draft))
    english = load_cases(default_cases_dir(store), ["morning-commute", "metal-night"])
    run = evaluate(english, TemplateNarrator(store), store, Settings(), template=str(draft))
    by_kind = evaluate(english, TemplateNarrator(store), store, Settings(), template="link")
    served = {(ln.case, ln.before_track) for ln in by_kind.lines if ln.template == "link"}
    assert {(ln.case, ln.before_track) for ln in run.lines} == served  # no standalone, no chatty
    assert served and len(served) < len(by_kind.lines)


def test_cli_show_case_renders_the_template_it_shows() -> None:
    res = runner.invoke(app, ["prompts", "show", "link.de", "--case", "morning-commute"])
    assert res.exit_code == 0, res.output
    assert "Write, in German" in res.output and "Vorher:" in res.output


def test_cli_list_is_readable_at_80_columns() -> None:
    res = runner.invoke(app, ["prompts", "list"], env={"COLUMNS": "80"})
    assert res.exit_code == 0
    assert all(len(line) <= 80 for line in res.output.splitlines()), res.output
    assert "link.standalone" in res.output and "words" in res.output


def test_cli_eval_keeps_each_run_in_the_history(tmp_path: Path) -> None:
    for _ in range(2):
        res = runner.invoke(app, ["prompts", "eval", "link", "--no-speech", "--case",
                                  "brief-workday", "--history", str(tmp_path / "runs")])
        assert res.exit_code == 0, res.output
    kept = sorted((tmp_path / "runs").glob("*.json"))
    index = (tmp_path / "runs" / "index.jsonl").read_text().splitlines()
    assert len(kept) == 2 and len(index) == 2
    assert json.loads(index[0])["runs"][0]["label"] == "link@template"
    assert json.loads(kept[0].read_text())["metrics"]["lines"] > 0


def test_cli_guards_reports_precision_and_recall() -> None:
    res = runner.invoke(app, ["prompts", "guards"])
    assert res.exit_code == 0, res.output
    assert re.search(r"precision \d+\.\d% on \d+ good lines, recall 100\.0% on \d+ bad", res.output)


def test_llm_metrics_count_the_llm_lines_and_the_fallbacks_apart() -> None:
    store = TemplateStore()
    case = load_cases(default_cases_dir(store), ["brief-workday"])
    with ScriptedOpenAI(good("Here we go."), good("Here we go again."), Helpful()) as server:
        settings = Settings(llm_base_url=server.url, llm_model="m", llm_cache=False,
                            llm_retries=0, llm_timeout_s=2.0)
        n = make_narrator("openai", settings, store=store)
        run = evaluate(case, n, store, settings, template="link")
    own = [ln for ln in run.lines if ln.fallback_reason is None]
    assert run.metrics["own_lines"] == len(own) and run.metrics["lines"] == len(run.lines)
    assert run.metrics["fallback_rate"] == pytest.approx(1 - len(own) / len(run.lines))
    assert run.metrics["guard_clean"] == 1.0  # measured on the model's own lines only


@pytest.mark.slow
def test_cli_preview_speaks_every_line_and_compare_runs_on_a_folder(
    synth_set: dict[str, Path], listener_file: Path, tmp_path: Path
) -> None:
    audio = tmp_path / "audio"
    res = runner.invoke(app, ["prompts", "preview", "all", *map(str, synth_set.values()),
                              "--listener", str(listener_file), "--audio", str(audio), "--json"])
    assert res.exit_code == 0, res.output
    items = json.loads(res.stdout)
    assert all(i["speech_s"] and i["speech_s"] > 0.5 and Path(i["audio"]).is_file()
               for i in items)
    assert len(list(audio.glob("*.wav"))) == len(items)
    folder = next(iter(synth_set.values())).parent
    res = runner.invoke(app, ["prompts", "compare", "link", "link.chatty", "--set", str(folder),
                              "--listener", str(listener_file), "--no-speech"])
    assert res.exit_code == 2 and "applies to no line" in res.output  # no chatty listener here
    res = runner.invoke(app, ["prompts", "compare", "link", "link@template", "--set",
                              str(folder), "--no-speech"])
    assert res.exit_code == 0, res.output
    assert "link@template" in res.output and "informative" in res.output
