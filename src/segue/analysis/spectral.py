"""The spectral front end shared by every feature: one STFT, reduced frame by frame.

Analysis works on a mono signal at a quarter of the measurement rate (11.025 or
12 kHz): everything a DJ needs from tempo, key and timbre sits below 5.5 kHz, and a
quarter of the samples is a quarter of the work. The STFT is computed in blocks of
frames and reduced at once to compact per-frame arrays (:class:`Frames`), so memory
stays proportional to the frame count, not to the spectrogram.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import fft as sfft
from scipy import signal

from segue import heap
from segue.models import FloatArray

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

#: Decimation from the measurement rate (44.1/48 kHz) to the analysis rate.
DECIMATION = 4
#: STFT of the frame features: 93 ms windows every 23 ms at 11.025 kHz.
N_FFT = 1024
HOP = 256
N_MELS = 48
#: STFT of the chroma: 372 ms windows every 186 ms (2.7 Hz bins, semitones from 65 Hz).
CHROMA_N_FFT = 4096
CHROMA_HOP = 2048
CHROMA_FMIN_HZ = 65.0
CHROMA_FMAX_HZ = 2100.0
#: The bass chroma's band (E1 to about D4): where a bass line and chord roots sit.
BASS_FMIN_HZ = 40.0
BASS_FMAX_HZ = 300.0
#: The brightness cut-off (MIRtoolbox's default).
BRIGHTNESS_CUTOFF_HZ = 1500.0
#: Mel bands below this are "low" (kick, bass) in the band onset envelopes.
LOW_BAND_HZ = 200.0
#: Mel bands from :data:`LOW_BAND_HZ` up to this are "mid" (snare body, chords, voice);
#: above it, "high" (snare crack, hi-hats, cymbals).
HIGH_BAND_HZ = 2000.0
#: The partial-glide analysis (:func:`partial_glides`): a log-frequency spectrum from
#: VOICE_FMIN_HZ to VOICE_FMAX_HZ (a voice's second to tenth harmonics, its formants) in
#: 20-cent steps, cut into bands of 600 cents every 300 cents.
VOICE_FMIN_HZ = 200.0
VOICE_FMAX_HZ = 3000.0
GLIDE_STEP_CENTS = 20.0
_GLIDE_BAND = 30
_GLIDE_BAND_HOP = 15
#: Largest shift tried between consecutive frames, in steps (±60 cents in 23 ms: a
#: vibrato of ±50 cents at 6 Hz moves at most about 45).
_GLIDE_MAX_SHIFT = 3


class Decimator:
    """Streaming mono downmix and 4:1 decimation with a 49-tap windowed-sinc low-pass.

    Feed consecutive chunks of shape ``(channels, n)`` with ``n`` a multiple of 4
    (the last chunk may be shorter); :meth:`result` returns the whole mono signal
    at ``sr / 4`` with the filter delay removed.
    """

    def __init__(self) -> None:
        taps = 12 * DECIMATION + 1
        self._h = signal.firwin(taps, 0.9 / DECIMATION, window=("kaiser", 8.0)).astype(np.float32)
        self._tail = np.zeros(taps - 1, dtype=np.float32)
        self._parts: list[F32] = []

    def update(self, chunk: FloatArray) -> None:
        """Downmix and decimate the next chunk."""
        mono = chunk.mean(axis=0, dtype=np.float32)
        rem = len(mono) % DECIMATION
        if rem:
            mono = np.concatenate([mono, np.zeros(DECIMATION - rem, dtype=np.float32)])
        ext = np.concatenate([self._tail, mono])
        self._tail = ext[len(ext) - len(self._tail) :]
        out = signal.upfirdn(self._h, ext, 1, DECIMATION)
        start = (len(self._h) - 1) // DECIMATION
        self._parts.append(out[start : start + len(mono) // DECIMATION].astype(np.float32))

    def result(self) -> F32:
        """The decimated signal, aligned with the input (delay compensated); call it once.

        The parts are copied into one array and let go one by one (their pages
        handed back, see :mod:`segue.heap`), so a long file (two hours: 300 MB at
        11 kHz) is held about once, not three times.
        """
        n = sum(len(part) for part in self._parts)
        delay = min((len(self._h) - 1) // 2 // DECIMATION, n)
        out: F32 = np.empty(n, dtype=np.float32)
        at = -delay
        self._parts.reverse()
        while self._parts:
            part = self._parts.pop()
            lo = max(0, -at)
            out[at + lo : at + len(part)] = part[lo:]
            at += len(part)
            if len(self._parts) % 256 == 0:  # the copied parts' pages go back as we go
                heap.trim()
        out[n - delay :] = 0.0
        return out


def decimate(x: FloatArray) -> F32:
    """Mono downmix at a quarter of the rate of ``x`` (shape ``(channels, n)``)."""
    dec = Decimator()
    dec.update(x)
    return dec.result()


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> F32:
    """Triangular filters equally spaced on the mel scale, shape ``(n_mels, n_fft//2+1)``.

    Each filter is normalised to unit area so bands of any width weigh the same.
    """
    def mel(f: F64) -> F64:
        out: F64 = 2595.0 * np.log10(1.0 + f / 700.0)
        return out

    edges_mel = np.linspace(mel(np.array(fmin)), mel(np.array(fmax)), n_mels + 2)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lo) / (mid - lo)
    down = (hi - freqs[None, :]) / (hi - mid)
    fb = np.maximum(0.0, np.minimum(up, down))
    fb /= np.maximum(fb.sum(axis=1, keepdims=True), 1e-12)
    out: F32 = fb.astype(np.float32)
    return out


def chroma_filterbank(sr: int, n_fft: int, *, fmin_hz: float = CHROMA_FMIN_HZ,
                      fmax_hz: float = CHROMA_FMAX_HZ, tuning_cents: float = 0.0) -> F32:
    """Maps STFT bins to 12 pitch classes (C = 0), shape ``(12, n_fft//2+1)``.

    Every bin between ``fmin_hz`` and ``fmax_hz`` goes to the pitch class of the
    nearest semitone, weighted by a raised cosine of its distance from that semitone
    (1 on the note, 0 half a semitone away), so energy between notes counts little.
    Semitones sit ``tuning_cents`` above A440's (a band tuned 40 cents sharp still
    folds onto its own notes).
    """
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((12, len(freqs)))
    band = (freqs >= fmin_hz) & (freqs <= fmax_hz)
    midi = 69.0 + 12.0 * np.log2(np.maximum(freqs[band], 1e-9) / 440.0) - tuning_cents / 100.0
    nearest = np.round(midi)
    weight = np.cos(np.pi * (midi - nearest)) ** 2
    fb[(nearest.astype(int) % 12), np.flatnonzero(band)] = weight
    out: F32 = fb.astype(np.float32)
    return out


def _block(y: F32, n_fft: int, hop: int, first: int, count: int) -> F32:
    """Frames ``first .. first + count`` of the centred (zero-padded) STFT framing of ``y``.

    Shape ``(count, n_fft)``, a strided view of a copy of just the samples they
    cover, so a long signal is never padded (copied) whole.
    """
    lo = first * hop - n_fft // 2  # the block's first sample, before the padding
    hi = lo + (count - 1) * hop + n_fft
    seg = np.zeros(hi - lo, np.float32)
    a, b = max(lo, 0), min(hi, len(y))
    if b > a:
        seg[a - lo : b - lo] = y[a:b]
    view: F32 = np.lib.stride_tricks.sliding_window_view(seg, n_fft)[::hop][:count]
    return view


def power_spectrogram_blocks(
    y: F32, n_fft: int, hop: int, *, block_frames: int = 2048
) -> Iterator[tuple[int, F32]]:
    """Hann-windowed power spectra of ``y`` in blocks: ``[(first_frame, power), ...]``.

    Frames are centred (``y`` zero-padded by ``n_fft // 2`` at both ends). Each
    ``power`` has shape ``(frames, n_fft//2+1)``, float32. Use it as an iterator
    over a long signal; nothing is kept between blocks.
    """
    padded = len(y) + 2 * (n_fft // 2)
    n_frames = 1 + (padded - n_fft) // hop if padded >= n_fft else 0
    window = signal.get_window("hann", n_fft).astype(np.float32)
    for start in range(0, n_frames, block_frames):
        frames = _block(y, n_fft, hop, start, min(block_frames, n_frames - start))
        spec = sfft.rfft(frames * window, axis=1)
        power: F32 = (spec.real**2 + spec.imag**2).astype(np.float32)
        yield start, power


@dataclass(frozen=True)
class Frames:
    """Per-frame reductions of one STFT (frame rate ``sr / HOP``).

    Attributes
    ----------
    sr : sample rate of the analysed signal, Hz.
    onset : onset strength (mean positive log-mel flux, dB per frame), all bands.
    onset_low : the same over mel bands below :data:`LOW_BAND_HZ` (kick, bass).
    onset_mid : the same from :data:`LOW_BAND_HZ` to :data:`HIGH_BAND_HZ`.
    onset_high : the same above :data:`HIGH_BAND_HZ` (snare crack, hats, cymbals).
    rms_db : level of each frame, dB relative to full scale.
    centroid_hz : spectral centroid.
    brightness : share of spectral energy above :data:`BRIGHTNESS_CUTOFF_HZ`, 0–1.
    mel_db : log-mel spectrum, shape ``(frames, N_MELS)``.
    glide_cents, glide_corr : per frame and voice band, how far (cents) the partials
        moved since the previous frame and how well the two spectra then align,
        shape ``(frames, bands)`` (:func:`partial_glides`).

    """

    sr: int
    onset: F32
    onset_low: F32
    onset_mid: F32
    onset_high: F32
    rms_db: F32
    centroid_hz: F32
    brightness: F32
    mel_db: F32
    glide_cents: F32
    glide_corr: F32

    @property
    def fps(self) -> float:
        """Frames per second."""
        return self.sr / HOP

    @property
    def times_s(self) -> F64:
        """Centre time of every frame."""
        out: F64 = np.arange(len(self.onset)) * HOP / self.sr
        return out


def log_frequency_map(sr: int, n_fft: int) -> F32:
    """Linear interpolation from STFT bins to a log-frequency axis, ``(n_log, n_fft//2+1)``.

    The axis runs from :data:`VOICE_FMIN_HZ` to :data:`VOICE_FMAX_HZ` in steps of
    :data:`GLIDE_STEP_CENTS`.
    """
    n_log = int(1200.0 * np.log2(VOICE_FMAX_HZ / VOICE_FMIN_HZ) / GLIDE_STEP_CENTS) + 1
    position = VOICE_FMIN_HZ * 2.0 ** (np.arange(n_log) * GLIDE_STEP_CENTS / 1200.0) / (sr / n_fft)
    below = np.floor(position).astype(np.intp)
    frac = position - below
    out: F32 = np.zeros((n_log, n_fft // 2 + 1), np.float32)
    out[np.arange(n_log), below] = 1.0 - frac
    out[np.arange(n_log), below + 1] = frac
    return out


def partial_glides(log_power: F32) -> tuple[F32, F32]:
    """How far the partials move from frame to frame, band by band (a fluctogram).

    Parameters
    ----------
    log_power : log power on the :func:`log_frequency_map` axis, ``(frames, n_log)``.

    Returns
    -------
    ``(cents, corr)``, each ``(frames - 1, bands)``: for each frame after the first and
    each band of 600 cents, the shift of the previous frame's spectrum (±60 cents,
    parabola-refined) that correlates best with this one, and that correlation. Held
    notes and drums do not move (0 cents); a singer's vibrato and a speaker's
    intonation do. After Lehner, Widmer and Sonnleitner's fluctogram (ICASSP 2014).
    """
    m = _GLIDE_MAX_SHIFT
    starts = np.arange(0, log_power.shape[1] - _GLIDE_BAND + 1, _GLIDE_BAND_HOP)
    bands = log_power[:, starts[:, None] + np.arange(_GLIDE_BAND)[None, :]]
    bands = bands - bands.mean(axis=2, keepdims=True)  # (frames, bands, band)
    now = bands[1:, :, m:-m]
    now_norm = np.sqrt((now * now).sum(axis=2))
    corr = np.empty((2 * m + 1, *now.shape[:2]), dtype=np.float32)
    for k, shift in enumerate(range(-m, m + 1)):
        before = bands[:-1, :, m + shift : _GLIDE_BAND - m + shift]
        norm = now_norm * np.sqrt((before * before).sum(axis=2))
        corr[k] = (now * before).sum(axis=2) / np.maximum(norm, 1e-9)
    best = np.clip(corr.argmax(axis=0), 1, 2 * m - 1)
    i, j = np.indices(best.shape)
    a, b, c = corr[best - 1, i, j], corr[best, i, j], corr[best + 1, i, j]
    curve = a - 2.0 * b + c
    vertex = np.where(curve < 0, 0.5 * (a - c) / np.where(curve < 0, curve, -1.0), 0.0)
    cents = (best - m + np.clip(vertex, -0.5, 0.5)) * GLIDE_STEP_CENTS
    return cents.astype(np.float32), corr.max(axis=0).astype(np.float32)


def frame_features(y: F32, sr: int) -> Frames:
    """Reduce the STFT of mono ``y`` (at ``sr`` Hz) to :class:`Frames`."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sr).astype(np.float32)
    fb = mel_filterbank(sr, N_FFT, N_MELS, 30.0, min(5000.0, sr / 2 * 0.95))
    mel_centres = (fb * freqs[None, :]).sum(axis=1)
    low = mel_centres < LOW_BAND_HZ
    high = mel_centres >= HIGH_BAND_HZ
    mid = ~low & ~high
    bright_mask = freqs >= BRIGHTNESS_CUTOFF_HZ
    window_energy = float(np.sum(signal.get_window("hann", N_FFT) ** 2))
    to_log = log_frequency_map(sr, N_FFT)
    mels: list[F32] = []
    rms: list[F32] = []
    cent: list[F32] = []
    bright: list[F32] = []
    glides: list[tuple[F32, F32]] = []
    previous: F32 | None = None
    for _, power in power_spectrogram_blocks(y, N_FFT, HOP):
        log_power = np.log(power @ to_log.T + 1e-10)
        joined = log_power if previous is None else np.concatenate([previous, log_power])
        glides.append(partial_glides(joined))
        previous = log_power[-1:]
        total = power.sum(axis=1)
        safe = np.maximum(total, 1e-20)
        mels.append((10.0 * np.log10(power @ fb.T + 1e-10)).astype(np.float32))
        # Parseval: mean square of the windowed frame, scaled back to the signal's.
        rms.append((10.0 * np.log10(safe / (N_FFT * window_energy) * 2.0)).astype(np.float32))
        cent.append(((power @ freqs) / safe).astype(np.float32))
        bright.append((power[:, bright_mask].sum(axis=1) / safe).astype(np.float32))
    if not mels:
        empty = np.zeros(0, np.float32)
        none = np.zeros((0, 1), np.float32)
        return Frames(sr, empty, empty, empty, empty, empty, empty, empty,
                      np.zeros((0, N_MELS), np.float32), none, none)
    # The first frame has no predecessor: no movement, no alignment.
    cents = np.concatenate([np.zeros((1, glides[0][0].shape[1]), np.float32),
                            *(g[0] for g in glides)])
    corr = np.concatenate([np.zeros((1, glides[0][1].shape[1]), np.float32),
                           *(g[1] for g in glides)])
    mel_db = np.concatenate(mels)
    del mels  # a long file holds the log-mel spectrum a few times over at most
    # Flux with a floor 60 dB under the loudest band so noise in silence adds nothing.
    flux = np.maximum(mel_db, mel_db.max() - 60.0)
    flux[1:] = np.diff(flux, axis=0)
    flux[0] = 0.0
    np.maximum(flux, 0.0, out=flux)

    def band(mask: npt.NDArray[np.bool_]) -> F32:
        weights = (mask / mask.sum() if mask.any() else np.eye(len(mask))[0]).astype(np.float32)
        out: F32 = (flux @ weights).astype(np.float32)
        return out

    return Frames(
        sr=sr,
        onset=flux.mean(axis=1).astype(np.float32),
        onset_low=band(low),
        onset_mid=band(mid),
        onset_high=band(high),
        rms_db=np.concatenate(rms),
        centroid_hz=np.concatenate(cent),
        brightness=np.concatenate(bright),
        mel_db=mel_db,
        glide_cents=cents,
        glide_corr=corr,
    )


@dataclass(frozen=True)
class Chromagram:
    """Pitch-class content over time, from one STFT (:func:`chromagram`).

    ``pitch``: shape ``(frames, 12)``, magnitudes between :data:`CHROMA_FMIN_HZ` and
    :data:`CHROMA_FMAX_HZ` folded to pitch classes (C = 0), each frame summing to 1,
    frames without tonal energy all zero. ``bass``: shape ``(frames, 12)``, the
    magnitudes folded from :data:`BASS_FMIN_HZ`–:data:`BASS_FMAX_HZ`, not normalised
    (louder frames weigh more). Frames are :data:`CHROMA_HOP` samples apart.
    ``tuning_strength``: 0–1, how closely the spectral peaks keep to one semitone grid
    (see :func:`chromagram`); 1 when not measured. ``tuning_cents``: that grid's offset
    from A440's, −50 to 50 cents; the chroma is folded on it.
    """

    pitch: F32
    bass: F32
    tuning_strength: float = 1.0
    tuning_cents: float = 0.0


#: Spectral peaks weaker than this share of their frame's strongest bin are not tuning
#: evidence (:func:`tuning_phasor`).
_TUNING_PEAK_SHARE = 0.05
_TUNING_FMIN_HZ = 100.0


def tuning_phasor(magnitude: F32, sr: int, n_fft: int) -> tuple[complex, float]:
    """Sum of ``w·exp(2πi·cents/100)`` over the spectral peaks of some frames, and of ``w``.

    ``magnitude``: shape ``(frames, n_fft//2+1)``. Peaks are local maxima between 100 Hz
    and :data:`CHROMA_FMAX_HZ` of at least 5 % of their frame's strongest one, their
    frequency refined by a parabola through the log magnitudes; ``cents`` is the
    distance from A440's semitone grid and ``w`` the peak's magnitude. Summed over a
    track, the phasor's length over the weight is :func:`tuning_strength`.
    """
    lo = max(1, int(np.ceil(_TUNING_FMIN_HZ * n_fft / sr)))
    hi = min(magnitude.shape[1] - 1, int(CHROMA_FMAX_HZ * n_fft / sr))
    if hi <= lo or len(magnitude) == 0:
        return 0j, 0.0
    a, b, c = magnitude[:, lo - 1 : hi - 1], magnitude[:, lo:hi], magnitude[:, lo + 1 : hi + 1]
    floor = _TUNING_PEAK_SHARE * b.max(axis=1, keepdims=True)
    peak = (b > a) & (b >= c) & (b > floor)
    la, lb, lc = (np.log(v.astype(np.float64) + 1e-12) for v in (a, b, c))
    curve = la - 2.0 * lb + lc
    shift = np.where(curve < 0, 0.5 * (la - lc) / np.where(curve < 0, curve, -1.0), 0.0)
    shift = np.clip(shift, -0.5, 0.5)  # a true peak's vertex lies within half a bin
    hz = (np.arange(lo, hi)[None, :] + shift) * sr / n_fft
    cents = 1200.0 * np.log2(hz / 440.0)
    w = np.where(peak, b, 0.0)
    return complex((w * np.exp(2j * np.pi * cents / 100.0)).sum()), float(w.sum())


def chromagram(y: F32, sr: int) -> Chromagram:
    """Pitch-class content of a mono signal ``y`` at ``sr`` Hz (see :class:`Chromagram`).

    Magnitudes (not power) are folded so one loud note does not drown the others.
    A first pass over the STFT measures the tuning: the mean phasor of every spectral
    peak's distance from the semitone grid (:func:`tuning_phasor`). Its angle is the
    tuning offset the chroma is then folded on (a recording 40 cents sharp would
    otherwise spread every note over two pitch classes); its length is the tuning
    strength: near 1 when the partials sit on one grid (music, a held tone), near 0
    when they fall anywhere (noise: 0.01; speech, whose pitch glides: 0.04; distorted
    metal guitars read 0.03–0.2, their partials smeared by the distortion).
    """
    phasor, weight = 0j, 0.0
    for _, power in power_spectrogram_blocks(y, CHROMA_N_FFT, CHROMA_HOP, block_frames=512):
        p, w = tuning_phasor(np.sqrt(power), sr, CHROMA_N_FFT)
        phasor, weight = phasor + p, weight + w
    if weight <= 0:
        empty = np.zeros((0, 12), np.float32)
        return Chromagram(pitch=empty, bass=empty, tuning_strength=0.0)
    strength = abs(phasor) / weight
    cents = float(np.angle(phasor) / (2 * np.pi) * 100.0)
    fb = chroma_filterbank(sr, CHROMA_N_FFT, tuning_cents=cents)
    fb_bass = chroma_filterbank(sr, CHROMA_N_FFT, fmin_hz=BASS_FMIN_HZ, fmax_hz=BASS_FMAX_HZ,
                                tuning_cents=cents)
    parts: list[F32] = []
    bass_parts: list[F32] = []
    for _, power in power_spectrogram_blocks(y, CHROMA_N_FFT, CHROMA_HOP, block_frames=512):
        magnitude = np.sqrt(power)
        parts.append((magnitude @ fb.T).astype(np.float32))
        bass_parts.append((magnitude @ fb_bass.T).astype(np.float32))
    chroma = np.concatenate(parts)
    total = chroma.sum(axis=1, keepdims=True)
    pitch: F32 = np.where(total > 0, chroma / np.maximum(total, 1e-20), 0.0).astype(np.float32)
    return Chromagram(pitch=pitch, bass=np.concatenate(bass_parts), tuning_strength=strength,
                      tuning_cents=round(cents, 1))
