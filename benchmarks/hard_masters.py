"""Hard music for the mix benchmark: the loudest and quietest real masters we can get.

segue is judged on music it has never seen, much of it louder and brighter than the
game soundtracks the other benchmarks use. Three kinds, all built under
``~/.cache/segue/bench`` (``SEGUE_BENCH_CACHE``):

- **loud**: Debian's loudest real masters (integrated loudness −8 to −12 LUFS, true
  peaks up to +3 dBTP): Colobot's electronic and rock pieces, Warzone 2100's
  soundtrack, Wesnoth's loudest battle themes (all GPL; ``colobot-common-sounds``,
  ``warzone2100-music``, ``wesnoth-1.16-music``).
- **quiet**: dynamic masters at −19 to −24 LUFS (Colobot's ambient pieces, Wesnoth's
  orchestral ones, Planet Blupi), which need many dB of gain and so push the
  limiter hardest.
- **war**: "loudness war" masters made from real music: a bright treble shelf
  (+6 dB above 5 kHz), then driven into a soft clipper and a hard clip at −0.1 dBFS
  until they read −8 LUFS, like the hottest modern pop and electronic releases.

Loudness figures are ffmpeg's ``ebur128`` on each whole file (2026-12-01).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
from scipy.signal import sosfilt

CACHE = Path(os.environ.get("SEGUE_BENCH_CACHE", Path.home() / ".cache" / "segue" / "bench"))
SR = 44100

COLOBOT = ("colobot-common-sounds", "usr/share/games/colobot/music")
WARZONE = ("warzone2100-music", "usr/share/games/warzone2100/music/albums")
WESNOTH = ("wesnoth-1.16-music", "usr/share/games/wesnoth/1.16/data/core/music")
BLUPI = ("planetblupi-music-ogg", "usr/share/planetblupi/music")

#: (package, folder, file): the loudest real masters in the packages we fetch.
LOUD = [
    (*COLOBOT, "Quite.ogg"),  # −8.1 LUFS, +0.9 dBTP
    (*COLOBOT, "Humanitarian.ogg"),  # −9.2, +1.7
    (*COLOBOT, "Infinite.ogg"),  # −9.3, +1.3
    (*COLOBOT, "Prototype.ogg"),  # −9.4, +1.5
    (*WESNOTH, "vengeful.ogg"),  # −9.9, +0.9
    (*COLOBOT, "Constructive.ogg"),  # −10.6, +2.1
    (*WARZONE, "aftermath_soundtrack/track17.opus"),  # −10.8, +3.0
    (*WESNOTH, "frantic.ogg"),  # −11.6, +1.8
    (*WARZONE, "aftermath_soundtrack/track22.opus"),  # −11.8, +2.3
]
#: The quietest, most dynamic ones.
QUIET = [
    (*COLOBOT, "music009.ogg"),  # −24.1 LUFS, LRA 13.9
    (*COLOBOT, "music002.ogg"),  # −23.2, LRA 9.5
    (*COLOBOT, "music008.ogg"),  # −20.7, LRA 15.8
    (*WESNOTH, "underground.ogg"),  # −20.5
    (*COLOBOT, "music007.ogg"),  # −20.0, LRA 14.2
    (*WARZONE, "original_soundtrack/track1.opus"),  # −19.6
]
#: Sources of the loudness-war masters (other genres: ambient electronic, orchestral).
WAR_SOURCES = [
    ("singularity-music", "usr/share/games/singularity/music", "Through Space.ogg"),
    (*WESNOTH, "battle.ogg"),
    (*WARZONE, "legacy_soundtrack/track9.opus"),
]


def _fetched(items: list[tuple[str, str, str]]) -> list[Path]:
    from debian_music import fetch

    return [fetch(package) / folder / name for package, folder, name in items]


def loud() -> list[Path]:
    """Debian's loudest real masters (fetched on first use)."""
    return _fetched(LOUD)


def quiet() -> list[Path]:
    """Debian's quietest, most dynamic real masters."""
    return _fetched(QUIET)


def war() -> list[Path]:
    """Loudness-war masters made from real music (built on first use)."""
    out = []
    for src in _fetched(WAR_SOURCES):
        target = CACHE / "war" / f"war-{src.stem.replace(' ', '_')}.flac"
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            make_loudness_war(src, target)
        out.append(target)
    return out


def _decode(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "2",
                          "-ar", str(SR), "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 2).T.astype(np.float64)


def high_shelf(gain_db: float, freq_hz: float, sr: int) -> np.ndarray:
    """An RBJ cookbook high-shelf biquad (slope 1) as one SOS row."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * freq_hz / sr
    alpha = np.sin(w) / 2 * np.sqrt(2)
    cos, sq = np.cos(w), 2 * np.sqrt(a) * alpha
    b0, b1, b2 = a * ((a + 1) + (a - 1) * cos + sq), -2 * a * ((a - 1) + (a + 1) * cos), \
        a * ((a + 1) + (a - 1) * cos - sq)
    a0, a1, a2 = (a + 1) - (a - 1) * cos + sq, 2 * ((a - 1) - (a + 1) * cos), \
        (a + 1) - (a - 1) * cos - sq
    return np.array([[b0 / a0, b1 / a0, b2 / a0, 1.0, a1 / a0, a2 / a0]])


def _crush(x: np.ndarray, drive_db: float) -> np.ndarray:
    """Soft clip (tanh) then a hard clip at −0.1 dBFS, after ``drive_db`` of gain."""
    ceiling = 10 ** (-0.1 / 20)
    y = np.tanh(x * 10 ** (drive_db / 20) / ceiling) * ceiling * 1.1
    return np.clip(y, -ceiling, ceiling)


def make_loudness_war(src: Path, out: Path, *, target_lufs: float = -8.0) -> None:
    """Write a loudness-war master of ``src`` to ``out`` (FLAC, 24 bit).

    Bright (+6 dB shelf above 5 kHz), then driven until it reads ``target_lufs``
    (within 0.2 LU), soft-clipped and hard-clipped at −0.1 dBFS.
    """
    import pyloudnorm

    x = sosfilt(high_shelf(6.0, 5000.0, SR), _decode(src), axis=1)
    meter = pyloudnorm.Meter(SR)
    drive = target_lufs - meter.integrated_loudness(x.T)
    for _ in range(8):
        y = _crush(x, drive)
        err = target_lufs - meter.integrated_loudness(y.T)
        if abs(err) < 0.2:
            break
        drive += 1.5 * err  # clipping gives back less than it is given
    pcm = y.T.astype("<f4").tobytes()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(SR), "-ac", "2",
                    "-i", "pipe:0", "-c:a", "flac", "-sample_fmt", "s32", str(out)],
                   input=pcm, check=True)
