"""Mixing DSP: equal-power fades, ducking shape, and the look-ahead limiter."""

from __future__ import annotations

import numpy as np
import pytest

from segue.mixing.dsp import PeakLimiter, duck_gain_db, fade_in_gain, fade_out_gain


def test_equal_power_crossfade_keeps_power_constant() -> None:
    x = np.linspace(0, 1, 101)
    assert np.allclose(fade_in_gain(x) ** 2 + fade_out_gain(x) ** 2, 1.0)
    assert fade_in_gain(np.array([-1.0, 0.0, 1.0, 2.0])).tolist() == pytest.approx([0, 0, 1, 1])


def test_duck_reaches_depth_at_voice_start_and_recovers() -> None:
    t = np.array([0.0, 9.85, 9.9, 10.0, 12.0, 14.0, 14.25, 14.5, 20.0])
    g = duck_gain_db(t, [(10.0, 14.0, -12.0)], down_s=0.15, up_s=0.5)
    assert g[0] == 0.0 and g[1] == pytest.approx(0.0)
    assert g[2] == pytest.approx(-4.0)
    assert g[3] == g[4] == g[5] == pytest.approx(-12.0)
    assert g[6] == pytest.approx(-6.0) and g[7] == pytest.approx(0.0) and g[8] == 0.0


def _run(limiter: PeakLimiter, x: np.ndarray, block: int) -> np.ndarray:
    parts = [limiter.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)]
    parts.append(limiter.flush())
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize("block", [1000, 4410, 22050])
def test_limiter_holds_the_ceiling_and_keeps_length(block: int) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 44100 * 3)) * 0.5).astype(np.float32)
    x[:, 30000:30010] = 3.0  # a sharp overshoot
    out = _run(PeakLimiter(ceiling_dbfs=-1.0, sr=44100), x, block)
    assert out.shape == x.shape
    assert np.max(np.abs(out)) <= 10 ** (-1 / 20) + 1e-6


def test_limiter_is_transparent_below_the_ceiling() -> None:
    t = np.arange(44100) / 44100
    x = np.stack([0.5 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32)
    out = _run(PeakLimiter(ceiling_dbfs=-1.0, sr=44100), x, 5000)
    assert np.allclose(out, x, atol=1e-6)
