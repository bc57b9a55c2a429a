"""Signal processing for the mix: fades, ducking and the output limiter.

Pure functions over numpy arrays, plus one small stateful limiter that works
block by block so the renderer never holds more than a block of output.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from segue.analysis.loudness import true_peak_filter
from segue.models import FloatArray

Float64Array = npt.NDArray[np.float64]


def fade_in_gain(x: Float64Array) -> Float64Array:
    """Equal-power fade-in: ``sin(π/2·x)`` for progress ``x`` in [0, 1]."""
    out: Float64Array = np.sin(0.5 * np.pi * np.clip(x, 0.0, 1.0))
    return out


def fade_out_gain(x: Float64Array) -> Float64Array:
    """Equal-power fade-out: ``cos(π/2·x)``; with :func:`fade_in_gain` the power sums to 1."""
    out: Float64Array = np.cos(0.5 * np.pi * np.clip(x, 0.0, 1.0))
    return out


def duck_gain_db(
    times_s: Float64Array,
    windows: Sequence[tuple[float, float, float]],
    *,
    down_s: float,
    up_s: float,
) -> Float64Array:
    """Gain in dB of the music bus at ``times_s`` given voice ``windows``.

    Each window is ``(start_s, end_s, depth_db)``: the music reaches ``depth_db``
    as the voice starts (ramping down over ``down_s`` before it), stays there
    while it speaks and comes back over ``up_s`` afterwards. Overlapping windows
    take the deeper gain.
    """
    gain = np.zeros_like(times_s, dtype=np.float64)
    for start, end, depth in windows:
        if times_s[-1] < start - down_s or times_s[0] > end + up_s:
            continue
        xp = [start - down_s, start, end, end + up_s]
        g = np.interp(times_s, xp, [0.0, depth, depth, 0.0], left=0.0, right=0.0)
        gain = np.minimum(gain, g)
    return gain


# The BS.1770-4 Annex 2 interpolator the loudness meter uses: phase p gives the
# value p/4 of a sample later, y_p[m] = sum_j h[p, j] x[m + 6 - j].
_TP_PHASES_F32 = [p.astype(np.float32) for p in true_peak_filter()]
_TP_LOOKAHEAD = 6
# Phases 1-3 as a (taps, 3) matrix over windows ctx[m - 5 .. m + 6] (taps reversed).
_TP_TAPS_REVERSED = np.stack(_TP_PHASES_F32[1:], axis=1)[::-1].copy()


def true_peak_envelope(
    x: FloatArray, history: FloatArray, *, threshold: float = 0.0
) -> Float64Array:
    """Per-sample true peak (max over channels and 4 interpolated phases) of ``x``.

    Parameters
    ----------
    x : samples, shape ``(channels, n)``.
    history : the samples just before ``x``, shape ``(channels, 12)``, so the
        interpolator has context across block boundaries.
    threshold : interpolate only next to samples at least this loud (linear).
        Between two quieter samples the true peak cannot exceed ``threshold`` by
        more than the overshoot of content near the Nyquist frequency, which music
        does not carry; a limiter passes its ceiling minus 6 dB.

    Returns
    -------
    Array of ``n`` values: the largest absolute value between each sample and
    the next, by 4× polyphase interpolation (BS.1770-4 Annex 2).
    """
    taps = len(_TP_PHASES_F32[0])
    n = x.shape[1]
    ctx = np.concatenate(
        [history, x, np.zeros((x.shape[0], _TP_LOOKAHEAD + 1), dtype=x.dtype)], axis=1
    ).astype(np.float32)
    mag = np.abs(x).max(axis=0)
    peak = mag.copy()
    # Sample m of x sits at ctx[m + h]; the values between it and the next sample
    # use ctx[m + h + 6 - j] for tap j, i.e. the window ctx[m + h - 5 : m + h + 7].
    h = history.shape[1]
    near = mag >= threshold
    near[:-1] |= near[1:]
    centres = np.flatnonzero(near)
    if len(centres) > n // 16:  # dense: one convolution per phase beats gathering windows
        start = h - (taps - 1) + _TP_LOOKAHEAD
        for phase in _TP_PHASES_F32[1:]:
            for ch in ctx:
                inter = np.convolve(ch, phase, mode="valid")[start : start + n]
                np.maximum(peak, np.abs(inter), out=peak)
    elif len(centres):
        offsets = np.arange(_TP_LOOKAHEAD - taps + 1, _TP_LOOKAHEAD + 1)  # -5 .. 6
        windows = ctx[:, centres[:, None] + h + offsets[None, :]]  # (channels, k, taps)
        values = np.abs(windows @ _TP_TAPS_REVERSED).max(axis=(0, 2))
        peak[centres] = np.maximum(peak[centres], values)
    out: Float64Array = peak.astype(np.float64)
    return out


class PeakLimiter:
    """Look-ahead true-peak limiter, block by block, with a fixed delay.

    The gain is computed per chunk of ``chunk`` samples: the gain each chunk
    needs (ceiling / true peak, see :func:`true_peak_envelope`), a minimum
    filter over the look-ahead so the gain is
    already down when the peak arrives, a moving average so it gets there
    smoothly, and an exponential release. Because both filters span the
    look-ahead, the smoothed gain never exceeds what any nearby peak needs.
    Output lags input by ``delay`` samples; call :meth:`flush` at the end.
    """

    def __init__(
        self,
        *,
        ceiling_dbfs: float,
        sr: int,
        channels: int = 2,
        lookahead_s: float = 0.003,
        release_s: float = 0.08,
        chunk: int = 64,
    ) -> None:
        self.ceiling = 10 ** (ceiling_dbfs / 20)
        self.chunk = chunk
        self.radius = max(1, int(np.ceil(lookahead_s * sr / chunk)))
        self.alpha = 1.0 - np.exp(-chunk / (release_s * sr))
        self.channels = channels
        self._pending = np.zeros((channels, 0), dtype=np.float32)
        self._req_hist = np.ones(2 * self.radius)
        self._gain = 1.0
        self._tp_hist = np.zeros((channels, len(_TP_PHASES_F32[0])), dtype=np.float32)

    @property
    def delay(self) -> int:
        """Latency in samples."""
        return 2 * self.radius * self.chunk

    def process(self, block: FloatArray) -> FloatArray:
        """Feed a ``(channels, n)`` block; return the limited samples that are ready."""
        pending = np.concatenate([self._pending, block.astype(np.float32)], axis=1)
        n_chunks = pending.shape[1] // self.chunk
        ready = n_chunks - 2 * self.radius
        if ready <= 0:
            self._pending = pending
            return np.zeros((self.channels, 0), dtype=np.float32)
        envelope = true_peak_envelope(pending[:, : n_chunks * self.chunk], self._tp_hist,
                                      threshold=self.ceiling * 10 ** (-6 / 20))
        peaks = envelope.reshape(n_chunks, self.chunk).max(axis=1)
        req = np.minimum(1.0, self.ceiling / np.maximum(peaks, 1e-9))
        ext = np.concatenate([self._req_hist, req])
        size = 2 * self.radius + 1
        smooth = uniform_filter1d(minimum_filter1d(ext, size=size), size=size)
        # Each chunk's gain ramps from the previous chunk's, so both must satisfy it.
        need = np.minimum(ext[:-1], ext[1:])
        lo, hi = 2 * self.radius, 2 * self.radius + ready
        target = np.minimum(smooth[lo:hi], need[lo:hi])
        gains = np.empty(ready)
        g = self._gain
        for k, t in enumerate(target):
            g = min(float(t), g + (1.0 - g) * self.alpha)
            gains[k] = g
        # Interpolate from the previous chunk's gain so the gain curve is continuous.
        # (clamped for the very first chunk, whose predecessor never saw it coming).
        starts = np.minimum(np.concatenate([[self._gain], gains[:-1]]), ext[lo:hi])
        ramp = np.linspace(0.0, 1.0, self.chunk, endpoint=False)
        curve = (starts[:, None] + (gains - starts)[:, None] * ramp[None, :]).reshape(-1)
        out: FloatArray = (pending[:, : ready * self.chunk] * curve[None, :]).astype(np.float32)
        self._gain = float(gains[-1])
        self._req_hist = ext[ready : ready + 2 * self.radius]
        done = np.concatenate([self._tp_hist, pending[:, : ready * self.chunk]], axis=1)
        self._tp_hist = done[:, -self._tp_hist.shape[1] :]
        self._pending = pending[:, ready * self.chunk :]
        return out

    def flush(self) -> FloatArray:
        """Return everything still held back, limited."""
        remaining = self._pending.shape[1]
        if remaining == 0:
            return np.zeros((self.channels, 0), dtype=np.float32)
        pad = self.delay + (-remaining) % self.chunk + self.chunk * 2 * self.radius
        out = self.process(np.zeros((self.channels, pad), dtype=np.float32))
        self._pending = np.zeros((self.channels, 0), dtype=np.float32)
        tail: FloatArray = out[:, :remaining]
        return tail
