"""BS.1770 loudness, EBU loudness range and true peak against known answers and pyloudnorm."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import butter, sosfilt

from segue.analysis.loudness import (
    HIGH_PASS_HZ,
    LoudnessMeter,
    integrated_loudness,
    loudness_range,
)
from segue.mixing.dsp import PeakLimiter


def _measure(x: np.ndarray, sr: int, chunk: int = 30000) -> object:
    meter = LoudnessMeter(sr, channels=x.shape[0])
    for i in range(0, x.shape[1], chunk):
        meter.update(x[:, i : i + chunk].astype(np.float32))
    return meter.result()


@pytest.mark.parametrize("sr", [44100, 48000])
def test_integrated_loudness_matches_pyloudnorm(sr: int) -> None:
    rng = np.random.default_rng(1)
    t = np.arange(20 * sr) / sr
    # Music-like: tones, noise bursts and a quiet passage (exercises both gates).
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * rng.standard_normal(len(t))
    x[5 * sr : 9 * sr] *= 0.05
    stereo = np.stack([x, 0.7 * x + 0.05 * rng.standard_normal(len(t))])
    ours = _measure(stereo, sr).integrated_lufs  # type: ignore[attr-defined]
    ref = pyloudnorm.Meter(sr).integrated_loudness(stereo.T)
    assert ours == pytest.approx(ref, abs=0.1)


def test_a_full_scale_sine_at_1khz_reads_minus_3_lufs_per_channel() -> None:
    sr = 48000
    t = np.arange(10 * sr) / sr
    x = np.sin(2 * np.pi * 1000 * t)[None, :]
    res = _measure(x, sr)
    # BS.1770-4: a 0 dBFS 1 kHz sine in one channel reads -3.01 LKFS (the -0.691 offset
    # cancels the K-filter's gain at 1 kHz).
    assert res.integrated_lufs == pytest.approx(-3.01, abs=0.05)  # type: ignore[attr-defined]


def test_loudness_range_of_two_levels_is_their_difference() -> None:
    sr = 48000
    rng = np.random.default_rng(2)
    loud = 0.2 * rng.standard_normal(30 * sr)
    quiet = loud * 10 ** (-10 / 20)
    x = np.concatenate([loud, quiet])[None, :]
    res = _measure(x, sr)
    assert res.loudness_range_lu == pytest.approx(10.0, abs=0.6)  # type: ignore[attr-defined]
    # The short-term curve steps down by 10 LU at 30 s.
    curve = np.array(res.short_term_lufs)  # type: ignore[attr-defined]
    assert len(curve) == 60
    assert curve[10] - curve[50] == pytest.approx(10.0, abs=0.3)


def test_true_peak_finds_the_intersample_overshoot() -> None:
    sr = 44100
    n = np.arange(sr * 2)
    # A sine at sr/4 sampled 45 degrees off its peaks: samples at 0.707, true peak 1.0.
    x = np.sin(2 * np.pi * n / 4 + np.pi / 4)[None, :] * 0.5
    res = _measure(x, sr)
    sample_peak = res.sample_peak_dbfs  # type: ignore[attr-defined]
    assert sample_peak == pytest.approx(20 * np.log10(0.5 * np.sqrt(0.5)), abs=0.01)
    assert res.true_peak_dbtp == pytest.approx(20 * np.log10(0.5), abs=0.2)  # type: ignore[attr-defined]


def test_gates_drop_silence() -> None:
    energy = np.concatenate([np.full(100, 1e-12), np.full(100, 0.01)])
    assert integrated_loudness(energy) == pytest.approx(-0.691 - 20.0, abs=0.1)
    assert integrated_loudness(np.zeros(50)) == -np.inf
    assert loudness_range(np.zeros(50)) == 0.0


def test_limiter_loss_of_a_steady_sine_is_the_excess() -> None:
    # Every block of a steady sine peaks at its true peak: pushed k dB over the
    # ceiling, a limiter holds k dB of gain reduction throughout, so it takes k LU.
    sr = 44100
    t = np.arange(10 * sr) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    curve = _measure(np.stack([x, x]), sr).limiter_loss_lu  # type: ignore[attr-defined]
    assert curve[0] == pytest.approx(0.0, abs=0.02)
    for k in (3, 6, 12):
        assert curve[k] == pytest.approx(k, abs=0.1)


@pytest.mark.parametrize("kind", ["quiet dynamic", "loud limited"])
@pytest.mark.parametrize("excess_db", [3, 6, 12])
def test_limiter_loss_predicts_the_mixers_limiter(excess_db: int, kind: str) -> None:
    # What the mix's limiter really takes (on the high-passed signal, as the renderer
    # feeds it) is what the analysis predicted, on a quiet master with sharp hits and
    # on a dense, already limited one alike.
    sr = 44100
    x = _quiet_dynamic(sr) if kind == "quiet dynamic" else _loud_limited(sr)
    res = _measure(x, sr)
    curve = res.limiter_loss_lu  # type: ignore[attr-defined]
    ceiling_db = -1.0
    gain_db = ceiling_db + excess_db - res.true_peak_dbtp  # type: ignore[attr-defined]
    played, out = _played(x, sr, gain_db, ceiling_db)
    meter = pyloudnorm.Meter(sr)
    real = meter.integrated_loudness(played.T) - meter.integrated_loudness(out.T)
    assert real > 0.2  # the peaks are really limited
    assert curve[excess_db] == pytest.approx(real, abs=0.3)


def _quiet_dynamic(sr: int) -> np.ndarray:
    """A quiet chord with a sharp 2 ms hit every half second (a dynamic master)."""
    t = np.arange(12 * sr) / sr
    x = 0.04 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 277 * t))
    for s in range(24):
        x[s * sr // 2 : s * sr // 2 + 88] += 0.4 * np.sin(2 * np.pi * 1000 * t[:88])
    return np.stack([x, x])


def _loud_limited(sr: int) -> np.ndarray:
    """Dense noise and kicks brick-wall limited at −0.3 dBTP (a loud modern master)."""
    rng = np.random.default_rng(5)
    t = np.arange(12 * sr) / sr
    kick = np.sin(2 * np.pi * 55 * t) * np.exp(-((t % 0.5) * 12))
    x = (0.3 * rng.standard_normal((2, len(t))) + kick[None, :]).astype(np.float32)
    limiter = PeakLimiter(ceiling_dbfs=-0.3, sr=sr)
    return np.concatenate([limiter.process(x * 2.0), limiter.flush()], axis=1).astype(np.float64)


def _played(x: np.ndarray, sr: int, gain_db: float, ceiling_db: float) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    """``x`` as the renderer plays it (high-passed, at ``gain_db``), before and after limiting."""
    played = sosfilt(butter(2, HIGH_PASS_HZ, btype="highpass", fs=sr, output="sos"),
                     x * 10 ** (gain_db / 20), axis=1).astype(np.float32)
    limiter = PeakLimiter(ceiling_dbfs=ceiling_db, sr=sr)
    out = np.concatenate([limiter.process(played[:, i : i + 22050])
                          for i in range(0, played.shape[1], 22050)] + [limiter.flush()], axis=1)
    return played, out


@pytest.mark.parametrize("kind", ["quiet dynamic", "loud limited"])
def test_the_make_up_gain_puts_both_kinds_of_master_on_target(kind: str) -> None:
    # The whole chain: the analysis predicts the limiter's loss, track_gain_db makes it
    # up, and the mixer's real limiter then leaves the track at the target. The loud
    # master is asked for -6 LUFS so that it, too, is pushed into the limiter.
    from segue.mixing.gain import track_gain_db
    from segue.models import TrackAnalysis

    sr = 44100
    x = _quiet_dynamic(sr) if kind == "quiet dynamic" else _loud_limited(sr)
    res = _measure(x, sr)
    target = -14.0 if kind == "quiet dynamic" else -6.0
    analysis = TrackAnalysis(
        duration_s=12.0, bpm=120.0, bpm_confidence=1.0, beat_times_s=(), key="C major",
        camelot="8B", key_confidence=1.0, lufs=res.integrated_lufs,  # type: ignore[attr-defined]
        peak_dbfs=0.0, energy=0.5, first_sound_s=0.0, last_sound_s=12.0, intro_end_s=0.0,
        outro_start_s=12.0, true_peak_dbtp=res.true_peak_dbtp,  # type: ignore[attr-defined]
        limiter_loss_lu=res.limiter_loss_lu)  # type: ignore[attr-defined]
    gain = track_gain_db(analysis, target, -1.0)
    plain = target - res.integrated_lufs  # type: ignore[attr-defined]
    assert gain > plain + 0.3  # the limiter would take a noticeable part
    _, out = _played(x, sr, gain, -1.0)
    meter = pyloudnorm.Meter(sr)
    assert meter.integrated_loudness(out.T) == pytest.approx(target, abs=0.3)
