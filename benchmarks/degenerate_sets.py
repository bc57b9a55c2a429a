"""Material without a pulse or a tonal centre, whose tempo and key confidence must be low.

A 220 Hz sine, white and pink noise (ffmpeg ``anoisesrc``), a drone (sawtooth A1 + E2,
breathing slowly) and espeak-ng reading prose in three voices; 60 s each (speech as
long as its text), 44.1 kHz stereo FLAC under ``~/.cache/segue/bench/degenerate``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis_sets import Item, cache_dir
from vocal_sets import PROSE

SR = 44100
SECONDS = 60.0
LAVFI = {
    "sine-220hz": "sine=frequency=220",
    "white-noise": "anoisesrc=color=white:amplitude=0.3",
    "pink-noise": "anoisesrc=color=pink:amplitude=0.3",
}
SPEAKERS = ("en", "de", "fr")


def _drone(path: Path) -> None:
    t = np.arange(round(SECONDS * SR)) / SR
    saw = sum(np.sin(2 * np.pi * 55.0 * h * t) / h + 0.7 * np.sin(2 * np.pi * 82.5 * h * t) / h
              for h in range(1, 16))
    y = saw * (1.0 + 0.2 * np.sin(2 * np.pi * 0.07 * t))
    y = 0.3 * y / np.abs(y).max()
    sf.write(path, np.stack([y, y], axis=1).astype(np.float32), SR)


def degenerate_set() -> list[Item]:
    """The files (built once); no truth beyond "no tempo, no key"."""
    out = cache_dir() / "degenerate"
    out.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    for name, graph in LAVFI.items():
        path = out / f"{name}.flac"
        if not path.exists():
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                            f"{graph}:duration={SECONDS}", "-ac", "2", "-ar", str(SR), str(path)],
                           check=True)
        items.append(Item(path=str(path), name=name))
    drone = out / "drone-a1-e2.flac"
    if not drone.exists():
        _drone(drone)
    items.append(Item(path=str(drone), name="drone"))
    for voice in SPEAKERS:
        path = out / f"speech-{voice}.flac"
        if not path.exists():
            wav = out / f"speech-{voice}.wav"
            text = PROSE[voice]
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), f"{text} {text}"],
                           check=True, capture_output=True)
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-ac", "2",
                            "-ar", str(SR), str(path)], check=True)
            wav.unlink()
        items.append(Item(path=str(path), name=f"speech ({voice})"))
    return items


if __name__ == "__main__":
    print("\n".join(i.path for i in degenerate_set()))
