"""The per-track analysis function: one file in, one :class:`Track` out.

The file is decoded once, in chunks, at 44.1 or 48 kHz stereo. Each chunk feeds
the loudness meter (K-weighted energies, true peak) and a mono 4:1 decimator; the
features (tempo, key, cues, energy, timbre) then work on the 11–12 kHz mono signal
through one STFT. Memory grows with the length of the file: the mono signal (2.6 MB
a minute) and the per-frame features (about 1 MB a minute) are kept; the STFT runs
in blocks and nothing is copied whole, so a two-hour file peaks at about 930 MB
(1.2 GB before session 9, when the signal was padded whole for each STFT, the
timbre copied the whole spectrum twice and freed temporaries stayed resident).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy import signal

from segue import heap
from segue.analysis import features, key, spectral, speech, structure, tempo
from segue.analysis.decode import check_complete, iter_chunks, measurement_rate, source_rate
from segue.analysis.loudness import LoudnessMeter, LoudnessResult
from segue.analysis.tags import read_tags
from segue.errors import AnalysisError
from segue.models import FloatArray, Track, TrackAnalysis

log = logging.getLogger(__name__)

#: Bump when any analysis result would change: cached results of older versions are redone.
#: Without the speech detector the vocal onsets differ, so those results are kept apart
#: (and keep their version when only the detector's side changes).
ANALYZER_VERSION = "3.6" if speech.model_path() is not None else "3.6-dsp"
#: Shorter audio carries too little music to mix.
MIN_DURATION_S = 5.0
#: Decoded chunks (about 6 s each) between two heap trims while a file is measured, and
#: the length from which the stages after it trim too (see :func:`_release`).
TRIM_EVERY_CHUNKS = 50
TRIM_FROM_S = 600.0


def analyze_chunks(chunks: Iterable[FloatArray], sr: int, *, name: str = "<samples>"
                   ) -> TrackAnalysis:
    """Analyse audio given as consecutive chunks of shape ``(channels, n)`` at ``sr`` Hz.

    ``sr`` should be 44.1 or 48 kHz (the loudness meter's rates; features run at a
    quarter of it). Every chunk but the last must have a multiple of 4 frames.

    Raises
    ------
    AnalysisError
        When the audio is shorter than :data:`MIN_DURATION_S` or silent.

    """
    loud, mono, duration = _measure(chunks, sr, name)
    fsr = sr // spectral.DECIMATION
    frames = spectral.frame_features(mono, fsr)
    _release(duration)
    low_accent = frames.onset_low / max(float(frames.onset_low.std()), 1e-9)
    beat = tempo.estimate_tempo(frames.onset, frames.fps, onset_low=frames.onset_low,
                                onset_mid=frames.onset_mid, onset_high=frames.onset_high,
                                accent=low_accent)
    chroma = spectral.chromagram(mono, fsr)
    k = key.estimate_key(chroma)
    _release(duration)
    cues = _cues(frames, mono, fsr, duration, beat)
    _release(duration)
    curve = features.energy_curve(frames, loud.short_term_lufs)
    return TrackAnalysis(
        duration_s=round(duration, 3),
        bpm=beat.bpm,
        bpm_confidence=beat.confidence,
        beat_times_s=beat.beat_times_s,
        key=k.name,
        camelot=k.camelot,
        key_confidence=k.confidence,
        lufs=round(loud.integrated_lufs, 2),
        peak_dbfs=round(loud.sample_peak_dbfs, 2),
        energy=features.energy_score(curve, loud.integrated_lufs),
        first_sound_s=cues.first_sound_s,
        last_sound_s=cues.last_sound_s,
        intro_end_s=cues.intro_end_s,
        outro_start_s=cues.outro_start_s,
        timbre=features.timbre_summary(frames),
        loudness_range_lu=round(loud.loudness_range_lu, 2),
        true_peak_dbtp=round(loud.true_peak_dbtp, 2),
        short_term_lufs=loud.short_term_lufs,
        limiter_loss_lu=loud.limiter_loss_lu,
        energy_curve=curve,
        brightness=features.brightness(frames),
        pulse_clarity=beat.pulse_clarity,
        downbeat_times_s=beat.downbeat_times_s,
        vocal_onset_s=cues.vocal_onset_s,
        vocal_confidence=cues.vocal_confidence,
    )


def _measure(chunks: Iterable[FloatArray], sr: int, name: str
             ) -> tuple[LoudnessResult, FloatArray, float]:
    """One pass over the chunks: loudness, the decimated mono signal and the duration (s).

    Raises :class:`AnalysisError` when the audio is too short or silent.
    """
    meter: LoudnessMeter | None = None
    decimator = spectral.Decimator()
    n = 0
    for i, chunk in enumerate(chunks, start=1):
        if meter is None:
            meter = LoudnessMeter(sr, channels=chunk.shape[0])
        meter.update(chunk)
        decimator.update(chunk)
        n += chunk.shape[1]
        if i % TRIM_EVERY_CHUNKS == 0:  # a long file: keep the heap from fragmenting upward
            heap.trim()
    duration = n / sr
    if meter is None or duration < MIN_DURATION_S:
        raise AnalysisError(f"{name}: too short to mix ({duration:.1f} s < {MIN_DURATION_S:.0f} s)")
    loud = meter.result()
    mono = decimator.result()
    del decimator
    _release(duration)
    if loud.sample_peak_dbfs < -80.0:
        raise AnalysisError(f"{name}: silent (peak below -80 dBFS)")
    if not np.isfinite(loud.integrated_lufs):
        raise AnalysisError(f"{name}: silent (no block above the -70 LUFS gate)")
    return loud, mono, duration


def _release(duration_s: float) -> None:
    """After a stage of a long file, hand its freed temporaries back (:mod:`segue.heap`).

    Each stage frees block-sized temporaries between the arrays it keeps; on a
    two-hour file that left hundreds of MB resident. A short file's stages reuse
    those pages, and trimming them would only cost the page faults.
    """
    if duration_s >= TRIM_FROM_S:
        heap.trim()


def _cues(frames: spectral.Frames, mono: FloatArray, fsr: int, duration: float,
          beat: tempo.TempoEstimate) -> structure.Cues:
    """The cue points, with the speech detector's two listenings when it runs."""
    heard = speech.listen(mono, fsr)
    return structure.find_cues(frames, duration, beat_times_s=beat.beat_times_s,
                               downbeat_times_s=beat.downbeat_times_s, bpm=beat.bpm,
                               speech=heard[0] if heard else None,
                               enhanced_speech=heard[1] if heard else None)


def analyze_samples(audio: FloatArray, sr: int, *, name: str = "<samples>") -> TrackAnalysis:
    """Analyse decoded audio of shape ``(channels, n)`` at any rate ``sr`` Hz.

    Audio at other rates than 44.1/48 kHz is resampled to 44.1 kHz first.

    Raises
    ------
    AnalysisError
        When the audio is shorter than :data:`MIN_DURATION_S` or silent.

    """
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if sr not in (44100, 48000):
        g = int(np.gcd(44100, sr))
        x = signal.resample_poly(x, 44100 // g, sr // g, axis=1).astype(np.float32)
        sr = 44100
    step = 1 << 18
    return analyze_chunks((x[:, i : i + step] for i in range(0, max(x.shape[1], 1), step)),
                          sr, name=name)


def analyze_file(path: str | Path) -> Track:
    """Decode, tag and analyse one file.

    Raises
    ------
    DecodeError, AnalysisError
        With the file named in the message.

    """
    p = Path(path)
    sr = measurement_rate(source_rate(p))
    counted = 0

    def counting() -> Iterable[FloatArray]:
        nonlocal counted
        for chunk in iter_chunks(p, sr=sr, channels=2):
            counted += chunk.shape[1]
            yield chunk

    analysis = analyze_chunks(counting(), sr, name=str(p))
    check_complete(p, counted / sr)
    log.debug("%s: %.1f BPM, %s, %.1f LUFS", p, analysis.bpm, analysis.camelot, analysis.lufs)
    return Track(path=str(p), tags=read_tags(p), analysis=analysis)
