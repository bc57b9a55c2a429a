"""Decoding any audio file ffmpeg understands into float32 arrays.

ffmpeg is the one decoder for every format (mp3, ogg, opus, flac, wav, m4a, ...),
any sample rate and channel count; it resamples and downmixes on the way out so
the rest of segue sees one layout.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import mutagen
import numpy as np

from segue.errors import DecodeError
from segue.models import FloatArray

log = logging.getLogger(__name__)

#: File extensions treated as audio when a folder is scanned.
AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".ogg", ".oga", ".opus", ".flac", ".wav", ".m4a", ".aac", ".aif", ".aiff", ".wma"}
)


def ffmpeg_binary() -> str:
    """Path of the ffmpeg executable; raises :class:`DecodeError` if it is missing."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise DecodeError("ffmpeg not found on PATH (install it: apt-get install ffmpeg)")
    return exe


def decode(path: str | Path, *, sr: int, channels: int = 2) -> FloatArray:
    """Decode ``path`` to float32 samples at ``sr`` Hz.

    Parameters
    ----------
    path : the audio file.
    sr : output sample rate in Hz.
    channels : 1 for a mono downmix, 2 for stereo (mono files are duplicated,
        multichannel files are downmixed by ffmpeg's standard matrix).

    Returns
    -------
    Array of shape ``(channels, n_samples)``, values nominally in [-1, 1].

    Raises
    ------
    DecodeError
        When the file is missing, empty, not audio, or decodes to nothing.

    """
    p = Path(path)
    if not p.is_file():
        raise DecodeError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise DecodeError(f"{p}: empty file (0 bytes)")
    cmd = [
        ffmpeg_binary(), "-nostdin", "-hide_banner", "-v", "error",
        "-i", str(p), "-map", "0:a:0", "-vn",
        "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(channels), "-ar", str(sr), "pipe:1",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, check=False)
    errors = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        raise DecodeError(f"{p}: not decodable as audio ({_last_line(errors, p)})")
    data = np.frombuffer(proc.stdout, dtype="<f4")
    n = len(data) // channels
    if n == 0:
        raise DecodeError(f"{p}: contains no audio samples")
    if errors:
        log.warning("%s: decoded with errors: %s", p, _last_line(errors, p))
    out: FloatArray = data[: n * channels].reshape(n, channels).T.copy()
    # Keep corrupt frames from poisoning every later computation.
    np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def _last_line(stderr: str, path: Path) -> str:
    """The most useful line of ffmpeg's error output, without the path repeated."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "unknown ffmpeg error"
    line = lines[-1]
    prefix = f"{path}: "
    return line[len(prefix) :] if line.startswith(prefix) else line


def declared_duration_s(path: str | Path) -> float | None:
    """The duration the file's header declares, or ``None`` when it declares none."""
    try:
        info = mutagen.File(path)
    except Exception:  # mutagen raises many types for odd files; the header is optional
        return None
    length = getattr(getattr(info, "info", None), "length", None)
    return float(length) if length else None


def check_complete(path: str | Path, decoded_s: float, *, tolerance_s: float = 1.0) -> None:
    """Raise :class:`DecodeError` when ``path`` decodes shorter than its header says.

    A truncated download or copy still decodes, but ends abruptly mid-music; a DJ
    must not play it.
    """
    declared = declared_duration_s(path)
    if declared is not None and decoded_s < declared - max(tolerance_s, 0.02 * declared):
        raise DecodeError(
            f"{path}: truncated or corrupt (decoded {decoded_s:.1f} s of {declared:.1f} s)"
        )


def source_rate(path: str | Path) -> int | None:
    """The sample rate the file's header declares, or ``None`` when mutagen cannot tell."""
    try:
        info = mutagen.File(path)
    except Exception:  # mutagen raises many types for odd files; the header is optional
        return None
    rate = getattr(getattr(info, "info", None), "sample_rate", None)
    return int(rate) if rate else None


def measurement_rate(native_sr: int | None) -> int:
    """The rate loudness is measured at: 44.1 or 48 kHz, the family of the source.

    Sources at 44.1 or 48 kHz are read as they are; higher rates are resampled to
    the base rate of their family (88.2/176.4 kHz → 44.1 kHz, 96/192 kHz → 48 kHz),
    which keeps the whole audible band; lower rates (8, 16, 22.05 kHz …) are
    upsampled to 44.1 kHz so the true-peak meter works at a standard rate.
    """
    if native_sr is None:
        return 44100
    if native_sr % 48000 == 0:
        return 48000
    return 44100


def iter_chunks(
    path: str | Path, *, sr: int, channels: int = 2, chunk_frames: int = 1 << 18
) -> Iterator[FloatArray]:
    """Decode ``path`` with ffmpeg and yield it in chunks, never holding the whole file.

    Parameters
    ----------
    path : the audio file.
    sr : output sample rate in Hz.
    channels : output channel count (ffmpeg downmixes with its standard matrix).
    chunk_frames : frames per chunk; every chunk but the last has exactly this many.

    Yields
    ------
    Arrays of shape ``(channels, n)``, float32, NaN/inf replaced by 0.

    Raises
    ------
    DecodeError
        When the file is missing, empty, not audio, or decodes to nothing. Raised
        after the last chunk when ffmpeg fails part-way (a corrupt tail).

    """
    p = Path(path)
    if not p.is_file():
        raise DecodeError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise DecodeError(f"{p}: empty file (0 bytes)")
    cmd = [
        ffmpeg_binary(), "-nostdin", "-hide_banner", "-v", "error", "-threads", "1",
        "-i", str(p), "-map", "0:a:0", "-vn",
        "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(channels), "-ar", str(sr), "pipe:1",
    ]  # fmt: skip
    frame_bytes = 4 * channels
    total = 0
    with tempfile.TemporaryFile() as errors_file:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors_file, bufsize=0)
        stdout = proc.stdout
        if not isinstance(stdout, io.RawIOBase):  # bufsize=0 gives a raw FileIO
            raise DecodeError(f"{p}: cannot read ffmpeg's output")
        try:
            while True:
                buf = bytearray(chunk_frames * frame_bytes)
                view = memoryview(buf)
                got = 0
                while got < len(buf):
                    n = stdout.readinto(view[got:])
                    if not n:
                        break
                    got += n
                frames = got // frame_bytes
                if frames:
                    data = np.frombuffer(buf, dtype="<f4", count=frames * channels)
                    chunk: FloatArray = data.reshape(frames, channels).T.copy()
                    np.nan_to_num(chunk, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
                    total += frames
                    yield chunk
                if got < len(buf):
                    break
        finally:
            stdout.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        errors_file.seek(0)
        errors = errors_file.read().decode("utf-8", "replace").strip()
    if proc.returncode != 0 and total == 0:
        raise DecodeError(f"{p}: not decodable as audio ({_last_line(errors, p)})")
    if total == 0:
        raise DecodeError(f"{p}: contains no audio samples")
    if proc.returncode != 0 or errors:
        log.warning("%s: decoded with errors: %s", p, _last_line(errors, p))
