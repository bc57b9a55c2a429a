"""Rebuild the demo music excerpts in ``audio_samples/`` from free-licensed Debian packages.

The excerpts are cut from two CC BY-SA 3.0 packages, fetched (never installed) with
:mod:`debian_music`:

- ``singularity-music``: the Endgame: Singularity soundtrack by Max McCracken;
- ``fretsonfire-songs-muldjord``: four metal songs by El Senator of Muldjord, shipped as
  stems for Frets on Fire (``song.ogg`` without the lead guitar, ``guitar.ogg``); the two
  stems are summed, so each excerpt is the complete song.

Every excerpt starts at the song's start (a DJ talks over the intro), is 55-70 s long and
fades out over 3 s at the cut (an excerpt starting later in a song would also get a 1 s
fade-in). Processing, all in one ffmpeg filter graph per file: resample to 44.1 kHz ->
sum stems -> gain -> peak limiter at -1 dBFS (delay-compensated) -> sample-exact cut ->
fades -> Ogg Vorbis (libvorbis, quality 2), with Vorbis comments
for title, artist, album, genre, date, copyright and license. ``CREDITS.md`` and copies of
the packages' Debian copyright files (which contain the license text) are written next to
the excerpts.

The excerpt table below is the single source of truth; change it and rerun to rebuild.
Output is bit-identical for the same package versions and ffmpeg/libvorbis build
(``-fflags +bitexact``); other builds give perceptually identical files.

Usage (from the repository root)::

    .venv/bin/python benchmarks/make_audio_samples.py --out audio_samples
    .venv/bin/python benchmarks/make_audio_samples.py --out /tmp/x --only muldjord-chaos-god.ogg
    .venv/bin/python benchmarks/make_audio_samples.py --cache-dir /tmp/debs   # reuse downloads

Requires ``ffmpeg`` (with libvorbis) and, for the first run, ``apt-get``/``dpkg``.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from debian_music import DebianFetchError, fetch, fetched_version

logger = logging.getLogger(__name__)

CC_BY_SA_30 = "CC BY-SA 3.0"
CC_BY_SA_30_URL = "https://creativecommons.org/licenses/by-sa/3.0/"
CC_BY_SA_30_NAME = "Creative Commons Attribution-ShareAlike 3.0 Unported"

SAMPLE_RATE = 44100
VORBIS_QUALITY = 2
FADE_IN_S = 1.0  # only when an excerpt does not start at the song's start
FADE_OUT_S = 3.0
LIMIT_DBFS = -1.0


@dataclass(frozen=True)
class Source:
    """A Debian package the excerpts are cut from, with its attribution."""

    package: str
    version: str  # the version the shipped excerpts were built from
    base: str  # directory inside the package that excerpt paths are relative to
    artist: str
    album: str
    copyright: str
    homepage: str
    attribution_files: tuple[str, ...]  # upstream attribution texts inside the package

    @property
    def copyright_file(self) -> str:
        """Path of the Debian copyright file inside the package."""
        return f"usr/share/doc/{self.package}/copyright"


@dataclass(frozen=True)
class Excerpt:
    """One shipped excerpt: where it comes from, how it is cut, and how it is tagged."""

    filename: str
    source: str  # key into SOURCES
    stems: tuple[str, ...]  # paths relative to Source.base; several are summed
    start: float  # seconds into the original
    duration: float  # seconds, including the fade-out
    title: str
    genre: str
    date: str | None
    gain_db: float  # applied after summing the stems, before the limiter
    character: str  # what it sounds like and why it was chosen (for CREDITS.md)

    @property
    def end(self) -> float:
        """End of the excerpt in the original, in seconds."""
        return self.start + self.duration


SOURCES: dict[str, Source] = {
    "singularity-music": Source(
        package="singularity-music",
        version="007-2",
        base="usr/share/games/singularity/music",
        artist="Max McCracken",
        album="Endgame: Singularity soundtrack",
        copyright="Copyright (C) 2007-2008, 2012 Max McCracken",
        homepage="http://emhsoft.com/singularity/",
        attribution_files=("usr/share/doc/singularity-music/README",),
    ),
    "fretsonfire-songs-muldjord": Source(
        package="fretsonfire-songs-muldjord",
        version="2.dfsg-2.1",
        base="usr/share/games/fretsonfire/data/songs/muldjord",
        artist="Muldjord",
        album="Songs by Muldjord",
        copyright="Copyright (c) 2009 El Senator (Muldjord)",
        homepage="http://www.muldjord.com/",
        attribution_files=("usr/share/games/fretsonfire/data/songs/muldjord/chaos_god/readme.txt",),
    ),
}

_SING = "singularity-music"
_MULD = "fretsonfire-songs-muldjord"

# Tempo/key/loudness notes are rough measurements (librosa beat tracker, chroma key
# profile, RMS of the excerpt); the Muldjord tempos are from the songs' notes.mid charts.
EXCERPTS: tuple[Excerpt, ...] = (
    Excerpt(
        filename="mccracken-nebula.ogg",
        source=_SING,
        stems=("Nebula.ogg",),
        start=0.0,
        duration=70.0,
        title="Nebula",
        genre="Ambient",
        date=None,
        gain_db=0.0,
        character="calm; ~19 s quiet, sparse intro, then a soft ~99 BPM groove; "
        "D (mode ambiguous); the quietest excerpt (-19 LUFS)",
    ),
    Excerpt(
        filename="mccracken-awakening.ogg",
        source=_SING,
        stems=("Awakening.ogg",),
        start=0.0,
        duration=60.0,
        title="Awakening",
        genre="Electronic",
        date=None,
        gain_db=0.0,
        character="dark, bass-heavy pulse swelling every ~4 s (2 bars) from the first "
        "second; ~117 BPM; low timbre; key unclear (D-ish)",
    ),
    Excerpt(
        filename="mccracken-aberrations.ogg",
        source=_SING,
        stems=("Aberrations.ogg",),
        start=0.0,
        duration=66.0,
        title="Aberrations",
        genre="Electronic",
        date=None,
        gain_db=0.0,
        character="bright (high spectral centroid); sparse, bass-less intro for ~20 s, "
        "beat fills in after ~30 s; ~136 BPM; C major (clear)",
    ),
    Excerpt(
        filename="mccracken-through-space.ogg",
        source=_SING,
        stems=("Through Space.ogg",),
        start=0.0,
        duration=58.0,
        title="Through Space",
        genre="Electronic",
        date=None,
        gain_db=0.0,
        character="driving and busy (dense onsets) at a steady level from the start; ~152 BPM; "
        "E minor (clear)",
    ),
    Excerpt(
        filename="muldjord-chaos-god.ogg",
        source=_MULD,
        stems=("chaos_god/song.ogg", "chaos_god/guitar.ogg"),
        start=0.0,
        duration=62.0,
        title="Chaos God",
        genre="Metal",
        date="2009",
        gain_db=-6.0,
        character="metal; ~9.5 s quiet intro (about 10 dB down) before the band and guitars "
        "come in; 170 BPM charted; F# tonal centre (clear)",
    ),
    Excerpt(
        filename="muldjord-armygeddon.ogg",
        source=_MULD,
        stems=("armygeddon/song.ogg", "armygeddon/guitar.ogg"),
        start=0.0,
        duration=58.0,
        title="Armygeddon",
        genre="Metal",
        date="2009",
        gain_db=-6.0,
        character="metal; ~5.5 s solo-guitar intro, then the band (with a 2 s stop at ~9 s); "
        "170 BPM charted like Chaos God: a near-twin to pair or to keep apart; key unclear",
    ),
    Excerpt(
        filename="muldjord-internal-degeneration.ogg",
        source=_MULD,
        stems=("internal_degeneration/song.ogg", "internal_degeneration/guitar.ogg"),
        start=0.0,
        duration=60.0,
        title="Internal Degeneration",
        genre="Metal",
        date="2009",
        gain_db=-6.0,
        character="metal; ~1.2 s of silence, then a riff; the full band hits at ~22.5 s; "
        "190 BPM charted (felt half-time ~95); E minor/G area (weak); the loudest (-12 LUFS)",
    ),
    Excerpt(
        filename="muldjord-mutilated-mime.ogg",
        source=_MULD,
        stems=("mutilated_mime/song.ogg", "mutilated_mime/guitar.ogg"),
        start=0.0,
        duration=56.0,
        title="Mutilated Mime",
        genre="Metal",
        date="2009",
        gain_db=-6.0,
        character="metal; full-on from the first beat, no intro, short break at ~14 s; "
        "180 BPM charted (felt half-time ~90); A major/C# minor area (weak)",
    ),
)


class BuildError(RuntimeError):
    """Raised when an excerpt cannot be built; the message names the excerpt."""


def _fmt_time(seconds: float) -> str:
    """Format seconds as ``m:ss.s``."""
    minutes, secs = divmod(seconds, 60.0)
    return f"{int(minutes)}:{secs:04.1f}"


def vorbis_tags(excerpt: Excerpt, source: Source) -> dict[str, str]:
    """Return the Vorbis comments written into an excerpt."""
    mixed = " (stems mixed)" if len(excerpt.stems) > 1 else ""
    fades = "faded out" if excerpt.start == 0 else "faded in and out"
    tags = {
        "TITLE": excerpt.title,
        "ARTIST": source.artist,
        "ALBUM": source.album,
        "GENRE": excerpt.genre,
        "COPYRIGHT": source.copyright,
        "LICENSE": f"{CC_BY_SA_30} {CC_BY_SA_30_URL}",
        "CONTACT": source.homepage,
        "COMMENT": (
            f"Excerpt {_fmt_time(excerpt.start)}-{_fmt_time(excerpt.end)} of the original"
            f"{mixed}, {fades}; an adaptation made for the segue demo. Source: Debian "
            f"package {source.package} {source.version}. Licensed {CC_BY_SA_30}."
        ),
    }
    if excerpt.date:
        tags["DATE"] = excerpt.date
    return tags


def filter_graph(excerpt: Excerpt) -> str:
    """Return the ffmpeg ``-filter_complex`` graph for an excerpt, ending in ``[out]``."""
    n = len(excerpt.stems)
    # Timestamps are rebuilt from sample counts (asetpts=N/SR/TB) after every step that may
    # shift them: ffmpeg's Ogg demuxer gives jittery frame timestamps for some of these
    # files, which would otherwise make amix and atrim drop or repeat a few samples.
    retimed = "asetpts=N/SR/TB"
    inputs = [f"[{i}:a]aresample={SAMPLE_RATE},{retimed}[s{i}]" for i in range(n)]
    stems = "".join(f"[s{i}]" for i in range(n))
    chain = [stems + (f"amix=inputs={n}:normalize=0:duration=longest" if n > 1 else "anull")]
    if excerpt.gain_db:
        chain.append(f"volume={excerpt.gain_db:g}dB")
    limit = 10 ** (LIMIT_DBFS / 20)
    chain.append(f"alimiter=limit={limit:.4f}:level=disabled:latency=1")
    chain.append(retimed)
    first = round(excerpt.start * SAMPLE_RATE)
    last = round(excerpt.end * SAMPLE_RATE)
    chain.append(f"atrim=start_sample={first}:end_sample={last}")
    chain.append(retimed)
    if excerpt.start > 0:
        chain.append(f"afade=t=in:st=0:d={FADE_IN_S:g}")
    chain.append(f"afade=t=out:st={excerpt.duration - FADE_OUT_S:g}:d={FADE_OUT_S:g}")
    return ";".join([*inputs, ",".join(chain) + "[out]"])


def ffmpeg_command(
    excerpt: Excerpt, source: Source, root: Path, output: Path, *, quality: int = VORBIS_QUALITY
) -> list[str]:
    """Return the ffmpeg command line that builds ``excerpt`` from the extraction ``root``."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    read_s = excerpt.end + 1.0  # decode only what the cut needs (atrim makes it exact)
    for stem in excerpt.stems:
        path = root / source.base / stem
        if not path.is_file():
            raise BuildError(f"{excerpt.filename}: source file missing: {path}")
        cmd += ["-t", f"{read_s:g}", "-i", str(path)]
    cmd += ["-filter_complex", filter_graph(excerpt), "-map", "[out]"]
    cmd += ["-map_metadata", "-1", "-map_chapters", "-1"]
    cmd += ["-ar", str(SAMPLE_RATE), "-ac", "2", "-c:a", "libvorbis", "-q:a", str(quality)]
    cmd += ["-fflags", "+bitexact", "-flags:a", "+bitexact"]
    for key, value in vorbis_tags(excerpt, source).items():
        cmd += ["-metadata", f"{key}={value}"]
    cmd += ["-f", "ogg", str(output)]
    return cmd


def _max_volume_db(path: Path) -> float:
    """Return the decoded sample peak of ``path`` in dBFS (ffmpeg volumedetect)."""
    proc = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-i",
            str(path),
            "-af",
            "volumedetect",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"max_volume:\s*(-?[\d.]+|-inf) dB", proc.stderr)
    if proc.returncode != 0 or match is None:
        raise BuildError(f"{path.name}: could not measure peak: {proc.stderr.strip()[-300:]}")
    return float(match.group(1))


def build_excerpt(
    excerpt: Excerpt, root: Path, out_dir: Path, *, quality: int = VORBIS_QUALITY
) -> Path:
    """Cut, mix, fade, encode and tag one excerpt into ``out_dir``; return the file path.

    ``root`` is the package extraction returned by :func:`debian_music.fetch`. The file is
    written atomically and its decoded peak is checked for clipping.
    """
    source = SOURCES[excerpt.source]
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / excerpt.filename
    partial = out_dir / f".{excerpt.filename}.partial"
    cmd = ffmpeg_command(excerpt, source, root, partial, quality=quality)
    logger.debug("%s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BuildError(f"{excerpt.filename}: ffmpeg failed: {proc.stderr.strip()[-500:]}")
    partial.replace(output)
    peak = _max_volume_db(output)
    if peak >= -0.1:
        logger.warning("%s: decoded peak %.1f dBFS, may clip", excerpt.filename, peak)
    logger.info(
        "built %s (%.0f s, %.0f kB, peak %.1f dBFS)",
        output,
        excerpt.duration,
        output.stat().st_size / 1000,
        peak,
    )
    return output


def credits_markdown(excerpts: Sequence[Excerpt], roots: dict[str, Path]) -> str:
    """Return the text of ``CREDITS.md`` for ``excerpts`` (attribution texts read from roots)."""
    lines = [
        "# Credits for the demo music excerpts",
        "",
        "The audio files in this directory are short excerpts of music released under the",
        f"[{CC_BY_SA_30_NAME} license ({CC_BY_SA_30})]({CC_BY_SA_30_URL}).",
        "They are **adaptations** of the original works: each is cut from the original",
        "recording, the Muldjord songs' two stems (`song.ogg` and `guitar.ogg`) are mixed",
        "together at -6 dB each, peaks are limited to -1 dBFS, the cut is faded out over",
        f"{FADE_OUT_S:g} s, and the result is resampled to 44.1 kHz stereo and re-encoded as",
        f"Ogg Vorbis (quality {VORBIS_QUALITY}). The adaptations are distributed under the same",
        f"license, {CC_BY_SA_30_NAME} ({CC_BY_SA_30_URL}). They carry no endorsement by the",
        "original authors.",
        "",
        "They were made with `benchmarks/make_audio_samples.py`, which downloads the Debian",
        "packages named below with `apt-get download`, unpacks them with `dpkg -x` and rebuilds",
        "these exact files with ffmpeg. The full license text and the upstream copyright",
        "statements are in the packages' Debian copyright files, copied here as",
        "`copyright.<package>.txt` (the license text that Muldjord's readme calls",
        "`license.txt` is in `copyright.fretsonfire-songs-muldjord.txt`).",
        "",
        "Excerpt times are in seconds of the original recording, sample-exact. The",
        '"character" notes are rough machine measurements (beat tracker, chroma key',
        "profile, RMS level; the Muldjord tempos are from the songs' `notes.mid` charts),",
        "given to explain why each excerpt was chosen.",
        "",
        "## Files",
        "",
    ]
    for ex in excerpts:
        src = SOURCES[ex.source]
        version = fetched_version(roots[ex.source])
        stems = ", ".join(f"`/{src.base}/{s}`" for s in ex.stems)
        mixed = " (both stems mixed)" if len(ex.stems) > 1 else ""
        lines += [
            f"### `{ex.filename}`",
            "",
            f"- Title: {ex.title}",
            f"- Artist: {src.artist}"
            + (" (composed by El Senator of Muldjord)" if src.artist == "Muldjord" else ""),
            f"- Album/collection: {src.album}",
            f"- {src.copyright}",
            f"- Source: Debian package `{src.package}` version `{version}`, {stems}{mixed}",
            f"- Excerpt: {ex.start:.1f} s to {ex.end:.1f} s of the original "
            f"({_fmt_time(ex.start)}-{_fmt_time(ex.end)}, {ex.duration:g} s), "
            + ("faded out" if ex.start == 0 else "faded in and out"),
            f"- License: {CC_BY_SA_30_NAME} ({CC_BY_SA_30}), {CC_BY_SA_30_URL}",
            f"- Character: {ex.character}",
            "",
        ]
    lines += ["## Attribution texts from the packages", ""]
    for key in dict.fromkeys(ex.source for ex in excerpts):
        src = SOURCES[key]
        for rel in src.attribution_files:
            text = (roots[key] / rel).read_text(encoding="utf-8", errors="replace").strip()
            lines += [f"From `{src.package}`, `/{rel}`:", "", "```text", text, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def build_all(
    out_dir: Path,
    *,
    cache_dir: Path | None = None,
    only: Iterable[str] | None = None,
    quality: int = VORBIS_QUALITY,
) -> list[Path]:
    """Fetch the packages and build the excerpts (all, or the file names in ``only``).

    Also writes ``CREDITS.md`` and ``copyright.<package>.txt`` when every excerpt is
    built. Returns the paths of the built audio files.
    """
    wanted = set(only) if only else None
    excerpts = [e for e in EXCERPTS if wanted is None or e.filename in wanted]
    if wanted is not None and len(excerpts) != len(wanted):
        known = ", ".join(e.filename for e in EXCERPTS)
        unknown = ", ".join(sorted(wanted - {e.filename for e in excerpts}))
        raise BuildError(f"unknown excerpt(s): {unknown}; known: {known}")

    roots: dict[str, Path] = {}
    for key in dict.fromkeys(e.source for e in excerpts):
        src = SOURCES[key]
        roots[key] = fetch(src.package, cache_dir)
        got = fetched_version(roots[key])
        if got != src.version:
            logger.warning(
                "%s: got version %s, the shipped excerpts were built from %s; "
                "the output may differ",
                src.package,
                got,
                src.version,
            )

    built = [build_excerpt(e, roots[e.source], out_dir, quality=quality) for e in excerpts]
    if wanted is None:
        (out_dir / "CREDITS.md").write_text(credits_markdown(excerpts, roots), encoding="utf-8")
        for key, root in roots.items():
            src = SOURCES[key]
            shutil.copyfile(root / src.copyright_file, out_dir / f"copyright.{src.package}.txt")
    total = sum(p.stat().st_size for p in built)
    logger.info("%d files, %.2f MB in %s", len(built), total / 1e6, out_dir)
    return built


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("audio_samples"), help="output dir")
    parser.add_argument("--cache-dir", type=Path, default=None, help="Debian download cache")
    parser.add_argument(
        "--only", nargs="+", metavar="FILE", help="build only these excerpt file names"
    )
    parser.add_argument("--quality", type=int, default=VORBIS_QUALITY, help="Vorbis -q:a")
    parser.add_argument("--list", action="store_true", help="print the excerpt table and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log ffmpeg commands")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    if args.list:
        for e in EXCERPTS:
            print(f"{e.filename:38s} {e.start:6.1f} {e.end:6.1f}  {e.title} ({e.source})")
        return 0
    try:
        build_all(args.out, cache_dir=args.cache_dir, only=args.only, quality=args.quality)
    except (BuildError, DebianFetchError) as exc:
        logger.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
