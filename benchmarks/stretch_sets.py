"""Real songs time-stretched (pitch kept), for cue, tempo and key stability.

The same recording at 0.85× and 1.15× tempo must give the same key, a BPM scaled by
the factor, and cue points (first and last sound, intro end, outro start) at the
original's times divided by the factor, within one bar. Sources, all free-licensed
music the benchmarks already use:

- the eight excerpts in ``audio_samples/`` (McCracken's *Endgame: Singularity*
  soundtrack, Muldjord's Frets on Fire songs);
- the eight Frets on Fire songs whole (Debian ``fretsonfire-songs-muldjord`` and
  ``-sectoid``, stems mixed, as in the real tempo set);
- the sixteen tracks of Debian's ``singularity-music`` and the music of
  ``colobot-common-sounds`` (electronic, loud masters).

Each is stretched by ffmpeg's ``atempo`` (WSOLA) and the excerpts and Frets on Fire
songs also by the ``rubberband`` filter (phase vocoder, pitch kept) when ffmpeg has it
(it is slow: the soundtracks are left to ``atempo``), and written as Ogg Vorbis (q6)
under ``~/.cache/segue/bench/stretch`` once.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis_sets import cache_dir, real_tempo_set
from debian_music import fetch

log = logging.getLogger(__name__)

FACTORS = (0.85, 1.15)
SAMPLES = Path(__file__).resolve().parent.parent / "audio_samples"
#: Sources also stretched by rubberband (by name prefix).
RUBBERBAND_SOURCES = ("sample/", "fof/")
PACKAGES = {"singularity-music": "*.ogg", "colobot-common-sounds": "music/*.ogg"}


@dataclass(frozen=True)
class StretchItem:
    """A stretched copy of ``original``: ``factor`` × its tempo, made by ``engine``."""

    original: str
    path: str
    name: str
    factor: float
    engine: str


def has_rubberband() -> bool:
    """Whether this ffmpeg was built with the rubberband filter."""
    out = subprocess.run(["ffmpeg", "-hide_banner", "-filters"], capture_output=True,
                         text=True, check=False).stdout
    return any(line.split()[1:2] == ["rubberband"] for line in out.splitlines() if line.strip())


def sources() -> list[tuple[str, Path]]:
    """(name, path) of every original recording of the set."""
    found = [(f"sample/{p.stem}", p) for p in sorted(SAMPLES.glob("*.ogg"))]
    found += [(f"fof/{Path(i.path).stem.removesuffix('_x1.0')}", Path(i.path))
              for i in real_tempo_set(stretches=(1.0,))]
    for package, pattern in PACKAGES.items():
        root = fetch(package)
        for p in sorted(root.rglob(pattern)):
            found.append((f"{package.split('-')[0]}/{p.stem}", p))
    return found


def _stretch(src: Path, dst: Path, factor: float, engine: str) -> None:
    graph = (f"atempo={factor}" if engine == "atempo"
             else f"rubberband=tempo={factor}:pitchq=quality")
    tmp = dst.with_suffix(".tmp.ogg")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-af", graph,
                    "-c:a", "libvorbis", "-q:a", "6", str(tmp)], check=True)
    tmp.rename(dst)


def stretch_set(factors: tuple[float, ...] = FACTORS) -> list[StretchItem]:
    """Every source at every factor with every available engine (built once)."""
    out_dir = cache_dir() / "stretch"
    out_dir.mkdir(parents=True, exist_ok=True)
    engines = ["atempo", *(["rubberband"] if has_rubberband() else [])]
    items: list[StretchItem] = []
    for name, src in sources():
        slug = name.replace("/", "_").replace(" ", "_").lower()
        for engine in engines:
            if engine == "rubberband" and not name.startswith(RUBBERBAND_SOURCES):
                continue
            for factor in factors:
                dst = out_dir / f"{slug}_{engine}_x{factor:.2f}.ogg"
                if not dst.exists():
                    log.info("stretching %s ×%.2f (%s)", name, factor, engine)
                    _stretch(src, dst, factor, engine)
                items.append(StretchItem(original=str(src), path=str(dst), name=name,
                                         factor=factor, engine=engine))
    return items


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(f"{len(stretch_set())} stretched files")
