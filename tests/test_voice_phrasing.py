"""Speech paced for radio: phrases, pauses, titles read through, piper first when installed."""

from __future__ import annotations

import numpy as np
import pytest

from segue.config import Settings
from segue.voice.engines import close_engine, make_engine, piper_available
from segue.voice.phrasing import SENTENCE_PAUSE_S, phrases
from segue.voice.pyttsx3_engine import Pyttsx3Engine
from segue.voice.speech import synthesize_phrased


def test_a_line_is_cut_at_sentences_not_inside_titles() -> None:
    got = [(p.text, p.pause_s) for p in phrases(
        "That was Nebula by McCracken. Here's Help! by The Beatles, and Mr. Blue Sky.")]
    assert got == [("That was Nebula by McCracken.", SENTENCE_PAUSE_S),
                   ("Here's Help by The Beatles, and Mr. Blue Sky.", 0.0)]
    assert [p.text for p in phrases("Up now: What's Going On? by Marvin Gaye.")] == [
        "Up now: What's Going On by Marvin Gaye."]
    assert phrases("   ") == []


def test_speech_has_a_real_pause_between_back_announce_and_announce() -> None:
    with Pyttsx3Engine() as engine:
        one, sr = synthesize_phrased(engine, "That was the last one.")
        two, sr2 = synthesize_phrased(engine, "That was the last one. Here is the next one.")
    assert sr == sr2
    # The gap between the sentences: a stretch of at least the pause that is near silent.
    frame = sr // 100
    env = np.array([np.sqrt(np.mean(two[i:i + frame] ** 2))
                    for i in range(len(one) - frame, len(two) - frame, frame)])
    quiet = env < 0.01 * float(np.max(np.abs(two)))
    longest = max((len(run) for run in "".join("1" if q else "0" for q in quiet).split("0")),
                  default=0)
    assert longest * 0.01 >= SENTENCE_PAUSE_S - 0.05


def test_auto_voice_is_piper_when_installed_and_espeak_otherwise() -> None:
    engines = [make_engine("auto", Settings(), language="en"),
               make_engine("auto", Settings(), language="de")]
    try:
        assert engines[0].name == ("piper" if piper_available() else "pyttsx3")
        assert engines[1].name == "pyttsx3"  # the bundled piper voice speaks English only
    finally:
        for engine in engines:
            close_engine(engine)


def test_espeak_stays_the_light_fallback() -> None:
    pytest.importorskip("piper")
    engine = make_engine("pyttsx3", Settings())
    assert engine.name == "pyttsx3"
