"""The per-track analysis function: one file in, one :class:`Track` out."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyloudnorm

from segue.analysis import features
from segue.analysis.decode import check_complete, decode
from segue.analysis.tags import read_tags
from segue.errors import AnalysisError
from segue.models import FloatArray, Track, TrackAnalysis

log = logging.getLogger(__name__)

#: Shorter audio carries too little music to mix.
MIN_DURATION_S = 5.0


def analyze_samples(stereo: FloatArray, sr: int, *, name: str = "<samples>") -> TrackAnalysis:
    """Analyse decoded audio of shape ``(channels, n)`` at ``sr`` Hz.

    Raises
    ------
    AnalysisError
        When the audio is shorter than :data:`MIN_DURATION_S` or silent.

    """
    duration = stereo.shape[1] / sr
    if duration < MIN_DURATION_S:
        raise AnalysisError(f"{name}: too short to mix ({duration:.1f} s < {MIN_DURATION_S:.0f} s)")
    peak = float(np.max(np.abs(stereo)))
    if peak < 1e-4:
        raise AnalysisError(f"{name}: silent (peak below -80 dBFS)")
    # BS.1770 integrated loudness over all channels, as the listener hears them.
    lufs = float(pyloudnorm.Meter(sr).integrated_loudness(stereo.T.astype(np.float64)))
    if not np.isfinite(lufs):
        raise AnalysisError(f"{name}: silent (no block above the -70 LUFS gate)")
    mono: FloatArray = stereo.mean(axis=0).astype(np.float32)
    env = features.onset_envelope(mono, sr)
    tempo = features.estimate_tempo(mono, sr, onset_env=env)
    key = features.estimate_key(mono, sr)
    cues = features.find_cues(mono, sr, tempo.beat_times_s)
    return TrackAnalysis(
        duration_s=round(duration, 3),
        bpm=tempo.bpm,
        bpm_confidence=tempo.confidence,
        beat_times_s=tempo.beat_times_s,
        key=key.name,
        camelot=key.camelot,
        key_confidence=key.confidence,
        lufs=round(lufs, 2),
        peak_dbfs=round(20.0 * float(np.log10(peak)), 2),
        energy=features.energy_score(lufs, env, mono, sr),
        first_sound_s=cues.first_sound_s,
        last_sound_s=cues.last_sound_s,
        intro_end_s=cues.intro_end_s,
        outro_start_s=cues.outro_start_s,
        timbre=features.timbre_summary(mono, sr),
    )


def analyze_file(path: str | Path, *, sr: int = 22050) -> Track:
    """Decode, tag and analyse one file.

    Raises
    ------
    DecodeError, AnalysisError
        With the file named in the message.

    """
    p = Path(path)
    stereo = decode(p, sr=sr, channels=2)
    check_complete(p, stereo.shape[1] / sr)
    analysis = analyze_samples(stereo, sr, name=str(p))
    log.debug("%s: %.1f BPM, %s, %.1f LUFS", p, analysis.bpm, analysis.camelot, analysis.lufs)
    return Track(path=str(p), tags=read_tags(p), analysis=analysis)
