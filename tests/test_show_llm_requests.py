"""Requests the rules do not understand, read by an LLM on a real loopback server."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from openai_server import Reply, ScriptedOpenAI, slow, user_prompt
from segue import circuit
from segue.config import Settings
from segue.library import Library
from segue.models import Listener, Track
from segue.narration import make_narrator
from segue.show.engine import Show
from segue.show.llm_requests import LLMRequestReader, parse_commands, reader_for
from segue.show.model import Reaction
from synthetic import band_shelf

QUIET = Listener(talk_level="off")


@pytest.fixture(scope="module")
def shelf(tmp_path_factory: pytest.TempPathFactory) -> list[Track]:
    return band_shelf(tmp_path_factory.mktemp("asked"), 5, name="Song", seed=60,
                      genres=("ambient", "rock"))


@pytest.fixture(autouse=True)
def _fresh_breakers() -> None:
    circuit.reset_all()


def _settings(url: str, **kw: Any) -> Settings:
    return Settings(align_by_ear=False, llm_base_url=url, llm_model="m", llm_cache=False, **kw)


def reads_space_as_song_3(request: dict[str, Any]) -> Reply:
    """A model that knows "about space" means Song 3, and says so in the JSON asked for."""
    said = json.loads(re.search(r"The listener said: (\".*\")", user_prompt(request)).group(1))
    commands = ["play Song 3", "something calmer"] if "space" in said else []
    return Reply(content="```json\n" + json.dumps({"commands": commands}) + "\n```")


def test_commands_are_parsed_from_fenced_json_and_anything_else_is_refused() -> None:
    assert parse_commands('```json\n{"commands": ["play Nebula", "less talk"]}\n```') == (
        "play Nebula", "less talk")
    assert parse_commands('Sure! {"commands": ["more  ambient"]}') == ("more ambient",)
    assert parse_commands('{"commands": ["a", 3, null, "' + "x" * 90 + '", "b", "c", "d", "e"]}'
                          ) == ("a", "b", "c", "d")  # fmt: skip
    for bad in ("play Nebula", '{"commands": "play Nebula"}', "{not json}", "[]"):
        assert parse_commands(bad) is None, bad


def test_the_llm_reads_what_the_rules_cannot_and_the_rules_check_it(
        shelf: list[Track], tmp_path: Path) -> None:  # fmt: skip
    with ScriptedOpenAI(reads_space_as_song_3) as server:
        settings = _settings(server.url)
        with Show(Library.of(shelf), listener=QUIET, settings=settings,
                  narrator=make_narrator("openai", settings)) as show:  # fmt: skip
            blocks = show.blocks()
            next(blocks)
            plain = show.react(Reaction("request", "something calmer"))
            assert plain.accepted and not server.requests  # the rules knew: nobody asked
            asked = show.react(Reaction("request", "put on that song about space"))
            assert asked.accepted, asked.message
            assert "playing Song 3 by Band 3" in asked.message
            assert "read by the LLM" in asked.message
            assert asked.constraints["energy_shift"] < plain.constraints["energy_shift"]
            assert [u.song.title for u in asked.upcoming[:2]].count("Song 3") == 1
            nothing = show.react(Reaction("request", "surprise me with a waltz"))
            assert not nothing.accepted
            blocks.close()
    prompt = user_prompt(server.requests[0])
    assert '"put on that song about space"' in prompt and '"Song 3"' in prompt
    assert str(tmp_path.parent) not in prompt and ".flac" not in prompt  # names, never paths


def test_an_llm_naming_what_the_library_lacks_changes_nothing(shelf: list[Track]) -> None:
    answer = Reply(content='{"commands": ["play Nebulae", "more polka"]}')
    with ScriptedOpenAI(answer) as server:
        settings = _settings(server.url)
        with Show(Library.of(shelf), listener=QUIET, settings=settings,
                  narrator=make_narrator("openai", settings)) as show:  # fmt: skip
            next(show.blocks())
            before = [u.song.id for u in show.upcoming()]
            result = show.react(Reaction("request", "the one with the big synth"))
            assert not result.accepted
            assert "read by the LLM as 'play Nebulae'; 'more polka'" in result.message
            assert [u.song.id for u in result.upcoming] == before


def test_a_dead_llm_leaves_the_rules_answer_and_never_holds_the_show(
        shelf: list[Track]) -> None:  # fmt: skip
    with ScriptedOpenAI(slow("never", 30.0)) as server:
        settings = _settings(server.url, llm_timeout_s=5.0)
        narrator = make_narrator("openai", settings)
        reader = reader_for(narrator)
        assert isinstance(reader, LLMRequestReader)
        reader.deadline_s = 1.0
        with Show(Library.of(shelf), listener=QUIET, settings=settings, narrator=narrator,
                  request_reader=reader) as show:  # fmt: skip
            blocks = show.blocks()
            next(blocks)
            answers: list[Any] = []
            asking = threading.Thread(target=lambda: answers.append(
                show.react(Reaction("request", "the one with the big synth"))))
            asking.start()
            time.sleep(0.2)
            assert asking.is_alive()  # waiting on the LLM...
            pulled = [next(blocks) for _ in range(3)]  # ...while the show renders on
            assert len(pulled) == 3 and asking.is_alive()
            asking.join(10)
            assert answers and not answers[0].accepted
            assert "not understood" in answers[0].message
            blocks.close()
        assert len(server.requests) == 1


def test_the_template_narrator_has_no_reader() -> None:
    assert reader_for(make_narrator("template", Settings())) is None
