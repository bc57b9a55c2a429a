"""Descriptors of how a track feels: energy, brightness, pulse clarity and timbre.

Pure functions over the per-frame reductions of :mod:`segue.analysis.spectral`;
each definition is in its docstring so the numbers can be trusted and compared.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import fft as sfft

from segue.analysis.spectral import Frames

F64 = npt.NDArray[np.float64]

N_MFCC = 13


def _per_second(values: npt.NDArray[np.float32], fps: float, count: int) -> F64:
    """Mean of ``values`` over each second (``count`` seconds; missing seconds are 0)."""
    step = fps
    out = np.zeros(count)
    for i in range(count):
        a, b = round(i * step), round((i + 1) * step)
        if a < len(values):
            out[i] = float(np.mean(values[a : max(b, a + 1)]))
    return out


def energy_curve(frames: Frames, short_term_lufs: tuple[float, ...]) -> tuple[float, ...]:
    """Energy over time, one 0–1 value per second.

    At second ``i``: 0.6 × loudness (short-term LUFS mapped linearly from −40 to −8)
    + 0.4 × onset activity (mean onset strength over that second mapped from 0 to 6
    dB per frame), clipped to 0–1. Loud and busy is 1; quiet and still is 0.
    """
    count = len(short_term_lufs)
    if count == 0:
        return ()
    loud = np.clip((np.asarray(short_term_lufs) + 40.0) / 32.0, 0.0, 1.0)
    busy = np.clip(_per_second(frames.onset, frames.fps, count) / 6.0, 0.0, 1.0)
    return tuple(round(float(v), 3) for v in 0.6 * loud + 0.4 * busy)


def energy_score(curve: tuple[float, ...], lufs: float) -> float:
    """A 0–1 scalar for how energetic the whole track feels.

    The mean of the energy curve over its audible seconds (curve above 0.05), with
    integrated loudness (−30 to −6 LUFS mapped to 0–1) weighing 30 %: a track
    that is loud throughout scores higher than one with a single loud peak.
    """
    values = np.asarray(curve)
    audible = values[values > 0.05]
    mean = float(audible.mean()) if len(audible) else 0.0
    loud = float(np.clip((lufs + 30.0) / 24.0, 0.0, 1.0)) if np.isfinite(lufs) else 0.0
    return round(0.7 * mean + 0.3 * loud, 3)


def brightness(frames: Frames) -> float:
    """Share of spectral energy above 1.5 kHz (0–1), over the audible frames.

    MIRtoolbox's brightness, measured below the analysis Nyquist (5.5 kHz); frames
    are weighted by their power so loud passages count more than quiet ones.
    """
    audible = frames.rms_db > -60.0
    if not audible.any():
        return 0.0
    weights = 10.0 ** (frames.rms_db[audible].astype(np.float64) / 10.0)
    value = float(np.average(frames.brightness[audible], weights=weights))
    return round(value, 3)


def timbre_summary(frames: Frames) -> tuple[float, ...]:
    """Mean MFCCs (13, from the log-mel spectrum): where the track's sound sits.

    Coefficient 0 follows loudness; the rest describe the spectral envelope, so
    distances between these vectors approximate how different two tracks sound.
    Silent frames are left out.
    """
    audible = frames.rms_db > -60.0
    if not audible.any():
        audible = np.ones(len(frames.mel_db), bool)
    if not audible.any():
        return tuple(0.0 for _ in range(N_MFCC))
    # The DCT is linear, so the mean of the frames' MFCCs is the DCT of the mean frame
    # (no copy of the whole spectrum: two hours of it are 57 MB).
    mean_mel = np.mean(frames.mel_db, axis=0, where=audible[:, None], dtype=np.float64)
    mfcc = sfft.dct(mean_mel, type=2, norm="ortho")[:N_MFCC]
    return tuple(round(float(v), 3) for v in mfcc)
