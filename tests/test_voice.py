"""pyttsx3 through its worker: complete audio on return, from any thread, serialized."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyloudnorm
import pytest

from segue.voice.pyttsx3_engine import Pyttsx3Engine
from segue.voice.speech import prepare_speech

TEXTS = [
    "Good evening and welcome to the show.",
    "That was a long one, and here is another.",
    "Four threads, one voice, no crash.",
    "The last words of this little test.",
]


@pytest.fixture(scope="module")
def engine() -> Pyttsx3Engine:
    with Pyttsx3Engine() as eng:
        yield eng


def test_synthesis_is_complete_when_the_call_returns(engine: Pyttsx3Engine) -> None:
    samples, sr = engine.synthesize(TEXTS[0])
    duration = len(samples) / sr
    # Seven words at about 165 words per minute: roughly 2–4 s of speech.
    assert 1.5 < duration < 6.0
    assert np.max(np.abs(samples)) > 0.05
    # The last quarter is not truncated silence: speech runs to near the end.
    active = np.flatnonzero(np.abs(samples) > 0.02)
    assert active[-1] / len(samples) > 0.8


def test_concurrent_calls_from_threads_are_serialized(engine: Pyttsx3Engine) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(engine.synthesize, TEXTS * 2))
    lengths = [len(s) / sr for s, sr in results]
    assert all(length > 1.0 for length in lengths), lengths
    # The same text gives the same audio whichever thread asked for it.
    for i in range(len(TEXTS)):
        assert lengths[i] == pytest.approx(lengths[i + len(TEXTS)], abs=0.05), lengths


def test_worker_restarts_after_a_crash(engine: Pyttsx3Engine) -> None:
    engine.synthesize("warm up")
    assert engine._worker.running is not None
    engine._worker.running.kill()
    samples, _ = engine.synthesize("Still talking after the crash.")
    assert len(samples) > 0


def test_prepared_speech_is_trimmed_resampled_and_levelled(engine: Pyttsx3Engine) -> None:
    raw, sr = engine.synthesize(TEXTS[1])
    padded = np.concatenate([np.zeros(sr), raw, np.zeros(sr)]).astype(np.float32)
    out = prepare_speech(padded, sr, out_sr=44100, target_lufs=-16.0)
    assert len(out) / 44100 < len(padded) / sr - 1.5
    loudness = pyloudnorm.Meter(44100).integrated_loudness(out.astype(np.float64))
    assert loudness == pytest.approx(-16.0, abs=0.5)
