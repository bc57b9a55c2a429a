"""Keep a lossy encoder's decoded true peak under the ceiling, block by block.

A lossy codec adds its coding error to what it is given, so a mix limited to
−1 dBTP can decode well over it (+0.1 dBTP measured on loud, bright masters in
Vorbis). How much depends on the codec and on the programme: the error is large
where the music is dense and bright. :class:`CodecGuard` sits in front of the
real encoder and finds out, with a *trial* encoder: every block is encoded and
decoded again on the side, the coding error (decoded minus original) is
measured, and where a peak plus the error it may carry would pass the ceiling,
the block is turned down just enough before the real encoder gets it.

The error at a given sample is not repeatable (turning a passage down changes
the encoder's quantisation there), so the guard does not chase the trial's
decoded peaks; it bounds the error by its local level: a peak ``p`` passes when
``p + z·σ ≤ ceiling``, with ``σ`` the coding error's RMS over about 23 ms
(the largest within the look-ahead) and ``z`` per codec
(:data:`ERROR_SIGMAS`), so only loud passages that the codec codes coarsely
are turned down, and only by the codec's own error. The gain is smoothed with
the look-ahead, so it never changes abruptly.

It works on a stream: output lags input by :attr:`CodecGuard.delay` samples
(1 s), and memory is a few seconds of
audio whatever the length of the mix.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d

from segue.analysis.decode import ffmpeg_binary
from segue.errors import MixError
from segue.mixing.dsp import true_peak_envelope
from segue.mixing.source import widen_pipe
from segue.models import FloatArray

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GuardCodec:
    """How to run one lossy codec as a trial: encoder arguments and what to undo.

    Attributes
    ----------
    encode_args : ffmpeg encoder and muxer arguments (as the real encoder gets them).
    demuxer : the ffmpeg input format that reads the trial's bytes back.
    offset : samples the decoded stream leads by (LAME's encoder delay of 576 plus
        the decoder's 529 are not trimmed when the MP3 is read from a pipe).
    error_sigmas : ``z``: how many RMS of the coding error a peak is kept under the
        ceiling (see :data:`ERROR_SIGMAS`).
    """

    encode_args: tuple[str, ...]
    demuxer: str
    offset: int
    error_sigmas: float


#: ``z`` per codec. A peak's coding error is random with the local RMS ``σ``. On
#: Debian's loudest real masters limited at −1 dBTP, z = 2 left decoded peaks of
#: −1.03 (MP3), −1.11 (Vorbis) and −1.15 dBTP (Opus); but loud masters streamed as
#: Opus 128k reached −0.93 at z = 2, and quiet masters raised 6–11 dB into the
#: limiter −0.96 as an Opus file at z = 3 (−1.09 at z = 4, costing 0.13 LU more).
#: MP3 and Vorbis met the ceiling on both sets at z = 2.5 (−1.01 at worst) in one run,
#: but the MP3 file of the quiet set read −0.996 at z = 3 in another: the error's tail
#: is long, so MP3 keeps 3.5 σ (−1.01 on that set, 0.08 LU of loudness).
ERROR_SIGMAS = {"libmp3lame": 3.5, "libvorbis": 3.0, "libopus": 4.0}
#: Samples a decoded MP3 leads by when read from a pipe (576 + 529, LAME and decoder).
MP3_DECODER_OFFSET = 1105
#: Ogg pages of 20 ms for the trial (the default is 1 s), so its latency stays small.
_TRIAL_PAGE_US = "20000"


def guard_codec(encode_args: list[str]) -> GuardCodec | None:
    """The trial set-up for ffmpeg ``encode_args``, or ``None`` for a lossless codec."""
    args = list(encode_args)
    codec = args[args.index("-c:a") + 1] if "-c:a" in args else ""
    if codec not in ERROR_SIGMAS:
        return None
    fmt = args[args.index("-f") + 1] if "-f" in args else ""
    if fmt in ("ogg", "opus"):
        args += ["-page_duration", _TRIAL_PAGE_US]
    offset = MP3_DECODER_OFFSET if codec == "libmp3lame" else 0
    demuxer = "mp3" if fmt == "mp3" else "ogg"
    return GuardCodec(tuple(args), demuxer, offset, ERROR_SIGMAS[codec])


class _TrialCodec:
    """An encoder piped into a decoder: PCM in, the same PCM as the listener decodes it out."""

    def __init__(self, codec: GuardCodec, *, sr: int, channels: int) -> None:
        self.channels = channels
        ff = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-v", "error"]
        # No probing: the raw input is described, and probing would hold back about 1 s.
        enc = [*ff, "-probesize", "32", "-analyzeduration", "0",
               "-f", "f32le", "-ar", str(sr), "-ac", str(channels), "-i", "pipe:0",
               *codec.encode_args, "-flush_packets", "1", "pipe:1"]  # fmt: skip
        dec = [*ff, "-probesize", "32", "-analyzeduration", "0", "-f", codec.demuxer,
               "-i", "pipe:0", "-f", "f32le", "-ac", str(channels), "-ar", str(sr), "pipe:1"]
        try:
            self._enc = subprocess.Popen(enc, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL)
            self._dec = subprocess.Popen(dec, stdin=self._enc.stdout, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL)
        except OSError as exc:
            raise MixError(f"cannot start the trial encoder ({exc})") from exc
        assert self._enc.stdout is not None
        self._enc.stdout.close()  # the decoder holds it now
        widen_pipe(self._enc.stdin)
        self._decoded = bytearray()
        self._skip = codec.offset * channels * 4
        self._done = False
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="segue-trial-codec", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._dec.stdout is not None
        try:
            while chunk := self._dec.stdout.read1(1 << 16):  # type: ignore[attr-defined]
                with self._cond:
                    self._decoded += chunk
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def write(self, block: FloatArray) -> None:
        """Send PCM of shape ``(channels, n)`` to the trial encoder."""
        assert self._enc.stdin is not None
        try:
            self._enc.stdin.write(block.T.astype("<f4").tobytes())
        except BrokenPipeError as exc:
            raise MixError("the trial encoder stopped") from exc

    def end(self) -> None:
        """No more input: let the encoder finish."""
        if self._enc.stdin is not None:
            with contextlib.suppress(OSError):
                self._enc.stdin.close()

    def take(self, n: int, *, timeout_s: float = 60.0) -> FloatArray | None:
        """The next ``n`` decoded samples (offset removed), waiting for them.

        Returns fewer when the stream ended first, ``None`` when nothing is left.
        """
        want = self._skip + n * self.channels * 4
        with self._cond:
            if not self._cond.wait_for(lambda: self._done or len(self._decoded) >= want,
                                       timeout=timeout_s):
                raise MixError("the trial encoder stalled")
            if self._skip:
                dropped = min(self._skip, len(self._decoded))
                del self._decoded[:dropped]
                self._skip -= dropped
            got = min(len(self._decoded), n * self.channels * 4) // (self.channels * 4)
            data = bytes(self._decoded[: got * self.channels * 4])
            del self._decoded[: got * self.channels * 4]
        if got == 0:
            return None
        out: FloatArray = np.frombuffer(data, dtype="<f4").reshape(got, self.channels).T
        return out

    def close(self) -> None:
        """Stop both processes."""
        self.end()
        for proc in (self._enc, self._dec):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self._reader.join(timeout=5)
        if self._dec.stdout is not None:
            self._dec.stdout.close()


class CodecGuard:
    """Turn a stream down where a lossy codec would carry its peaks over the ceiling.

    Feed ``(channels, n)`` float32 blocks to :meth:`process`, which returns the
    guarded samples that are ready (in order, eventually exactly as many as were
    fed); :meth:`flush` returns the rest at the end. The gain at a sample depends
    only on the audio within :attr:`context` samples of it, so the result does not
    depend on how the stream is cut into blocks.

    Parameters
    ----------
    codec : the trial set-up (:func:`guard_codec`).
    sr : sample rate (Hz).
    ceiling_dbfs : the true-peak ceiling the decoded stream must meet (dBTP).
    channels : channel count.
    hold_s : how far output lags input; must exceed the trial codec's latency
        plus :attr:`context` (libvorbis holds about 4,000 samples, LAME up to
        20,000 on simple, low-bitrate music).
    window : look-ahead radius (samples) over which the gain falls and rises.
    error_window : samples over which the coding error's RMS is taken.
    """

    def __init__(
        self,
        codec: GuardCodec,
        *,
        sr: int,
        ceiling_dbfs: float,
        channels: int = 2,
        hold_s: float = 1.0,
        window: int = 2048,
        error_window: int = 1024,
    ) -> None:
        self.codec = codec
        self.channels = channels
        self.ceiling = 10 ** (ceiling_dbfs / 20)
        self.window = window
        self.error_window = error_window
        # The gain at a sample depends on need within ±2 windows, need on the error
        # RMS within ±1 window, and that on the error within half an error window.
        self.context = 3 * window + error_window
        self.delay = max(round(hold_s * sr), 2 * self.context)
        self._trial = _TrialCodec(codec, sr=sr, channels=channels)
        self._x = np.zeros((channels, 0), dtype=np.float32)  # input from self._base on
        self._d = np.zeros((channels, 0), dtype=np.float32)  # trial-decoded, same positions
        self._base = 0
        self._in = 0
        self._out = 0
        self.reduced_samples = 0  # how many output samples were turned down (for reports)

    def process(self, block: FloatArray) -> FloatArray:
        """Feed a block; return the guarded samples that are ready (possibly none)."""
        block = np.asarray(block, dtype=np.float32)
        if block.shape[1]:
            self._trial.write(block)
            self._x = np.concatenate([self._x, block], axis=1)
            self._in += block.shape[1]
        return self._emit(self._in - self.delay)

    def flush(self) -> FloatArray:
        """Everything still held back, guarded; the trial codec is stopped."""
        self._trial.end()
        try:
            return self._emit(self._in)
        finally:
            self._trial.close()

    def close(self) -> None:
        """Stop the trial codec (after an error; :meth:`flush` does it otherwise)."""
        self._trial.close()

    def _decoded_until(self, position: int) -> None:
        """Read the trial's decoded samples up to stream position ``position``.

        Where the decoded stream ended early it is padded with the input (no
        coding error assumed there).
        """
        have = self._base + self._d.shape[1]
        while have < position:
            got = self._trial.take(position - have)
            if got is None:
                lo, hi = have - self._base, position - self._base
                got = self._x[:, lo:hi]
            self._d = np.concatenate([self._d, got], axis=1)
            have += got.shape[1]

    def _emit(self, end: int) -> FloatArray:
        if end <= self._out:
            return np.zeros((self.channels, 0), dtype=np.float32)
        hi = min(self._in, end + self.context)
        self._decoded_until(hi)
        lo = max(self._base, self._out - self.context)
        x = self._x[:, lo - self._base : hi - self._base]
        d = self._d[:, lo - self._base : hi - self._base]
        gain = self._gain(x, d, lo)
        a, b = self._out - lo, end - lo
        out: FloatArray = (x[:, a:b] * gain[a:b][None, :]).astype(np.float32)
        self.reduced_samples += int(np.count_nonzero(gain[a:b] < 1.0))
        self._out = end
        keep = max(self._base, end - self.context - 16)  # 16: the true-peak meter's history
        self._x = self._x[:, keep - self._base :]
        self._d = self._d[:, keep - self._base :]
        self._base = keep
        return out

    def _gain(self, x: FloatArray, d: FloatArray, lo: int) -> F64:
        """Per-sample gain over ``x`` (which starts at stream position ``lo``)."""
        error = np.abs(d - x).max(axis=0).astype(np.float64)
        # A running mean can dip a rounding error below zero after a loud passage.
        sigma = np.sqrt(np.maximum(uniform_filter1d(error * error, self.error_window), 0.0))
        size = 2 * self.window + 1
        margin = self.codec.error_sigmas * maximum_filter1d(sigma, size)
        start = lo - self._base
        history = self._x[:, max(0, start - 12) : start]
        if history.shape[1] < 12:
            history = np.pad(history, ((0, 0), (12 - history.shape[1], 0)))
        peak = true_peak_envelope(x, history, threshold=0.5 * self.ceiling)
        allowed = np.maximum(self.ceiling - margin, 0.1 * self.ceiling)
        need = np.minimum(1.0, allowed / np.maximum(peak, 1e-9))
        # A minimum then a moving average over the same span: never above any need.
        gain: F64 = uniform_filter1d(minimum_filter1d(need, size), size)
        return gain
