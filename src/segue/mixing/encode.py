"""File sinks: PCM blocks piped into ffmpeg, written atomically.

The mix is encoded into a hidden temporary file beside the output and renamed
over the output name only when encoding finished, so an interrupted render never
leaves a half-written file under the output name.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, cast

from segue.analysis.decode import ffmpeg_binary
from segue.errors import MixError, OutputError
from segue.mixing.codec_guard import CodecGuard, guard_codec
from segue.mixing.source import widen_pipe
from segue.models import FloatArray
from segue.text import readable

#: ffmpeg encoder arguments per output extension.
CODECS: dict[str, list[str]] = {
    ".mp3": ["-c:a", "libmp3lame", "-q:a", "2", "-f", "mp3"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "5", "-f", "ogg"],
    ".opus": ["-c:a", "libopus", "-b:a", "160k", "-f", "opus"],
    ".flac": ["-c:a", "flac", "-f", "flac"],
    ".wav": ["-c:a", "pcm_s16le", "-f", "wav"],
}

#: Extra limiter headroom per lossy format. None is needed: the sinks run a
#: :class:`~segue.mixing.codec_guard.CodecGuard` that measures what the encoder does
#: to this programme and turns down only where its decoded peaks would pass the
#: ceiling (a fixed 0.6 / 0.8 dB was not enough on bright, loud masters: +0.1 dBTP).
CODEC_HEADROOM_DB = {".mp3": 0.0, ".ogg": 0.0, ".opus": 0.0}
#: The decoded true-peak ceiling the sinks keep when they are not told another.
DEFAULT_CEILING_DBFS = -1.0


def limiter_ceiling_dbfs(out: Path, ceiling_dbfs: float) -> float:
    """The limiter ceiling that keeps ``out``'s decoded true peak at ``ceiling_dbfs``."""
    return ceiling_dbfs - CODEC_HEADROOM_DB.get(out.suffix.lower(), 0.0)


def make_guard(encode_args: list[str], *, sr: int, ceiling_dbfs: float,
               channels: int = 2, hold_s: float = 1.0) -> CodecGuard | None:  # fmt: skip
    """A codec guard for ffmpeg ``encode_args``, or ``None`` for a lossless format.

    ``hold_s`` is how far its output lags (see :class:`CodecGuard`); a live stream
    keeps it short, since every second of it delays what listeners hear.
    """
    codec = guard_codec(encode_args)
    if codec is None:
        return None
    return CodecGuard(codec, sr=sr, ceiling_dbfs=ceiling_dbfs, channels=channels,
                      hold_s=hold_s)  # fmt: skip


#: Sidecar files written beside the mix: suffix → what it holds.
SIDECARS = {".json": "timeline", ".vtt": "transcript", ".cue": "cue sheet", ".png": "plot"}


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, for a moment)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def publish(tmp: Path, target: Path) -> None:
    """Move a finished temporary file into place with ordinary permissions.

    ``mkstemp`` creates files readable by their owner only; outputs should get the
    mode any new file gets (0666 less the umask), like ``open()`` would give.
    """
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, target)


def sidecar(out: Path, suffix: str) -> Path:
    """The artifact beside ``out`` with the same stem: ``out/demo.mp3`` → ``out/demo.json``."""
    return out.with_suffix(suffix)


#: Below this much free space in the output folder a render is refused before it starts.
MIN_FREE_BYTES = 1 << 20


def check_output_path(out: Path, inputs: Iterable[Path]) -> None:
    """Refuse an output that cannot be written or would overwrite an input.

    Checked before any work starts: the extension, that the mix and its
    sidecars are files (not folders or devices) and none is one of the input
    files, and that the folder (created if missing) really takes a new file:
    a probe file is created and removed there, since permission bits say
    nothing for root and nothing at all on ``/proc``, ``/sys``, read-only
    mounts or immutable folders. A folder with less than
    :data:`MIN_FREE_BYTES` free is refused too.

    Raises
    ------
    OutputError
        Naming the path and what is wrong with it.

    """
    if out.name in ("", ".", ".."):  # "", "." and ".." name a folder: no sidecar names either
        raise OutputError(f"{out}: is a folder, expected a file name such as mix.mp3")
    targets = [out] + [sidecar(out, s) for s in SIDECARS]
    for target in targets:
        _check_not_special(target)
    ext = out.suffix.lower()
    if ext not in CODECS:
        raise OutputError(
            f"{out}: unsupported output format {ext or '(none)'}; use one of {', '.join(CODECS)}"
        )
    resolved_inputs = {p.resolve() for p in inputs}
    for target in targets:
        if target.resolve() in resolved_inputs:
            raise OutputError(f"{target}: is one of the inputs; refusing to overwrite it")
    folder = out.parent if str(out.parent) else Path(".")
    _make_folder(out, folder)
    _probe_folder(out, folder)
    for target in targets:
        if target.exists() and not os.access(target, os.W_OK):
            raise OutputError(f"{target}: exists and is not writable")


def _check_not_special(target: Path) -> None:
    """Refuse a target that exists as something other than a regular file."""
    if target.is_dir():
        raise OutputError(f"{target}: is a folder, expected a file name")
    if target.exists() and not target.is_file():
        raise OutputError(f"{target}: is a device or other special file, not a regular file")


def _make_folder(out: Path, folder: Path) -> None:
    """Create ``folder`` (and its parents); a path component that is a file is named."""
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"{out}: {parent} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create folder {folder} ({exc.strerror})") from exc


def _probe_folder(out: Path, folder: Path) -> None:
    """Create and remove a file in ``folder``: the only test that answers for every case."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".segue-probe.", dir=folder)
    except OSError as exc:
        raise OutputError(
            f"{out}: cannot create files in {folder} ({exc.strerror or exc})"
        ) from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    try:
        stats = os.statvfs(folder)
    except OSError:
        return  # no statistics (an odd filesystem): the encoder will say if it fills up
    free = stats.f_bavail * stats.f_frsize
    if free < MIN_FREE_BYTES:
        raise OutputError(f"{out}: no space left in {folder} ({free // 1024} KiB free)")


class FileSink:
    """Encode float32 stereo blocks to ``out`` with ffmpeg; atomic on success.

    Lossy formats pass through a :class:`~segue.mixing.codec_guard.CodecGuard`
    first, so the decoded file's true peak stays under ``ceiling_dbfs``
    (``guard=False`` leaves it out, to measure what it costs).
    """

    def __init__(
        self,
        out: Path,
        *,
        sr: int,
        channels: int = 2,
        before_commit: Callable[[Path], None] | None = None,
        ceiling_dbfs: float = DEFAULT_CEILING_DBFS,
        guard: bool = True,
    ) -> None:
        ext = out.suffix.lower()
        self.before_commit = before_commit
        if ext not in CODECS:
            raise OutputError(f"{out}: unsupported output format {ext}")
        self.out = out
        fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=f".partial{ext}", dir=out.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self._guard: CodecGuard | None = None
        try:  # an interrupt (Ctrl-C, SIGTERM) from here on must not leave the partial file
            cmd = [
                ffmpeg_binary(), "-nostdin", "-hide_banner", "-v", "error", "-y",
                "-f", "f32le", "-ar", str(sr), "-ac", str(channels), "-i", "pipe:0",
                *CODECS[ext], str(self.tmp),
            ]  # fmt: skip
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            widen_pipe(self._proc.stdin)
            self._guard = make_guard(CODECS[ext], sr=sr, ceiling_dbfs=ceiling_dbfs,
                                     channels=channels) if guard else None
        except BaseException:
            if hasattr(self, "_proc"):
                self.abort()
            else:
                self.tmp.unlink(missing_ok=True)
            raise

    def write(self, block: FloatArray) -> None:
        """Append a ``(channels, n)`` block."""
        self._write(block if self._guard is None else self._guard.process(block))

    def _write(self, block: FloatArray) -> None:
        assert self._proc.stdin is not None
        if block.shape[1] == 0:
            return
        try:
            self._proc.stdin.write(block.T.astype("<f4").tobytes())
        except BrokenPipeError as exc:
            raise MixError(f"{self.out}: encoder stopped: {self._stderr()}") from exc

    def close(self) -> None:
        """Finish encoding and move the file into place."""
        assert self._proc.stdin is not None
        if self._guard is not None:
            try:
                self._write(self._guard.flush())
            except BaseException:
                self.abort()
                raise
        self._proc.stdin.close()
        code = self._proc.wait()
        if code != 0:
            err = self._stderr()
            self.abort()
            raise MixError(f"{self.out}: encoding failed ({err})")
        if self.before_commit is not None:
            try:
                self.before_commit(self.tmp)
            except BaseException:
                self.abort()
                raise
        publish(self.tmp, self.out)

    def abort(self) -> None:
        """Stop the encoder and remove the partial file."""
        guard = getattr(self, "_guard", None)
        if guard is not None:
            guard.close()
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    def _stderr(self) -> str:
        assert self._proc.stderr is not None
        text = self._proc.stderr.read().decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else "no message"

    def __enter__(self) -> FileSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (UTF-8).

    A file name that is not UTF-8, quoted in ``text``, is written as Latin-1 read
    (:func:`segue.text.readable`).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(readable(text))
        publish(Path(tmp), path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


#: Stream containers by format name: ffmpeg arguments and the HTTP media type.
STREAM_FORMATS: dict[str, tuple[list[str], str]] = {
    "mp3": (["-c:a", "libmp3lame", "-b:a", "192k", "-f", "mp3"], "audio/mpeg"),
    "ogg": (["-c:a", "libvorbis", "-q:a", "5", "-f", "ogg"], "audio/ogg"),
    "opus": (["-c:a", "libopus", "-b:a", "128k", "-f", "ogg"], "audio/ogg"),
}


def encode_stream(
    blocks: Iterable[FloatArray], *, sr: int, fmt: str = "mp3", channels: int = 2,
    chunk_bytes: int = 16384, ceiling_dbfs: float = DEFAULT_CEILING_DBFS,
) -> Iterator[bytes]:  # fmt: skip
    """Encode PCM blocks on the fly and yield the encoded bytes as they come.

    A feeder thread writes PCM into ffmpeg while this generator reads what it
    has encoded, so the stream starts after the first block, never after the
    whole mix. Closing the generator early stops the encoder. Every stream
    format is lossy, so the blocks pass through a codec guard first (the decoded
    stream's true peak stays under ``ceiling_dbfs``); it delays the stream by
    about 1 s of audio.
    """
    if fmt not in STREAM_FORMATS:
        known = ", ".join(STREAM_FORMATS)
        raise OutputError(f"unsupported stream format {fmt!r}; use one of {known}")
    proc = _stream_encoder(STREAM_FORMATS[fmt][0], sr=sr, channels=channels)
    assert proc.stdin is not None and proc.stdout is not None
    # Unbuffered pipes are BufferedReaders; read1 returns whatever is ready.
    stdout = cast(io.BufferedReader, proc.stdout)
    failure: list[BaseException] = []
    guard = make_guard(STREAM_FORMATS[fmt][0], sr=sr, ceiling_dbfs=ceiling_dbfs,
                       channels=channels)
    feeder = threading.Thread(target=_feed, args=(blocks, guard, proc.stdin, failure),
                              name="segue-stream-feed", daemon=True)
    feeder.start()
    try:
        while True:
            data = stdout.read1(chunk_bytes)
            if not data:
                break
            yield data
        if failure:
            raise MixError(f"stream stopped: {failure[0]}") from failure[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        stdout.close()
        if guard is not None:  # a feeder still inside it gets a broken pipe and stops
            guard.close()


def _stream_encoder(codec_args: Sequence[str], *, sr: int, channels: int
                    ) -> subprocess.Popen[bytes]:
    """An ffmpeg reading float PCM on stdin and writing the encoded stream on stdout."""
    cmd = [
        ffmpeg_binary(), "-nostdin", "-hide_banner", "-v", "error",
        "-f", "f32le", "-ar", str(sr), "-ac", str(channels), "-i", "pipe:0",
        *codec_args, "-flush_packets", "1", "pipe:1",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdin is not None
    widen_pipe(proc.stdin)
    return proc


def _feed(blocks: Iterable[FloatArray], guard: CodecGuard | None, stdin: IO[bytes],
          failure: list[BaseException]) -> None:
    """Write the (guarded) blocks into the encoder; an error lands in ``failure``."""
    try:
        for block in blocks:
            stdin.write(_guarded(guard, block).T.astype("<f4").tobytes())
        if guard is not None:
            stdin.write(guard.flush().T.astype("<f4").tobytes())
    except (BrokenPipeError, ValueError):
        pass  # the reader went away: nothing left to do
    except BaseException as exc:  # surfaced to the reader
        failure.append(exc)
    finally:
        with contextlib.suppress(OSError):
            stdin.close()


def _guarded(guard: CodecGuard | None, block: FloatArray) -> FloatArray:
    return block if guard is None else guard.process(block)
