"""Loudness per ITU-R BS.1770-4 and EBU R128 (Tech 3341/3342), measured in one pass.

:class:`LoudnessMeter` consumes audio chunk by chunk (constant memory) and keeps
only the K-weighted energy of every 100 ms sub-block per channel plus the peaks;
the gated integrated loudness, the loudness range and the short-term curve are
pure functions of those energies. Validated against pyloudnorm in the tests.

It also keeps, per 10 ms, the K-weighted energy and the peak of the signal as the
mixer plays it (20 Hz high-passed), so :func:`limiter_loss_curve` can predict how
much loudness the mix's true-peak limiter will take from a track at any gain, and
the mixer can make it up: a quiet master raised to −14 LUFS has peaks far over
the ceiling, and limiting them takes up to a few LU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage, signal

from segue.models import FloatArray

F64 = npt.NDArray[np.float64]

#: Loudness of a block whose K-weighted mean square is 1: −0.691 LUFS (BS.1770).
_OFFSET = -0.691
#: Gates of BS.1770-4 (integrated) and EBU Tech 3342 (loudness range).
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LRA_RELATIVE_GATE_LU = -20.0
#: What silence reads as in curves (JSON has no −inf).
FLOOR_LUFS = -70.0
#: Sub-block length: the 100 ms hop of the 400 ms gating blocks.
SUB_BLOCK_S = 0.1
#: Oversampling of the true-peak meter and its interpolation filter length per phase.
TRUE_PEAK_FACTOR = 4
_TAPS_PER_PHASE = 12
#: Samples within this many dB of the running peak get their intersample values computed.
TRUE_PEAK_SEARCH_DB = 6.0
#: The mixer high-passes every track here (DC offsets and rumble; see mixing.render).
HIGH_PASS_HZ = 20.0
#: Resolution of the limiter model, and its limiter's look-ahead and release.
LIMITER_BLOCK_S = 0.01
LIMITER_LOOKAHEAD_BLOCKS = 1
LIMITER_RELEASE_S = 0.08
#: :func:`limiter_loss_curve` is tabulated for true peaks 0, 1, … this many dB over the ceiling.
LIMITER_MAX_EXCESS_DB = 24


def k_weighting(sr: int) -> F64:
    """The BS.1770 K-weighting filter (high shelf + RLB high-pass) at ``sr`` Hz, as SOS.

    The two biquads are derived from their analog prototypes for any rate; at 48 kHz
    they reproduce the coefficients printed in BS.1770-4 (Table 1 and 2).
    """
    # Pre-filter: a high shelf, +4 dB above about 1.5 kHz (models the head).
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / sr)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf_b = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0,
               (vh - vb * k / q + k * k) / a0]  # fmt: skip
    shelf_a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    # RLB weighting: a second-order high-pass at about 38 Hz.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / sr)
    a0 = 1.0 + k / q + k * k
    hp_b = [1.0, -2.0, 1.0]
    hp_a = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    sos: F64 = np.array([shelf_b + shelf_a, hp_b + hp_a], dtype=np.float64)
    return sos


def true_peak_filter() -> F64:
    """Polyphase interpolation filter for 4× oversampling, shape ``(4, 12)``.

    A Kaiser-windowed sinc of 4 × 12 + 1 taps with its zeros on the original samples,
    so phase 0 reproduces them and phases 1–3 give the values a quarter, half and
    three quarters of a sample later (the BS.1770-4 Annex 2 method).
    """
    n = TRUE_PEAK_FACTOR * _TAPS_PER_PHASE
    k = np.arange(n + 1) - n / 2
    h = np.sinc(k / TRUE_PEAK_FACTOR) * np.kaiser(n + 1, 8.0)
    # Phase p holds taps p, p+4, ...: y[4m + p] = sum_j h[p + 4 j] x[m + 6 - j].
    phases: F64 = np.stack([h[p : p + n : TRUE_PEAK_FACTOR] for p in range(TRUE_PEAK_FACTOR)])
    return phases


@dataclass(frozen=True)
class LoudnessResult:
    """What :class:`LoudnessMeter` measured.

    Attributes
    ----------
    integrated_lufs : gated integrated loudness (BS.1770-4), −inf when all is gated.
    loudness_range_lu : EBU Tech 3342 loudness range (LRA).
    true_peak_dbtp : 4× oversampled peak over all channels, dB true peak.
    sample_peak_dbfs : largest absolute sample, dBFS.
    short_term_lufs : 3 s loudness once per second, value ``i`` centred on ``i + 0.5`` s,
        floored at −70 LUFS.
    limiter_loss_lu : entry ``k``: the loudness (LU) a true-peak limiter takes when the
        track is played with its true peak ``k`` dB over the limiter's ceiling (see
        :func:`limiter_loss_curve`).

    """

    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    short_term_lufs: tuple[float, ...]
    limiter_loss_lu: tuple[float, ...] = ()


class LoudnessMeter:
    """Streaming BS.1770 meter: feed chunks of shape ``(channels, n)``, then :meth:`result`.

    Channels are weighted 1.0 (the stereo or mono layouts segue decodes to). Not
    thread-safe; one meter per track.
    """

    def __init__(self, sr: int, channels: int = 2) -> None:
        self.sr = sr
        self.channels = channels
        self._sub = round(SUB_BLOCK_S * sr)
        self._sos = k_weighting(sr)
        self._zi = np.zeros((self._sos.shape[0], channels, 2))
        self._carry = np.zeros((channels, 0))
        self._energies: list[F64] = []
        self._phases = true_peak_filter()
        self._tail = np.zeros((channels, _TAPS_PER_PHASE), dtype=np.float32)
        self._sample_peak = 0.0
        self._true_peak = 0.0
        # The limiter model's 10 ms blocks: K-weighted energy and high-passed peak.
        self._fine = max(1, round(LIMITER_BLOCK_S * sr))
        self._hp = signal.butter(2, HIGH_PASS_HZ, btype="highpass", fs=sr, output="sos")
        self._hp_zi: F64 | None = None
        self._fine_carry = np.zeros((2, 0))
        self._fine_energy: list[F64] = []
        self._fine_peak: list[F64] = []

    def update(self, chunk: FloatArray) -> None:
        """Measure the next ``chunk`` (float, shape ``(channels, n)``, continuing the last)."""
        if chunk.shape[1] == 0:
            return
        weighted, self._zi = signal.sosfilt(self._sos, chunk, axis=1, zi=self._zi)
        squares = np.square(weighted)
        sq = np.concatenate([self._carry, squares], axis=1)
        whole = sq.shape[1] // self._sub
        if whole:
            blocks = sq[:, : whole * self._sub].reshape(self.channels, whole, self._sub)
            self._energies.append(blocks.sum(axis=2))
        self._carry = sq[:, whole * self._sub :]
        self._update_peaks(chunk)
        self._update_fine(squares.sum(axis=0), chunk)

    def _update_fine(self, weighted_sq: F64, chunk: FloatArray) -> None:
        """Per 10 ms: channel-summed K-weighted energy, and the high-passed peak."""
        if self._hp_zi is None:  # settled on the first sample, as the mixer's filter is
            self._hp_zi = signal.sosfilt_zi(self._hp)[:, None, :] * chunk[None, :, :1]
        passed, self._hp_zi = signal.sosfilt(self._hp, chunk, axis=1, zi=self._hp_zi)
        both = np.concatenate(
            [self._fine_carry, np.stack([weighted_sq, np.abs(passed).max(axis=0)])], axis=1
        )
        whole = both.shape[1] // self._fine
        if whole:
            blocks = both[:, : whole * self._fine].reshape(2, whole, self._fine)
            self._fine_energy.append(blocks[0].sum(axis=1))
            self._fine_peak.append(blocks[1].max(axis=1))
        self._fine_carry = both[:, whole * self._fine :]

    def _update_peaks(self, chunk: FloatArray) -> None:
        """Sample peak, and the 4× oversampled peak around every sample near the peak.

        Intersample values are computed between each pair of samples of which one is
        within :data:`TRUE_PEAK_SEARCH_DB` of the running peak; exceeding that peak
        elsewhere would take more than 6 dB of overshoot between two samples, which
        needs content at the Nyquist frequency that music does not carry.
        """
        ctx = np.concatenate([self._tail, chunk.astype(np.float32)], axis=1)
        self._tail = ctx[:, -_TAPS_PER_PHASE:]
        mag = np.abs(chunk)
        self._sample_peak = max(self._sample_peak, float(mag.max()))
        best = max(self._sample_peak, self._true_peak)
        threshold = best * 10.0 ** (-TRUE_PEAK_SEARCH_DB / 20.0)
        # Output between ctx[m] and ctx[m+1] uses ctx[m-5 .. m+6]; candidates need both
        # neighbours in range, so the newest 6 samples wait for the next chunk.
        half = _TAPS_PER_PHASE // 2
        near = np.abs(ctx).max(axis=0) >= threshold
        near = near | np.roll(near, -1)
        centres = np.flatnonzero(near[half - 1 : ctx.shape[1] - half]) + half - 1
        if len(centres) == 0:
            return
        if len(centres) > 0.2 * ctx.shape[1]:
            # Dense (a loud, steady master): filtering everything is cheaper than gathering.
            for p in range(1, TRUE_PEAK_FACTOR):
                taps_p = self._phases[p].astype(np.float32)
                for channel in ctx:
                    out = np.convolve(channel, taps_p, mode="valid")
                    self._true_peak = max(self._true_peak, float(np.abs(out).max()))
            return
        windows = ctx[:, centres[:, None] + np.arange(-half + 1, half + 1)[None, :]]
        # phases[p, j] multiplies ctx[m + 6 - j]; windows[..., i] holds ctx[m - 5 + i].
        taps = self._phases[1:, ::-1].astype(np.float32)
        values = windows @ taps.T  # (channels, candidates, 3 phases)
        self._true_peak = max(self._true_peak, float(np.abs(values).max()))

    def result(self) -> LoudnessResult:
        """Integrated loudness, loudness range, peaks and the short-term curve."""
        subs = (
            np.concatenate(self._energies, axis=1)
            if self._energies
            else np.zeros((self.channels, 0))
        )
        energy = subs.sum(axis=0) / self._sub  # channel-summed mean square per 100 ms
        peak = max(self._sample_peak, self._true_peak)
        fine_energy = np.concatenate(self._fine_energy) if self._fine_energy else np.zeros(0)
        fine_peak = np.concatenate(self._fine_peak) if self._fine_peak else np.zeros(0)
        return LoudnessResult(
            integrated_lufs=integrated_loudness(energy),
            loudness_range_lu=loudness_range(energy),
            true_peak_dbtp=_db(peak),
            sample_peak_dbfs=_db(self._sample_peak),
            short_term_lufs=short_term_curve(energy),
            limiter_loss_lu=limiter_loss_curve(fine_energy, fine_peak, peak,
                                               samples_per_block=self._fine),
        )


def limiter_loss_curve(
    energy: F64, peaks: F64, true_peak: float, *, samples_per_block: int
) -> tuple[float, ...]:
    """Loudness a true-peak limiter takes from a track, by how far it is pushed over.

    Parameters
    ----------
    energy : channel-summed K-weighted energy per 10 ms block.
    peaks : the largest absolute (high-passed) sample per block.
    true_peak : the track's true peak, linear; excess ``k`` dB means the track is
        played at a gain that puts this peak ``k`` dB over the ceiling.
    samples_per_block : samples per block (10 ms at the meter's rate).

    Returns
    -------
    For ``k`` = 0 … :data:`LIMITER_MAX_EXCESS_DB`, the integrated loudness (LU) lost.
    The limiter is modelled as the mixer's is: each block needs gain
    ``min(1, ceiling / peak)``, the need is held over the look-ahead, and the gain
    recovers exponentially with the release time. Within about 0.15 LU of the real
    limiter on Debian's singularity soundtrack (it predicts slightly more loss).
    """
    if len(energy) == 0 or true_peak <= 0:
        return ()
    n_sub = round(SUB_BLOCK_S / LIMITER_BLOCK_S)
    whole = len(energy) // n_sub * n_sub
    if whole == 0:
        return ()
    scale = 1.0 / (n_sub * samples_per_block)
    base = energy[:whole].reshape(-1, n_sub).sum(axis=1) * scale
    before = integrated_loudness(base)
    if not np.isfinite(before):
        return ()
    decay = -LIMITER_BLOCK_S / LIMITER_RELEASE_S  # log of the reduction kept per block
    index = np.arange(len(peaks), dtype=np.float64)
    out = []
    for k in range(LIMITER_MAX_EXCESS_DB + 1):
        gain = 10.0 ** (k / 20.0) / true_peak  # ceiling at 1.0
        need = np.minimum(1.0, 1.0 / np.maximum(peaks * gain, 1e-12))
        size = 2 * LIMITER_LOOKAHEAD_BLOCKS + 1
        need = ndimage.minimum_filter1d(need, size=size)
        # Release: the reduction d = 1 - g decays by `decay` (log) per block unless a
        # block needs more, d_i = max(1 - need_i, d_{i-1} e^decay), as a running max.
        with np.errstate(divide="ignore"):
            u = np.log(np.maximum(1.0 - need, 0.0))
        held = np.maximum.accumulate(u - index * decay) + index * decay
        g = 1.0 - np.exp(held)
        limited = (energy * g * g)[:whole].reshape(-1, n_sub).sum(axis=1) * scale
        out.append(round(max(0.0, before - integrated_loudness(limited)), 3))
    return tuple(out)


def _db(linear: float) -> float:
    return 20.0 * float(np.log10(linear)) if linear > 0 else -np.inf


def _lufs(mean_square: F64) -> F64:
    with np.errstate(divide="ignore"):
        out: F64 = _OFFSET + 10.0 * np.log10(mean_square)
    return out


def _window_means(energy: F64, n_sub: int) -> F64:
    """Mean of every run of ``n_sub`` consecutive sub-block energies (hop: 1 sub-block)."""
    if len(energy) < n_sub:
        return np.array([energy.mean()]) if len(energy) else np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(energy)])
    out: F64 = (c[n_sub:] - c[:-n_sub]) / n_sub
    return out


def integrated_loudness(sub_energy: F64) -> float:
    """Gated integrated loudness in LUFS from 100 ms channel-summed mean squares.

    400 ms blocks every 100 ms; blocks under −70 LUFS are dropped, then those more
    than 10 LU under the loudness of the rest (BS.1770-4 §2.8). −inf if none remain.
    """
    blocks = np.maximum(_window_means(sub_energy, 4), 0.0)
    loud = blocks[_lufs(blocks) > ABSOLUTE_GATE_LUFS]
    if len(loud) == 0:
        return -np.inf
    relative = float(_lufs(np.array([loud.mean()]))[0]) + RELATIVE_GATE_LU
    gated = loud[_lufs(loud) > relative]
    return float(_lufs(np.array([gated.mean()]))[0])


def loudness_range(sub_energy: F64) -> float:
    """EBU Tech 3342 loudness range in LU from 100 ms channel-summed mean squares.

    Short-term (3 s) loudness every 100 ms, gated at −70 LUFS and 20 LU under the
    mean of the rest; the range is the spread from the 10th to the 95th percentile.
    """
    blocks = np.maximum(_window_means(sub_energy, 30), 0.0)
    loud = blocks[_lufs(blocks) > ABSOLUTE_GATE_LUFS]
    if len(loud) == 0:
        return 0.0
    relative = float(_lufs(np.array([loud.mean()]))[0]) + LRA_RELATIVE_GATE_LU
    values = _lufs(loud[_lufs(loud) > relative])
    if len(values) == 0:
        return 0.0
    lo, hi = np.percentile(values, [10.0, 95.0])
    return float(hi - lo)


def short_term_curve(sub_energy: F64, *, step_s: float = 1.0) -> tuple[float, ...]:
    """3 s loudness every ``step_s``: value ``i`` centred on ``(i + 0.5) * step_s``.

    Windows are cut short at the ends of the track; silence reads −70 LUFS.
    """
    n = len(sub_energy)
    step = round(step_s / SUB_BLOCK_S)
    count = int(np.ceil(n / step)) if n else 0
    c = np.concatenate([[0.0], np.cumsum(sub_energy)])
    centres = (np.arange(count) * step + step / 2.0).round().astype(int)
    lo = np.clip(centres - 15, 0, n)
    hi = np.clip(centres + 15, 0, n)
    mean = (c[hi] - c[lo]) / np.maximum(hi - lo, 1)
    values = np.maximum(_lufs(np.maximum(mean, 0.0)), FLOOR_LUFS)
    return tuple(round(float(v), 1) for v in values)
