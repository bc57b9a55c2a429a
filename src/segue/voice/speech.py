"""From link text to mix-ready speech: phrasing, synthesis, cache, trim, resample, level."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from math import gcd
from pathlib import Path
from typing import Protocol

import numpy as np
import pyloudnorm
import soundfile as sf
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

from segue.config import Settings
from segue.errors import VoiceError
from segue.models import FloatArray, Link, Speech
from segue.voice.phrasing import Phrase, phrases

log = logging.getLogger(__name__)


class SpeechEngine(Protocol):
    """One interface for every text-to-speech engine."""

    name: str

    @property
    def voice_id(self) -> str:
        """Backend, voice and rate: what makes two syntheses of a text differ."""
        ...

    def synthesize(self, text: str) -> tuple[FloatArray, int]:
        """Mono float32 samples and their sample rate."""
        ...


class SpeechCache:
    """Raw engine output stored as FLAC, keyed by voice id and text."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, voice_id: str, text: str) -> Path:
        digest = hashlib.sha256(f"{voice_id}\n{text}".encode()).hexdigest()[:32]
        return self.directory / f"{digest}.flac"

    def get(self, voice_id: str, text: str) -> tuple[FloatArray, int] | None:
        """Cached samples for this voice and text, or ``None``."""
        path = self._path(voice_id, text)
        if not path.is_file():
            return None
        try:
            data, sr = sf.read(path, dtype="float32")
        except (sf.LibsndfileError, RuntimeError):
            log.warning("%s: unreadable speech cache entry, ignoring it", path)
            return None
        return np.asarray(data, dtype=np.float32), int(sr)

    def put(self, voice_id: str, text: str, samples: FloatArray, sr: int) -> None:
        """Store samples; a cache that cannot be written only costs speed."""
        path = self._path(voice_id, text)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.flac")
            sf.write(tmp, samples, sr, subtype="PCM_16")
            tmp.replace(path)
        except OSError as exc:
            log.warning("speech cache not written (%s)", exc)


def trim_silence(samples: FloatArray, *, top_db: float = 40.0, frame: int = 1024,
                 hop: int = 256) -> FloatArray:  # fmt: skip
    """``samples`` without the silence before the first and after the last sound.

    Frames (``frame`` samples every ``hop``, centred) whose RMS is more than
    ``top_db`` below the loudest frame's are silence; what lies between the first
    and the last other frame is kept. Empty when everything is silent.

    Parameters
    ----------
    samples : mono audio.
    top_db : how far below the loudest frame (dB) a frame counts as silent.
    frame, hop : frame length and step in samples.
    """
    if len(samples) == 0:
        return samples
    padded = np.pad(samples.astype(np.float64), frame // 2)
    count = 1 + (len(padded) - frame) // hop if len(padded) >= frame else 1
    windows = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop][:count]
    rms = np.sqrt(np.mean(windows**2, axis=1)) if len(windows) else np.zeros(1)
    loudest = float(rms.max()) if len(rms) else 0.0
    if loudest <= 0.0:
        return samples[:0]
    sounding = np.flatnonzero(20 * np.log10(np.maximum(rms, 1e-20) / loudest) > -top_db)
    start = int(sounding[0]) * hop
    end = min(len(samples), (int(sounding[-1]) + 1) * hop)
    out: FloatArray = samples[start:end]
    return out


def compress(
    samples: FloatArray, sr: int, *, threshold_db: float, ratio: float, window_s: float = 0.01
) -> FloatArray:
    """Light downward compression, so loud syllables do not poke out over the music.

    Parameters
    ----------
    samples : mono speech, float32, levelled so ``threshold_db`` means something
        (see :func:`prepare_speech`).
    sr : sample rate in Hz.
    threshold_db : RMS level (dBFS, over ``window_s``) above which gain is reduced.
    ratio : input dB above the threshold per output dB (3 = light).
    window_s : RMS window; the gain curve is held for one window and smoothed over
        two, so it never moves faster than a syllable.
    """
    if ratio <= 1.0 or len(samples) == 0:
        return samples
    width = max(1, round(window_s * sr))
    level_db = 10 * np.log10(uniform_filter1d(samples.astype(np.float64) ** 2, width) + 1e-12)
    gain_db = np.minimum(0.0, (threshold_db - level_db) * (1.0 - 1.0 / ratio))
    gain_db = uniform_filter1d(minimum_filter1d(gain_db, width), 2 * width)
    out: FloatArray = (samples * 10 ** (gain_db / 20)).astype(np.float32)
    return out


def prepare_speech(
    samples: FloatArray,
    sr: int,
    *,
    out_sr: int,
    target_lufs: float,
    threshold_db: float = -24.0,
    ratio: float = 3.0,
) -> FloatArray:
    """Trim silence, resample, compress lightly and set the loudness of speech.

    Parameters
    ----------
    samples : mono speech, float32.
    sr : its sample rate in Hz.
    out_sr : the mix's sample rate in Hz.
    target_lufs : integrated loudness of the result (BS.1770).
    threshold_db, ratio : the compressor's settings, applied after the speech is
        levelled to −20 dBFS RMS (see :func:`compress`).
    """
    trimmed = trim_silence(samples)
    if len(trimmed) == 0:
        raise VoiceError("speech is silent after trimming")
    if sr != out_sr:
        g = gcd(sr, out_sr)
        trimmed = resample_poly(trimmed, out_sr // g, sr // g).astype(np.float32)
    rms = float(np.sqrt(np.mean(trimmed.astype(np.float64) ** 2)))
    if rms < 1e-6:
        raise VoiceError("speech is silent after trimming")
    levelled = (trimmed * (10 ** (-20 / 20) / rms)).astype(np.float32)
    shaped = compress(levelled, out_sr, threshold_db=threshold_db, ratio=ratio)
    ramp = min(len(shaped) // 2, int(0.01 * out_sr))
    if ramp > 0:  # 10 ms ramps so the cut edges do not click
        shaped[:ramp] *= np.linspace(0.0, 1.0, ramp, dtype=np.float32)
        shaped[-ramp:] *= np.linspace(1.0, 0.0, ramp, dtype=np.float32)
    meter = pyloudnorm.Meter(out_sr)
    if len(shaped) >= int(0.5 * out_sr):
        loudness = float(meter.integrated_loudness(shaped.astype(np.float64)))
    else:  # too short for gated loudness: use its RMS as an estimate
        loudness = 20 * float(np.log10(np.sqrt(np.mean(shaped**2)) + 1e-12)) - 0.7
    if not np.isfinite(loudness):
        raise VoiceError("speech has no measurable loudness")
    out: FloatArray = (shaped * 10 ** ((target_lufs - loudness) / 20)).astype(np.float32)
    return out


def synthesize_phrased(
    engine: SpeechEngine, text: str, cache: SpeechCache | None = None
) -> tuple[FloatArray, int]:
    """Speak ``text`` phrase by phrase (:mod:`segue.voice.phrasing`), paced for radio.

    Each phrase is synthesized on its own (and cached), trimmed of its silences,
    and the phrases are joined with their pauses. An engine whose ``phrased``
    attribute is false (a remote server: one request per line, not per phrase)
    gets the whole line at once, its titles made speakable the same way.
    Returns mono float32 samples and their sample rate.

    Raises
    ------
    VoiceError
        When the engine fails on a phrase, or the text has nothing to say.

    """
    chunks: list[FloatArray] = []
    sr = 0
    parts = phrases(text)
    if not parts:
        raise VoiceError("nothing to say (empty text)")
    if not getattr(engine, "phrased", True):
        parts = [Phrase(text=" ".join(p.text for p in parts), pause_s=0.0)]
    for phrase in parts:
        raw = cache.get(engine.voice_id, phrase.text) if cache else None
        if raw is None:
            raw = engine.synthesize(phrase.text)
            if cache:
                cache.put(engine.voice_id, phrase.text, *raw)
        samples, sr_now = raw
        if sr and sr_now != sr:
            raise VoiceError(f"{engine.voice_id}: sample rate changed within a line")
        sr = sr_now
        trimmed = trim_silence(samples)
        chunks.append(trimmed.astype(np.float32))
        if phrase.pause_s > 0:
            chunks.append(np.zeros(round(phrase.pause_s * sr), dtype=np.float32))
    joined: FloatArray = np.concatenate(chunks).astype(np.float32)
    return joined, sr


def speak_links(
    links: Sequence[Link],
    engine: SpeechEngine,
    settings: Settings,
    cache: SpeechCache | None = None,
) -> tuple[list[Speech], dict[int, str]]:
    """Synthesize every link, phrase by phrase (:func:`synthesize_phrased`).

    Returns the speech for each link that worked and, for each that failed, the
    reason keyed by its ``before_track``; a failed link is dropped, the music
    plays on.
    """
    speeches: list[Speech] = []
    failures: dict[int, str] = {}
    for link in links:
        try:
            raw = synthesize_phrased(engine, link.text, cache)
            samples = prepare_speech(
                raw[0], raw[1], out_sr=settings.sample_rate,
                target_lufs=settings.target_lufs + settings.voice_offset_db,
                threshold_db=settings.voice_compress_threshold_db,
                ratio=settings.voice_compress_ratio,
            )  # fmt: skip
        except VoiceError as exc:
            log.warning("link before track %d not spoken: %s", link.before_track + 1, exc)
            failures[link.before_track] = str(exc)
            continue
        speeches.append(
            Speech(link=link, samples=samples, sr=settings.sample_rate, voice=engine.voice_id)
        )
    return speeches, failures
