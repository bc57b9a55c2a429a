"""The codec guard: decoded true peak under the ceiling for every lossy file and stream format."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from segue.analysis.loudness import LoudnessMeter
from segue.mixing.codec_guard import CodecGuard, _TrialCodec, guard_codec
from segue.mixing.dsp import PeakLimiter
from segue.mixing.encode import CODECS, STREAM_FORMATS, FileSink, encode_stream

SR = 44100
CEILING = -1.0


def _loud_bright(seconds: float, seed: int = 0) -> np.ndarray:
    """A dense, bright master: noise with a treble boost and kicks, limited at the ceiling.

    Like a loud electronic master, its peaks sit at the ceiling all the time and its
    high band is strong, which is where lossy coding error is largest.
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    noise = rng.standard_normal((2, n))
    treble = sosfilt(butter(2, 4000, btype="highpass", fs=SR, output="sos"), noise, axis=1)
    t = np.arange(n) / SR
    kick = np.sin(2 * np.pi * 55 * t) * np.exp(-((t % 0.5) * 12))
    x = 0.25 * noise + 0.35 * treble + 0.9 * kick[None, :]
    limiter = PeakLimiter(ceiling_dbfs=CEILING, sr=SR)
    x = (x * 1.5).astype(np.float32)
    return np.concatenate([limiter.process(x), limiter.flush()], axis=1)


def _decode(data: bytes | Path) -> np.ndarray:
    src = ["-i", str(data)] if isinstance(data, Path) else ["-i", "pipe:0"]
    raw = subprocess.run(["ffmpeg", "-v", "error", *src, "-f", "f32le", "-ac", "2", "-ar",
                          str(SR), "pipe:1"], input=None if isinstance(data, Path) else data,
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 2).T


def _true_peak(x: np.ndarray) -> float:
    meter = LoudnessMeter(SR)
    meter.update(x)
    return meter.result().true_peak_dbtp


def _ffmpeg_true_peak(path: Path) -> float:
    """ffmpeg's own 4× oversampled meter (ebur128), independent of segue's."""
    proc = subprocess.run(["ffmpeg", "-nostats", "-i", str(path), "-af",
                           "aformat=channel_layouts=stereo,ebur128=peak=true", "-f", "null",
                           "-"], capture_output=True, text=True, check=True)
    return float(re.findall(r"Peak:\s+(-?[\d.]+|-inf) dBFS", proc.stderr)[-1])


def _plain_encode(x: np.ndarray, args: list[str]) -> bytes:
    return subprocess.run(["ffmpeg", "-v", "error", "-f", "f32le", "-ar", str(SR), "-ac", "2",
                           "-i", "pipe:0", *args, "pipe:1"], input=x.T.astype("<f4").tobytes(),
                          capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def master() -> np.ndarray:
    return _loud_bright(8.0)


@pytest.mark.parametrize("ext", [".mp3", ".ogg", ".opus"])
def test_a_file_decodes_under_the_ceiling(master: np.ndarray, tmp_path: Path, ext: str) -> None:
    # Without the guard the codec carries this master over the ceiling...
    assert _true_peak(_decode(_plain_encode(master, CODECS[ext]))) > CEILING + 0.1
    out = tmp_path / f"mix{ext}"
    with FileSink(out, sr=SR, ceiling_dbfs=CEILING) as sink:
        for i in range(0, master.shape[1], 22050):
            sink.write(master[:, i : i + 22050])
    decoded = _decode(out)
    # ...with it, both meters read the decoded file under it, and nothing is lost.
    assert _true_peak(decoded) <= CEILING
    assert _ffmpeg_true_peak(out) <= CEILING
    assert abs(decoded.shape[1] - master.shape[1]) < 0.05 * SR


@pytest.mark.parametrize("fmt", list(STREAM_FORMATS))
def test_a_stream_decodes_under_the_ceiling(master: np.ndarray, fmt: str) -> None:
    blocks = (master[:, i : i + 4410] for i in range(0, master.shape[1], 4410))
    data = b"".join(encode_stream(blocks, sr=SR, fmt=fmt, ceiling_dbfs=CEILING))
    assert _true_peak(_decode(data)) <= CEILING


def _guard_run(x: np.ndarray, block: int, ext: str = ".ogg") -> np.ndarray:
    codec = guard_codec(CODECS[ext])
    assert codec is not None
    guard = CodecGuard(codec, sr=SR, ceiling_dbfs=CEILING)
    parts = [guard.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)]
    parts.append(guard.flush())
    return np.concatenate(parts, axis=1)


def test_the_guard_keeps_length_and_ignores_block_size(master: np.ndarray) -> None:
    x = master[:, : 4 * SR]
    small, large = _guard_run(x, 1000), _guard_run(x, 30000)
    assert small.shape == large.shape == x.shape
    assert np.allclose(small, large, atol=1e-6)
    assert np.all(np.abs(small) <= np.abs(x) + 1e-7)  # it only ever turns down
    assert not np.allclose(small, x)


def test_the_guard_is_transparent_where_the_codec_has_room() -> None:
    t = np.arange(3 * SR) / SR
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    x = np.stack([tone, tone]).astype(np.float32)
    assert np.array_equal(_guard_run(x, 5000, ".mp3"), x)


def test_lossless_formats_need_no_guard() -> None:
    assert guard_codec(CODECS[".flac"]) is None and guard_codec(CODECS[".wav"]) is None


@pytest.mark.parametrize("ext", [".mp3", ".ogg", ".opus"])
def test_the_trial_decoder_is_aligned_with_its_input(ext: str) -> None:
    # The guard compares decoded and original sample by sample: a lag would put its
    # gain beside the peaks it is meant for.
    codec = guard_codec(CODECS[ext])
    assert codec is not None
    rng = np.random.default_rng(3)
    x = sosfilt(butter(4, 3000, fs=SR, output="sos"), rng.standard_normal((2, 2 * SR)), axis=1)
    x = (0.2 * x).astype(np.float32)
    trial = _TrialCodec(codec, sr=SR, channels=2)
    try:
        trial.write(x)
        trial.end()
        decoded = trial.take(x.shape[1])
    finally:
        trial.close()
    assert decoded is not None
    a = x[0, SR // 2 : SR]
    lags = range(-200, 201)
    best = max(lags, key=lambda k: float(np.dot(a, decoded[0, SR // 2 + k : SR + k])))
    assert best == 0


def test_silence_after_a_loud_passage_stays_finite(master: np.ndarray) -> None:
    # The error's running mean over digital silence after a loud, coarsely coded
    # passage can round below zero; its square root must not turn into NaN samples.
    x = np.concatenate([master[:, : 2 * SR], np.zeros((2, 2 * SR), np.float32)], axis=1)
    out = _guard_run(x, 4410, ".mp3")
    assert np.all(np.isfinite(out))
    assert np.array_equal(out[:, -SR:], x[:, -SR:])


@pytest.mark.parametrize("name", ["mp3", "ogg", "opus"])
def test_the_station_streams_decode_under_the_ceiling(master: np.ndarray, name: str) -> None:
    # segue serve's own encoders (one per format, fanned out) carry the guard too.
    from segue.service.encoder import Encoder
    from segue.service.formats import FORMATS

    encoder = Encoder(FORMATS[name], sr=SR, audio_base_s=0.0, label=f"test/{name}",
                      ceiling_dbfs=CEILING)
    for i in range(0, master.shape[1], 22050):
        assert encoder.feed(master[:, i : i + 22050])
    encoder._queue.put(None)  # end of input: the encoder finishes and closes its ring
    encoder._reader.join(60)
    data = encoder.ring.read(0, 1 << 24)  # from the start: its header pages included
    encoder.close()
    assert _true_peak(_decode(data)) <= CEILING
