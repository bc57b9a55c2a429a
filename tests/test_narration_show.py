"""One show's narration: clean tags, plain reasons, the talk plan, the show script, breakers."""

from __future__ import annotations

import dataclasses
import itertools
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openai_server import Helpful, ScriptedOpenAI, slow
from segue import circuit
from segue.config import Settings
from segue.errors import NarrationError
from segue.models import Listener
from segue.narration import make_narrator, write_script
from segue.narration.context import facts_from_mapping
from segue.narration.guardsets import default_guards_dir, score_guards
from segue.narration.narrator import TemplateNarrator
from segue.narration.reasons import hear_change, plain_reason, reason_kinds
from segue.narration.script import Gap
from segue.narration.showscript import ShowScript
from segue.narration.tags import filename_tags, spoken_artist, spoken_title
from segue.narration.talkplan import TalkPlan, parse_cadence, set_length
from segue.narration.templates import TemplateStore, default_prompts_dir
from test_narration import EVERY, make_plan

PROMPTS = default_prompts_dir()


@pytest.fixture(autouse=True)
def fresh_breakers() -> Iterator[None]:
    circuit.reset_all()
    yield
    circuit.reset_all()


# ---------------------------------------------------------------------------- tags


@pytest.mark.parametrize(("raw", "spoken"), [
    ("Don't Stop Me Now (Remastered 2011)", ("Don't Stop Me Now", "")),
    ("07 - DON'T STOP ME NOW [Explicit]", ("Don't Stop Me Now", "")),
    ("Hey Jude - Remastered 2009", ("Hey Jude", "")),
    ("Stay (feat. Mikky Ekko)", ("Stay", "Mikky Ekko")),
    ("{{ 7*7 }} <b>Bold</b> [Explicit]", ("Bold", "")),
    ("Sunshine ☀️ Mix 🎶", ("Sunshine Mix", "")),
    ("Lemon (Live)", ("Lemon (Live)", "")),  # a suffix that says something stays
    ("Wish You Were Here (Acoustic Version)", ("Wish You Were Here (Acoustic Version)", "")),
    ("ARMYGEDDON", ("Armygeddon", "")),
    ("ABBA", ("ABBA", "")),  # a short name in capitals is a name, not shouting
    ("99 Luftballons", ("99 Luftballons", "")),
])
def test_messy_titles_are_cleaned_before_they_are_spoken(raw: str, spoken: tuple[str, str]) -> None:
    assert spoken_title(raw) == spoken


def test_artists_and_placeholders_fall_back_to_the_file_name() -> None:
    assert spoken_artist("Rihanna feat. Mikky Ekko") == ("Rihanna", "Mikky Ekko")
    assert spoken_artist("AC/DC") == ("AC/DC", "")
    path = "/music/01. Nina%20Simone - Feeling_Good [HQ].flac"
    assert filename_tags(path) == ("Nina Simone", "Feeling Good")
    assert filename_tags("/m/Nina Simone \u2013 Feeling Good [Official Video].mp4") == (
        "Nina Simone", "Feeling Good")
    assert spoken_title("Track 07", path=path) == ("Feeling Good", "")
    assert spoken_title("", path=path) == ("Feeling Good", "")
    assert spoken_artist("Unknown Artist", path=path) == ("Nina Simone", "")
    assert spoken_title("  ", path="/m/03_my_song_(official video)_320kbps.mp3")[0] == "my song"


def test_facts_carry_the_credit_and_the_decade() -> None:
    f = facts_from_mapping({"title": "Stay", "artist": "Rihanna feat. Mikky Ekko", "year": 2012,
                            "genre": "Pop"})
    assert (f["artist"], f["featuring"], f["credit"]) == ("Rihanna", "Mikky Ekko",
                                                          "Rihanna featuring Mikky Ekko")
    assert f["decade"] is None and f["genre"] == "pop"
    assert facts_from_mapping({"title": "x", "artist": "y", "year": 1978})["decade"] == "seventies"


# ---------------------------------------------------------------------------- reasons


def _f(**kw: Any) -> dict[str, Any]:
    return facts_from_mapping({"title": "t", "artist": "a", **kw})


def test_changes_are_said_as_a_listener_hears_them() -> None:
    calm = _f(bpm=100, energy=0.3, camelot="8A", genre="Ambient")
    assert hear_change(calm, _f(bpm=128, energy=0.7, camelot="8B", genre="House")) == [
        "energy.up", "tempo.faster", "key.brighter", "genre.change"]
    assert hear_change(calm, _f(bpm=200, energy=0.32, camelot="8A", genre="Ambient"))[:2] == [
        "tempo.double", "key.same"]
    assert "key.darker" in hear_change(_f(camelot="3B"), _f(camelot="3A"))
    assert not any(k.startswith("key") for k in hear_change(_f(camelot="3B"), _f(camelot="9A")))


def test_plain_reasons_follow_the_arc_and_the_mix() -> None:
    a, b = _f(bpm=120, energy=0.5, camelot="8A"), _f(bpm=121, energy=0.7, camelot="8A")
    assert reason_kinds(a, b, planned_step=0.2)[:2] == ["builds", "blend"]
    assert reason_kinds(b, a, planned_step=-0.2)[0] == "winds_down"
    said = plain_reason(a, b, planned_step=0.2)
    assert "building" in said and "blend" in said and "8A" not in said and "%" not in said


# ---------------------------------------------------------------------------- talk plan


def test_cadence_setting() -> None:
    assert parse_cadence("auto", "chatty") == 1 and parse_cadence("auto", "normal") == 0
    assert parse_cadence("every", "brief") == 1 and parse_cadence("3", "normal") == 3
    with pytest.raises(NarrationError, match="SEGUE_TALK_CADENCE='often'"):
        parse_cadence("often", "normal")


def test_mini_sets_are_three_to_five_tracks_cut_where_the_music_changes() -> None:
    calm = [_f(energy=0.3, bpm=90, genre="Ambient")] * 4
    loud = [_f(energy=0.9, bpm=170, genre="Metal")] * 6
    assert set_length(calm + loud) == 4  # the jump from ambient to metal
    assert set_length(loud * 2) in (3, 4, 5)
    assert set_length(loud[:4]) == 4  # the end of a finite show is one set
    assert 7 - set_length(loud + loud[:1]) >= 3  # never strands one or two tracks


def test_the_talk_plan_decides_once_per_transition() -> None:
    plan = TalkPlan("2", "normal")
    tracks = [_f()] * 3
    decisions = [plan.wants(p, "opening" if p == 0 else "link", tracks) for p in range(7)]
    assert decisions == [True, False, True, False, True, False, True]
    assert plan.wants(3, "link", tracks) is False  # asked again: the same answer
    plan.set_talk_level("chatty", 7)
    plan.raw = "auto"
    plan.set_talk_level("chatty", 7)
    assert plan.wants(7, "link", tracks) and plan.wants(8, "link", tracks)


def test_a_normal_listener_hears_a_link_per_mini_set_and_chatty_one_per_track() -> None:
    plan = make_plan(12)
    normal = write_script(plan, Listener(), TemplateNarrator(TemplateStore()), Settings(),
                          closing=True)  # fmt: skip
    starts = [lk.before_track for lk in normal]
    assert starts[0] == 0 and starts[-1] == 12
    gaps = [b - a for a, b in itertools.pairwise(starts[:-1])]
    assert all(3 <= g <= 5 for g in gaps), starts
    chatty = write_script(plan, Listener(talk_level="chatty"), TemplateNarrator(TemplateStore()),
                          Settings(), closing=True)  # fmt: skip
    assert [lk.before_track for lk in chatty] == list(range(13))


# ---------------------------------------------------------------------------- the show script


def _endless_gaps(n: int, tracks: int = 8) -> list[Gap]:
    plan = make_plan(tracks)
    facts = [dict(facts_from_mapping({"title": t.tags.title, "artist": t.tags.artist,
                                      "genre": t.tags.genre, "bpm": 100 + 7 * (i % 5),
                                      "energy": 0.3 + 0.1 * (i % 6)}))
             for i, t in enumerate(plan.tracks)]  # fmt: skip
    gaps = []
    for pos in range(n):
        nxt, prev = facts[pos % tracks], facts[(pos - 1) % tracks] if pos else None
        gaps.append(Gap(before_track=pos, kind="opening" if pos == 0 else "link", prev=prev,
                        next=nxt, reason="", window_s=9.0,
                        upcoming=tuple(facts[(pos + k) % tracks] for k in range(1, 6))))
    return gaps


def test_hours_of_show_never_say_a_line_twice() -> None:
    script = ShowScript(Listener(name="Robin", liked_genres=("rock",)),
                        TemplateNarrator(TemplateStore()), EVERY)  # fmt: skip
    said = [script.commit(script.prepare(g)) for g in _endless_gaps(240)]  # ~16 hours
    texts = [lk.text for lk in said if lk is not None]
    assert len(texts) == 240 and len(set(texts)) == len(texts)
    openers = [" ".join(t.split()[:2]) for t in texts]
    assert all(a != b for a, b in itertools.pairwise(openers))
    named = [i for i, t in enumerate(texts) if "Robin" in t]
    assert all(b - a >= 4 for a, b in itertools.pairwise(named[1:])), named
    informative = [h.informative for h in script.history if h.kind == "link"]
    assert sum(informative) / len(informative) >= 0.5


def test_two_prepares_at_once_then_commits_in_order() -> None:
    with ScriptedOpenAI(slow("", 0.0)) as server:
        server.script = [_helpful_slowly(0.4)]
        settings = Settings(llm_base_url=server.url, llm_model="m", llm_timeout_s=3.0,
                            llm_cache=False, talk_cadence="every")
        script = ShowScript(Listener(), make_narrator("openai", settings), settings)
        gaps = [g for g in _endless_gaps(3) if script.wants_link(g)]
        drafts: dict[int, Any] = {}

        def prepare(gap: Gap) -> None:
            drafts[gap.before_track] = script.prepare(gap)

        threads = [threading.Thread(target=prepare, args=(g,)) for g in gaps[:2]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        links = [script.commit(drafts[0]), script.commit(drafts[1])]
    assert [lk.before_track for lk in links if lk] == [0, 1]
    assert all(lk is not None and lk.backend == "openai" for lk in links)
    # Both were in flight together: the server saw the second before answering the first.
    assert max(server.in_flight) == 2


def _helpful_slowly(delay_s: float) -> Any:
    helpful = Helpful()

    def reply(request: dict[str, Any]) -> Any:
        answer = helpful(request)
        return dataclasses.replace(answer, delay_s=delay_s)

    return reply


def test_a_dead_llm_opens_the_circuit_and_costs_one_timeout_not_one_per_link() -> None:
    with ScriptedOpenAI(slow("never", 30.0)) as server:
        settings = Settings(llm_base_url=server.url, llm_model="m", llm_timeout_s=0.5,
                            llm_retries=3, llm_deadline_s=5.0, llm_cache=False,
                            talk_cadence="every")  # fmt: skip
        links = write_script(make_plan(12), Listener(), make_narrator("openai", settings),
                             settings, closing=True)  # fmt: skip
    assert len(links) == 13 and all(lk.backend == "template" for lk in links)
    assert len(server.requests) == 2  # two timeouts in parallel, then the circuit is open
    reasons = [lk.fallback_reason or "" for lk in links]
    timed_out = [r for r in reasons if r.startswith("timeout")]
    assert len(timed_out) == 2 and all(re.search(r"waited 0\.\d s", r or "") for r in timed_out)
    assert sum("circuit open" in (lk.fallback_reason or "") for lk in links) == 11
    status = circuit.statuses()[f"llm:openai@{server.url}"]
    assert status.state == "open" and status.waited_s >= 0.9


# ---------------------------------------------------------------------------- guards and data


def test_guards_trust_the_good_set_and_refuse_the_whole_bad_set() -> None:
    score = score_guards(default_guards_dir(PROMPTS))
    assert score.good >= 60 and score.bad >= 60
    assert score.precision >= 0.95, [(r.case.text, r.problems) for r in score.false_alarms]
    assert score.recall == 1.0, [r.case.text for r in score.missed]
    for kind in ("invented name", "wrong artist", "wrong year", "wrong album", "markup", "emoji",
                 "stage direction", "cliché", "injection obeyed", "wrong language",
                 "over budget"):
        assert score.recall_by_kind[kind] == 1.0, kind


def test_a_broken_parts_file_names_the_part_entry_and_slot_and_the_show_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    shutil.copytree(PROMPTS, tmp_path / "p", ignore=shutil.ignore_patterns("cases"))
    parts = tmp_path / "p" / "parts" / "en.toml"
    parts.write_text(parts.read_text().replace("That was {prev_title} by {prev_artist}.",
                                               "That was {prev_titel}."))
    store = TemplateStore(tmp_path / "p")
    links = write_script(make_plan(3), Listener(), TemplateNarrator(store), EVERY)
    assert links == []  # nothing said from a broken parts file; the music still plays
    assert re.search(r"template 'opening' \(.*opening\.j2, line \d+\): .*en\.toml: "
                     r"part 'back', entry 1 .*\{prev_titel\}", caplog.text), caplog.text


def test_a_template_error_names_the_template_line_and_variable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    shutil.copytree(PROMPTS, tmp_path / "p", ignore=shutil.ignore_patterns("cases"))
    path = tmp_path / "p" / "link.j2"
    path.write_text(path.read_text().replace("{% if set %}", "{% if set.sise > 1 %}", 1))
    links = write_script(make_plan(3), Listener(), TemplateNarrator(TemplateStore(tmp_path / "p")),
                         EVERY)  # fmt: skip
    assert [lk.before_track for lk in links] == [0]  # the opening still works
    assert re.search(r"template 'link' \(.*link\.j2, line 11\): .*sise", caplog.text), caplog.text


def test_narration_and_the_transition_stage_budget_words_alike() -> None:
    from segue.narration.text import WORDS_PER_SECOND
    from segue.transition.cues import WORDS_PER_SECOND as CUES_WPS

    assert WORDS_PER_SECOND == CUES_WPS


def test_the_workbench_modules_import_nothing_heavy() -> None:
    import subprocess
    import sys

    code = ("import sys; import segue.narration.evaluate, segue.narration.backends, "
            "segue.narration.showscript, segue.narration.guardsets; "
            "print(sorted(m for m in ('librosa', 'numba', 'sklearn', 'matplotlib', 'openai') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_track_with_no_artist_is_still_announced_by_its_title() -> None:
    plan = make_plan(3, **{f"artist{i}": "Unknown artist" for i in range(3)})
    links = write_script(plan, Listener(), TemplateNarrator(TemplateStore()), EVERY)
    assert [lk.before_track for lk in links] == [0, 1, 2]
    assert all(f"Title {lk.before_track}" in lk.text for lk in links)
    assert not any("Unknown" in lk.text for lk in links)
