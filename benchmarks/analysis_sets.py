"""Benchmark sets for track analysis, each item with its known answer.

- **real tempo set**: the Frets on Fire songs of Debian's ``fretsonfire-songs-muldjord``
  and ``fretsonfire-songs-sectoid`` (fetched with ``apt-get download`` + ``dpkg -x``,
  never installed). Each song folder has ``song.ogg`` (band without lead guitar),
  ``guitar.ogg`` and ``notes.mid``, whose tempo event gives the truth. The two stems are
  mixed (−6 dB each) and time-stretched with ffmpeg's ``atempo`` (×0.8, ×0.9, ×1.1, ×1.2)
  for more known tempi: truth × factor.
- **synthetic tempo and cue set**: :mod:`synthetic` tracks (tests/synthetic.py) in
  several drum styles, with known tempo, intro end and outro start.
- **MIDI tempo set** (the octave decision's *training* set, disjoint from the real set):
  (a) grooves of MMA, Musical MIDI Accompaniment (Debian ``mma``, installed with apt-get
  when missing): 70 styles from its libraries (house, techno, trance, drum & bass,
  ambient, disco, funk, hip-hop, trip-hop, rock, punk, metal, ballads, blues, swing,
  bossa, tango, waltzes, a 6/8 march…) at two tempi each, drawn from the style's usual
  range, 60 s each; (b) the GPL MIDI songs of OpenTTD's openMSX (Debian
  ``openttd-openmsx``, fetched), first 90 s, the songs whose tempo holds for ≥ 90 % of
  their length. Both rendered by FluidSynth (FluidR3 GM), loudness-normalised (−16 LUFS).
  **Truth is the beat a listener taps, in beats per minute**: for MMA the tempo asked
  for, in the groove's own beat (a quarter note; the dotted quarter in the 12/8 and 6/8
  grooves that MMA writes with one beat per dotted quarter); styles that MMA writes in
  four but that are felt in two (its docs say "double the tempo": polka, samba,
  merengue, salsa, mambo, quickstep, ska, reggae) and grooves counted in eighths are
  left out, their tapped beat being ambiguous. For openMSX the MIDI tempo (quarter
  notes per minute; dotted quarters in 6/8, 9/8, 12/8). Planet Blupi's MIDI
  (``planetblupi-music-midi``) is not used: its files all carry a nominal tempo
  (mostly 120) and last 10–30 minutes, which suggests a conversion whose tempo events
  need not describe the beat; that could not be checked without listening.
- **key set**: MIDI chord progressions in known keys (24 keys, major and minor, several
  instruments and tempi) written with ``mido`` and rendered by FluidSynth with the
  FluidR3 General MIDI soundfont (Debian ``fluid-soundfont-gm``, fetched, not installed).
  FluidSynth itself is a program: it is installed with apt-get when missing.

Everything built is cached under ``~/.cache/segue/bench`` (``SEGUE_BENCH_CACHE``), so a
rerun only analyses.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np

from debian_music import fetch

log = logging.getLogger(__name__)

TEMPO_PACKAGES = ("fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid")
STRETCHES = (0.8, 0.9, 1.0, 1.1, 1.2)
SOUNDFONT_PACKAGE = "fluid-soundfont-gm"


@dataclass(frozen=True)
class Item:
    """One benchmark file and what is known about it."""

    path: str
    name: str
    bpm: float | None = None
    tonic: int | None = None
    mode: str | None = None
    intro_end_s: float | None = None
    outro_start_s: float | None = None
    bar_s: float | None = None


def cache_dir() -> Path:
    """Where built sets live: ``$SEGUE_BENCH_CACHE`` or ``~/.cache/segue/bench``."""
    env = os.environ.get("SEGUE_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "segue" / "bench"


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def midi_tempo_bpm(path: Path) -> float:
    """The tempo of a MIDI file's first tempo event (the charts have a single tempo)."""
    import mido

    for track in mido.MidiFile(str(path)).tracks:
        for msg in track:
            if msg.type == "set_tempo":
                return float(mido.tempo2bpm(msg.tempo))
    return 120.0


def real_tempo_set(stretches: tuple[float, ...] = STRETCHES) -> list[Item]:
    """The Frets on Fire songs, stems mixed, at every stretch factor (built once)."""
    out_dir = cache_dir() / "tempo-real"
    out_dir.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    for package in TEMPO_PACKAGES:
        root = fetch(package)
        for notes in sorted(root.rglob("notes.mid")):
            folder = notes.parent
            truth = midi_tempo_bpm(notes)
            slug = folder.name.lower().replace(" ", "_")
            for factor in stretches:
                path = out_dir / f"{slug}_x{factor:.1f}.ogg"
                if not path.exists():
                    stems = [folder / "song.ogg", folder / "guitar.ogg"]
                    inputs = [a for s in stems if s.exists() for a in ("-i", str(s))]
                    n = len(inputs) // 2
                    mix = "".join(f"[{i}:a]" for i in range(n))
                    graph = (f"{mix}amix=inputs={n}:normalize=0,volume=0.5,"
                             f"atempo={factor}[out]") if n > 1 else f"[0:a]atempo={factor}[out]"
                    tmp = path.with_suffix(".tmp.ogg")
                    _ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]",
                            "-c:a", "libvorbis", "-q:a", "4", str(tmp))
                    tmp.rename(path)
                items.append(Item(path=str(path), name=f"{slug} x{factor:.1f}",
                                  bpm=round(truth * factor, 3)))
    return items


#: Drum styles for the synthetic tempo set, with the tempi they are built at.
SYNTH_STYLES: dict[str, tuple[float, ...]] = {
    "four": (118.0, 124.0, 128.0, 136.0),      # house/techno: kick on every beat
    "rock": (84.0, 100.0, 140.0, 165.0),       # kick 1 & 3, snare 2 & 4, eighth hats
    "halftime": (70.0, 85.0),                  # snare on 3 only, sixteenth hats
    "breakbeat": (172.0, 174.0),               # drum & bass two-step at 170+
    "metal": (180.0, 200.0),                   # kick on every eighth, snare 2 & 4
    "sparse": (76.0, 96.0),                    # ballad: kick and snare, no hats
}


def synthetic_set() -> list[Item]:
    """Synthetic tracks of known tempo, intro and outro in several drum styles."""
    from synthetic import SynthSpec, write_track

    out_dir = cache_dir() / "synthetic"
    out_dir.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    seed = 0
    for style, tempi in SYNTH_STYLES.items():
        for bpm in tempi:
            seed += 1
            spec = SynthSpec(bpm=bpm, tonic=seed % 12, mode="minor" if seed % 2 else "major",
                             intro_bars=4 + 4 * (seed % 3), body_bars=24,
                             outro_bars=4 + 4 * (seed % 2), seed=seed, style=style)
            path = out_dir / f"{style}_{bpm:g}.flac"
            if not path.exists():
                write_track(path, spec)
            items.append(Item(path=str(path), name=f"{style} {bpm:g}", bpm=bpm, tonic=spec.tonic,
                              mode=spec.mode, intro_end_s=spec.intro_end_s,
                              outro_start_s=spec.outro_start_s, bar_s=spec.bar_s))
    return items


def ensure_fluidsynth() -> str:
    """The fluidsynth program, installed with apt-get when missing."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        log.info("installing fluidsynth with apt-get")
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                        "fluidsynth"], check=True, env={**os.environ,
                                                        "DEBIAN_FRONTEND": "noninteractive"})
        exe = shutil.which("fluidsynth")
    if exe is None:
        raise RuntimeError("fluidsynth is not available")
    return exe


def soundfont() -> Path:
    """The FluidR3 GM soundfont from Debian's fluid-soundfont-gm (fetched, not installed)."""
    root = fetch(SOUNDFONT_PACKAGE)
    found = sorted(root.rglob("FluidR3_GM.sf2"))
    if not found:
        raise RuntimeError(f"no FluidR3_GM.sf2 in {root}")
    return found[0]


# ---------------------------------------------------------------- MIDI tempo set (training)

#: MMA groove styles for the MIDI tempo set: (library file, groove, family, BPM range).
#: The range is where the style is usually played *and* where the MMA beat (a MIDI
#: quarter note; the dotted quarter in the 12/8 and 6/8 grooves written with one MMA
#: beat per dotted quarter) is the beat a listener taps. Styles felt in two but written
#: in four (polka, samba, merengue, salsa, mambo, quickstep, ska, reggae: the MMA docs
#: say "double the tempo") and grooves counted in eighths (Time 6) are left out: their
#: tapped beat is ambiguous.
MMA_STYLES: tuple[tuple[str, str, str, float, float], ...] = (
    ("casio/house", "House", "electronic", 118, 128),
    ("zoom/house", "HOUS01", "electronic", 120, 128),
    ("casio/techno", "Techno", "electronic", 125, 140),
    ("zoom/techno", "TECH01", "electronic", 128, 140),
    ("alexis/teamtechno", "TeamTechno", "electronic", 125, 135),
    ("stdlib/trance", "Trance", "electronic", 130, 140),
    ("casio/trance1", "Trance1", "electronic", 132, 142),
    ("casio/rave", "Rave", "electronic", 140, 160),
    ("casio/latinhouse", "LatinHouse", "electronic", 120, 126),
    ("casio/dance1", "Dance1", "electronic", 118, 128),
    ("casio/8beatdance", "8BeatDance", "electronic", 115, 125),
    ("zoom/dnb", "DnB01", "electronic", 165, 176),
    ("casio/ambient1", "Ambient1", "electronic", 70, 100),
    ("casio/ambient2", "Ambient2", "electronic", 70, 100),
    ("stdlib/boneym", "BoneyM", "disco-funk-soul", 110, 125),
    ("casio/discosoul", "DiscoSoul", "disco-funk-soul", 110, 122),
    ("casio/funk1", "Funk1", "disco-funk-soul", 95, 115),
    ("zoom/funk", "FUNK01", "disco-funk-soul", 95, 115),
    ("kara/Kfunk1", "Kfunk1A", "disco-funk-soul", 95, 115),
    ("stdlib/bvfunk", "BVFunk", "disco-funk-soul", 95, 115),
    ("casio/soul", "Soul", "disco-funk-soul", 90, 115),
    ("stdlib/rb", "R&B", "disco-funk-soul", 90, 110),
    ("kara/8beatmotown", "8beatmotownA", "disco-funk-soul", 110, 130),
    ("casio/16beat1", "16Beat1", "disco-funk-soul", 90, 120),
    ("casio/hip-hop", "Hip-Hop", "hiphop-downtempo", 85, 100),
    ("alexis/hiphop", "HipHop", "hiphop-downtempo", 85, 98),
    ("casio/triphop", "TripHop", "hiphop-downtempo", 75, 95),
    ("zoom/trip", "TRIP01", "hiphop-downtempo", 75, 95),
    ("stdlib/8beat", "8Beat", "rock-pop", 100, 140),
    ("stdlib/60srock", "60sRock", "rock-pop", 120, 150),
    ("stdlib/basicrock", "BasicRock", "rock-pop", 100, 140),
    ("stdlib/softrock", "SoftRock", "rock-pop", 90, 120),
    ("stdlib/folkrock", "FolkRock", "rock-pop", 100, 130),
    ("zoom/rock", "ROCK01", "rock-pop", 100, 140),
    ("zoom/hrk", "HRK01", "rock-pop", 110, 150),
    ("casio/digitalrock", "DigitalRock", "rock-pop", 110, 135),
    ("zoom/punk", "PUNK01", "rock-pop", 160, 200),
    ("stdlib/twist", "Twist", "rock-pop", 150, 166),
    ("stdlib/rock-128", "Rock128", "rock-pop", 60, 80),
    ("casio/heavymetal", "HeavyMetal", "metal", 100, 160),
    ("zoom/mtl", "MTL01", "metal", 120, 180),
    ("pflib/metal1", "metal1A", "metal", 120, 180),
    ("pflib/metal2", "metal2A", "metal", 120, 180),
    ("stdlib/ballad", "Ballad", "ballad-blues", 60, 80),
    ("stdlib/popballad", "PopBallad", "ballad-blues", 65, 85),
    ("stdlib/rb-ballad", "R&B-Ballad", "ballad-blues", 60, 80),
    ("casio/8beatballad1", "8BeatBallad1", "ballad-blues", 65, 85),
    ("casio/slow16beat", "Slow16Beat", "ballad-blues", 65, 85),
    ("stdlib/slowblues", "SlowBlues", "ballad-blues", 55, 75),
    ("stdlib/blues128", "Blues128", "ballad-blues", 55, 75),
    ("stdlib/swing", "Swing", "jazz-swing", 120, 180),
    ("stdlib/easyswing", "EasySwing", "jazz-swing", 100, 140),
    ("stdlib/bigband", "BigBand", "jazz-swing", 130, 180),
    ("stdlib/countryswing", "CountrySwing", "jazz-swing", 120, 160),
    ("stdlib/shuffleboggie", "ShuffleBoggie", "jazz-swing", 110, 140),
    ("stdlib/jive", "Jive", "jazz-swing", 150, 176),
    ("stdlib/foxtrot", "Foxtrot", "jazz-swing", 110, 125),
    ("stdlib/bossanova", "BossaNova", "latin", 120, 145),
    ("zoom/bossa", "BOSSA01", "latin", 120, 140),
    ("stdlib/chacha", "ChaCha", "latin", 110, 125),
    ("stdlib/rhumba", "Rhumba", "latin", 100, 120),
    ("stdlib/bolero", "Bolero", "latin", 90, 110),
    ("stdlib/tango", "Tango", "latin", 115, 130),
    ("stdlib/folk", "Folk", "folk-country", 90, 120),
    ("stdlib/zydeco", "Zydeco", "folk-country", 120, 150),
    ("stdlib/waltz", "Waltz", "triple", 84, 100),
    ("stdlib/jazzwaltz", "JazzWaltz", "triple", 120, 160),
    ("casio/popwaltz", "PopWaltz", "triple", 90, 120),
    ("stdlib/vienesewaltz", "VieneseWaltz", "triple", 160, 180),
    ("stdlib/68march", "68March", "triple", 100, 120),
)
#: Chord progressions (one chord a bar, as roman-numeral offsets from the tonic).
_MMA_PROGRESSIONS = (
    ((0, ""), (9, "m"), (5, ""), (7, "")),            # I vi IV V
    ((0, ""), (5, ""), (0, ""), (7, "7")),            # I IV I V7
    ((9, "m"), (5, ""), (0, ""), (7, "")),            # vi IV I V
    ((2, "m7"), (7, "7"), (0, "maj7"), (0, "maj7")),  # ii7 V7 Imaj7
)
_MMA_ROOTS = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
MMA_PACKAGE = "mma"
MIDI_SET_SECONDS = 60.0


def ensure_mma() -> str:
    """The ``mma`` program (Musical MIDI Accompaniment), installed with apt-get when missing."""
    return _ensure_program("mma", "mma")


def _ensure_program(exe_name: str, package: str) -> str:
    exe = shutil.which(exe_name)
    if exe is None:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        log.info("installing %s with apt-get", package)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                        package], check=True, env={**os.environ,
                                                   "DEBIAN_FRONTEND": "noninteractive"})
        exe = shutil.which(exe_name)
    if exe is None:
        raise RuntimeError(f"{exe_name} is not available")
    return exe


def _mma_beats_per_bar(lib: str) -> int:
    """The groove's ``Time`` (MMA beats per bar), read from its library file."""
    root = Path("/usr/share/mma/lib")
    text = (root / f"{lib}.mma").read_text(errors="replace")
    m = re.search(r"^\s*Time\s+(\d+)", text, flags=re.MULTILINE | re.IGNORECASE)
    return int(m.group(1)) if m else 4


def _render_midi(mid: Path, out: Path, fluid: str, sf2: Path, *,
                 max_s: float | None = None) -> None:
    """FluidSynth render of ``mid`` to ``out`` (FLAC, 44.1 kHz), loudness-normalised."""
    raw = out.with_suffix(".raw.wav")
    subprocess.run([fluid, "-ni", "-q", "-g", "0.6", "-r", "44100", "-F", str(raw), str(sf2),
                    str(mid)], check=True, capture_output=True)
    trim = ["-t", f"{max_s:.1f}"] if max_s else []
    tmp = out.with_suffix(".tmp.flac")
    _ffmpeg("-i", str(raw), *trim, "-af", "loudnorm=I=-16:TP=-1.5", "-ar", "44100", str(tmp))
    raw.unlink()
    tmp.rename(out)


def mma_tempo_set(per_style: int = 2, seconds: float = MIDI_SET_SECONDS) -> list[Item]:
    """MMA grooves (:data:`MMA_STYLES`) at ``per_style`` tempi each, rendered by FluidSynth.

    Truth is the tempo MMA was asked for, in beats per minute of the beat a listener taps
    (see :data:`MMA_STYLES`). Tempi are drawn (seeded) from each style's range; keys and
    progressions vary from file to file. Each item's ``name`` is ``"<family>/<style>
    <bpm>"``, so cross-validation can hold out a style or a whole family.
    """
    import random

    out_dir = cache_dir() / "tempo-mma"
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261201)
    items: list[Item] = []
    tools: dict[str, object] = {}
    for n, (lib, groove, family, lo, hi) in enumerate(MMA_STYLES):
        for k in range(per_style):
            # stratified: the k-th draw falls in the k-th slice of the range
            bpm = round(lo + (hi - lo) * (k + rng.random()) / per_style)
            tonic = rng.randrange(12)
            prog = _MMA_PROGRESSIONS[(n + k) % len(_MMA_PROGRESSIONS)]
            stem = f"{lib.replace('/', '_')}_{bpm}"
            path = out_dir / f"{stem}.flac"
            if not path.exists():
                if not tools:
                    tools.update(mma=ensure_mma(), fluid=ensure_fluidsynth(), sf2=soundfont())
                beats = _mma_beats_per_bar(lib)
                bars = int(np.ceil(seconds * bpm / 60.0 / beats)) + 1
                chords = [f"{_MMA_ROOTS[(tonic + off) % 12]}{q}" for off, q in prog]
                body = "\n".join(f"{b + 1} {chords[b % len(chords)]}" for b in range(bars))
                src = out_dir / f"{stem}.mma"
                src.write_text(f"Use {lib}\nTempo {bpm}\nGroove {groove}\n{body}\n")
                mid = out_dir / f"{stem}.mid"
                subprocess.run([str(tools["mma"]), "-f", str(mid), str(src)], check=True,
                               capture_output=True)
                _render_midi(mid, path, str(tools["fluid"]), Path(str(tools["sf2"])),
                             max_s=seconds)
            items.append(Item(path=str(path), name=f"{family}/{groove} {bpm}", bpm=float(bpm)))
    return items


OPENMSX_PACKAGE = "openttd-openmsx"


def midi_dominant_tempo(path: Path) -> tuple[float, float, str]:
    """(quarter-note BPM that holds longest, share of the song's time it holds, time signature).

    Tempo events within 1 % of each other count as one tempo; the first time signature
    is returned as ``"num/den"`` (``"4/4"`` when there is none).
    """
    import mido

    mid = mido.MidiFile(str(path))
    events: list[tuple[int, float]] = []
    sig = "4/4"
    end = 0
    for track in mid.tracks:
        t = 0
        for msg in track:
            t += msg.time
            if msg.type == "set_tempo":
                events.append((t, float(mido.tempo2bpm(msg.tempo))))
            elif msg.type == "time_signature" and sig == "4/4" and t == 0:
                sig = f"{msg.numerator}/{msg.denominator}"
        end = max(end, t)
    events.sort()
    if not events or events[0][0] > 0:
        events.insert(0, (0, 120.0))
    seconds: dict[float, float] = {}
    for (t0, bpm), (t1, _) in zip(events, [*events[1:], (end, 0.0)], strict=True):
        key = next((k for k in seconds if abs(k / bpm - 1) < 0.01), bpm)
        seconds[key] = seconds.get(key, 0.0) + (t1 - t0) / mid.ticks_per_beat * 60.0 / bpm
    best = max(seconds, key=lambda k: seconds[k])
    total = sum(seconds.values())
    return best, (seconds[best] / total if total else 1.0), sig


def openmsx_tempo_set(seconds: float = 90.0) -> list[Item]:
    """OpenTTD's openMSX songs (GPL MIDI, Debian ``openttd-openmsx``) with one dominant tempo.

    Truth is the tempo that holds for at least 90 % of the song (songs with tempo
    changes beyond that are left out), in quarter notes per minute, or dotted quarters
    in 6/8, 9/8 and 12/8. The first ``seconds`` are rendered by FluidSynth.
    """
    root = fetch(OPENMSX_PACKAGE)
    out_dir = cache_dir() / "tempo-openmsx"
    out_dir.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    tools: dict[str, str] = {}
    for mid in sorted(root.rglob("*.mid")):
        bpm, share, sig = midi_dominant_tempo(mid)
        if share < 0.9:
            log.info("skipping %s: its tempo changes", mid.name)
            continue
        num, den = (int(v) for v in sig.split("/"))
        truth = bpm * 2.0 / 3.0 if den == 8 and num % 3 == 0 else bpm
        path = out_dir / f"{mid.stem}.flac"
        if not path.exists():
            if not tools:
                tools.update(fluid=ensure_fluidsynth(), sf2=str(soundfont()))
            _render_midi(mid, path, tools["fluid"], Path(tools["sf2"]), max_s=seconds)
        items.append(Item(path=str(path), name=f"openmsx/{mid.stem} {truth:.0f}",
                          bpm=round(truth, 3)))
    return items


def midi_tempo_set() -> list[Item]:
    """The MIDI-rendered training set: :func:`mma_tempo_set` + :func:`openmsx_tempo_set`."""
    return mma_tempo_set() + openmsx_tempo_set()


# Progressions as (scale degree of the root, chord quality) per bar; each one states
# its key: a cadence that ends on the tonic through the dominant.
MAJOR_PROGRESSIONS = (
    ((0, "maj"), (3, "maj"), (4, "maj"), (0, "maj")),                     # I IV V I
    ((0, "maj"), (5, "min"), (1, "min"), (4, "dom7"), (0, "maj")),        # I vi ii V7 I
    ((0, "maj"), (4, "maj"), (5, "min"), (3, "maj"), (4, "dom7"), (0, "maj")),  # I V vi IV V7 I
)
MINOR_PROGRESSIONS = (
    ((0, "min"), (3, "min"), (4, "maj"), (0, "min")),                     # i iv V i
    ((0, "min"), (5, "maj"), (3, "min"), (4, "dom7"), (0, "min")),        # i VI iv V7 i
    ((0, "min"), (1, "dim"), (4, "dom7"), (0, "min"), (3, "min"), (4, "maj"), (0, "min")),
)
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor; the V chord raises the 7th
_QUALITY = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6), "dom7": (0, 4, 7, 10)}
#: (chord program, bass program, drums?) in General MIDI numbering.
INSTRUMENTS = (
    (0, 32, False),    # acoustic grand piano, acoustic bass
    (48, 43, False),   # string ensemble, contrabass
    (19, 33, True),    # church organ, fingered bass, drums
    (24, 32, False),   # nylon guitar, acoustic bass
    (4, 38, True),     # electric piano, synth bass, drums
    (61, 58, False),   # brass section, tuba
    (89, 38, True),    # warm pad, synth bass, drums
    (29, 34, True),    # overdriven guitar, picked bass, drums
)


def _write_progression_midi(path: Path, tonic: int, mode: str, variant: int) -> None:
    """A MIDI file: block chords + bass + an arpeggio, optionally drums, repeated twice."""
    import mido

    progressions = MAJOR_PROGRESSIONS if mode == "major" else MINOR_PROGRESSIONS
    chords = progressions[variant % len(progressions)]
    chord_prog, bass_prog, drums = INSTRUMENTS[variant % len(INSTRUMENTS)]
    bpm = (72, 90, 100, 110, 120, 128, 140)[variant % 7]
    scale = _MAJOR_SCALE if mode == "major" else _MINOR_SCALE
    tpb = 480
    bar = 4 * tpb
    mid = mido.MidiFile(ticks_per_beat=tpb)
    events: list[tuple[int, mido.Message]] = []

    def note(ch: int, pitch: int, start: int, length: int, vel: int) -> None:
        events.append((start, mido.Message("note_on", channel=ch, note=pitch, velocity=vel)))
        events.append((start + length - 10, mido.Message("note_off", channel=ch, note=pitch)))

    base = 48 + tonic if tonic < 7 else 36 + tonic  # chord register around C3–F#3
    t = 0
    for _repeat in range(2):
        for degree, quality in chords:
            root = base + scale[degree]
            if mode == "minor" and degree == 4:
                quality = "dom7" if quality == "dom7" else "maj"  # harmonic-minor dominant
            if mode == "minor" and degree == 1:
                quality = "dim"
            pitches = [root + iv for iv in _QUALITY[quality]]
            for p in pitches:
                note(0, p + 12, t, bar, 70)
            note(1, root - 12, t, bar // 2, 90)
            note(1, root - 12 + 7, t + bar // 2, bar // 2, 80)
            for i in range(8):  # eighth-note arpeggio on the chord tones
                note(2, pitches[i % len(pitches)] + 24, t + i * tpb // 2, tpb // 2, 55)
            if drums:
                for b in range(4):
                    note(9, 36 if b % 2 == 0 else 38, t + b * tpb, tpb // 4, 90)
                    note(9, 42, t + b * tpb + tpb // 2, tpb // 4, 60)
            t += bar
    _save_midi(mid, path, events, bpm, (chord_prog, bass_prog, 46 if chord_prog != 46 else 0))


def _save_midi(mid: Any, path: Path, events: list[tuple[int, Any]], bpm: float,
               programs: tuple[int, int, int]) -> None:
    """Write ``events`` (absolute tick, message) as one track at ``bpm``, channels 0–2 set
    to ``programs``; note-offs sort before note-ons at the same tick."""
    import mido

    tr = mido.MidiTrack()
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    for ch, prog in enumerate(programs):
        tr.append(mido.Message("program_change", channel=ch, program=prog, time=0))
    now = 0
    for start, msg in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
        tr.append(msg.copy(time=start - now))
        now = start
    mid.tracks.append(tr)
    mid.save(str(path))


def key_set(per_key: int = 2) -> list[Item]:
    """Chord progressions in all 24 keys, ``per_key`` variants each, rendered by FluidSynth."""
    out_dir = cache_dir() / "keys"
    out_dir.mkdir(parents=True, exist_ok=True)
    names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    items: list[Item] = []
    fluid: str | None = None
    sf2: Path | None = None
    for mode in ("major", "minor"):
        for tonic in range(12):
            for k in range(per_key):
                variant = tonic * per_key + k + (1 if mode == "minor" else 0)
                stem = f"{names[tonic].replace('#', 's')}_{mode}_{k}"
                wav = out_dir / f"{stem}.flac"
                if not wav.exists():
                    fluid = fluid or ensure_fluidsynth()
                    sf2 = sf2 or soundfont()
                    mid = out_dir / f"{stem}.mid"
                    _write_progression_midi(mid, tonic, mode, variant)
                    raw = out_dir / f"{stem}.raw.wav"
                    subprocess.run([fluid, "-ni", "-q", "-g", "0.6", "-r", "44100", "-F", str(raw),
                                    str(sf2), str(mid)], check=True, capture_output=True)
                    _ffmpeg("-i", str(raw), "-af", "loudnorm=I=-16:TP=-1.5", "-ar", "44100",
                            str(wav))
                    raw.unlink()
                items.append(Item(path=str(wav), name=f"{names[tonic]} {mode} #{k}",
                                  tonic=tonic, mode=mode))
    return items


# ---------------------------------------------------------------- harder key set

#: Progressions of the hard key set: one chord a bar as (semitones above the tonic,
#: quality, inversion 0/1/2). Each states its key by opening on the tonic and closing
#: with a dominant-seventh cadence on it, but on the way it uses inversions, secondary
#: dominants, chords borrowed from the parallel mode and, in minor, the natural
#: seventh (minor v, major VII), so pitch classes outside the key's scale sound and
#: the relative key's chords get more time than in a plain cadence.
HARD_MAJOR_PROGRESSIONS: tuple[tuple[tuple[int, str, int], ...], ...] = (
    # I V6 vi V7/V V IV iv I64 V7 I: secondary dominant, borrowed iv, cadential 6/4
    ((0, "maj", 0), (7, "maj", 1), (9, "min", 0), (2, "dom7", 0), (7, "maj", 0),
     (5, "maj", 0), (5, "min", 0), (0, "maj", 2), (7, "dom7", 0), (0, "maj", 0)),
    # I bVII IV I6 V7/vi vi bVI V7 I: mixolydian bVII, borrowed bVI, V/vi
    ((0, "maj", 0), (10, "maj", 0), (5, "maj", 0), (0, "maj", 1), (4, "dom7", 0),
     (9, "min", 0), (8, "maj", 0), (7, "dom7", 0), (0, "maj", 0)),
    # I iii IV V7/ii ii6 V7/V V7 I: a chain of secondary dominants
    ((0, "maj", 0), (4, "min", 0), (5, "maj", 0), (9, "dom7", 0), (2, "min", 1),
     (2, "dom7", 0), (7, "dom7", 0), (0, "maj", 0)),
)
HARD_MINOR_PROGRESSIONS: tuple[tuple[tuple[int, str, int], ...], ...] = (
    # i v VI III iv VII V7 i: natural-minor v and VII before the harmonic-minor cadence
    ((0, "min", 0), (7, "min", 0), (8, "maj", 0), (3, "maj", 0), (5, "min", 0),
     (10, "maj", 0), (7, "dom7", 0), (0, "min", 0)),
    # i i6 iv6 VII7 III ii°6 V7 i: V7/III (= VII7) and the relative major on the way
    ((0, "min", 0), (0, "min", 1), (5, "min", 1), (10, "dom7", 0), (3, "maj", 0),
     (2, "dim", 1), (7, "dom7", 0), (0, "min", 0)),
    # i VII VI V i iv V7 i: the Andalusian descent, then a cadence
    ((0, "min", 0), (10, "maj", 0), (8, "maj", 0), (7, "maj", 0), (0, "min", 0),
     (5, "min", 0), (7, "dom7", 0), (0, "min", 0)),
)
#: Textures of the hard key set: (chord program or None, bass program, melody program,
#: drums?). ``None``: no chords at all, the harmony only implied by bass and melody.
HARD_TEXTURES: tuple[tuple[int | None, int, int, bool], ...] = (
    (0, 32, 73, False),      # piano chords, acoustic bass, flute melody
    (None, 33, 65, False),   # no chords: fingered bass and alto sax only
    (24, 32, 40, False),     # nylon guitar arpeggio, bass, violin melody
    (48, 43, 68, False),     # strings, contrabass, oboe
    (None, 38, 81, True),    # no chords: synth bass, saw lead, drums
    (4, 34, 11, True),       # electric piano, picked bass, vibraphone melody, drums
)


def _write_hard_key_midi(path: Path, tonic: int, mode: str, variant: int, *,
                         dev: bool = False) -> float:
    """A MIDI file of the hard key set; returns its tempo in BPM.

    ``dev``: the development variant (other melody seeds and tempi), for tuning key
    finders without looking at the test renders.

    Bass plays the chord's lowest note (the inversion's bass) on beat 1 and a passing
    note toward the next bass on beat 4; the melody has chord tones on beats 1 and 3
    and scale-step passing or chromatic neighbour notes between them; the chords (when
    the texture has any) are voiced in the inversion, block or arpeggiated.
    """
    import random

    import mido

    rng = random.Random(1000 * tonic + 10 * variant + (mode == "minor") + (500_000 if dev else 0))
    progs = HARD_MAJOR_PROGRESSIONS if mode == "major" else HARD_MINOR_PROGRESSIONS
    chords = progs[variant % len(progs)]
    chord_prog, bass_prog, mel_prog, drums = HARD_TEXTURES[variant % len(HARD_TEXTURES)]
    tempi = (70, 86, 98, 110, 124, 138) if dev else (66, 80, 92, 104, 116, 132)
    bpm = tempi[(variant + tonic) % 6]
    scale = _MAJOR_SCALE if mode == "major" else _MINOR_SCALE
    tpb = 480
    bar = 4 * tpb
    base = 48 + tonic if tonic < 7 else 36 + tonic
    events: list[tuple[int, mido.Message]] = []

    def note(ch: int, pitch: int, start: int, length: int, vel: int) -> None:
        events.append((start, mido.Message("note_on", channel=ch, note=pitch, velocity=vel)))
        events.append((start + length - 10, mido.Message("note_off", channel=ch, note=pitch)))

    def step(pitch: int, direction: int, on_dominant: bool = False) -> int:
        """The next note of the key's scale above/below ``pitch`` (harmonic minor over V)."""
        steps = (0, 2, 3, 5, 7, 8, 11) if on_dominant and mode == "minor" else scale
        p = pitch + direction
        while (p - tonic) % 12 not in steps:
            p += direction
        return p

    t = 0
    seq = [*chords, *chords]
    for n, (offset, quality, inversion) in enumerate(seq):
        root = base + offset
        tones = [root + iv for iv in _QUALITY[quality]]
        voiced = tones[inversion:] + [p + 12 for p in tones[:inversion]]
        lowest = voiced[0]
        dominant = offset == 7
        nxt = seq[(n + 1) % len(seq)]
        next_bass = base + nxt[0] + _QUALITY[nxt[1]][nxt[2]]
        note(1, lowest - 12, t, 3 * tpb, 90)
        passing = step(lowest - 12, 1 if next_bass > lowest else -1, dominant)
        note(1, passing, t + 3 * tpb, tpb, 75)
        if chord_prog is not None:
            if variant % 2:
                for i in range(8):  # arpeggio in eighths
                    note(0, voiced[i % len(voiced)] + 12, t + i * tpb // 2, tpb // 2, 60)
            else:
                for p in voiced:
                    note(0, p + 12, t, bar, 62)
        # melody: chord tone, passing/neighbour, chord tone, passing/neighbour
        m1 = rng.choice(tones) + 24
        m3 = rng.choice(tones) + 24
        note(2, m1, t, tpb, 80)
        # a scale-step passing note, or (3 times in 10) a chromatic lower neighbour
        between = step(m1, 1 if m3 > m1 else -1, dominant) if rng.random() < 0.7 else m1 - 1
        note(2, between, t + tpb, tpb, 65)
        note(2, m3, t + 2 * tpb, tpb, 80)
        note(2, step(m3, rng.choice((-1, 1)), dominant), t + 3 * tpb, tpb, 65)
        if drums:
            for b in range(4):
                note(9, 36 if b % 2 == 0 else 38, t + b * tpb, tpb // 4, 85)
                note(9, 42, t + b * tpb + tpb // 2, tpb // 4, 55)
        t += bar
    _save_midi(mido.MidiFile(ticks_per_beat=tpb), path, events, bpm,
               (chord_prog or 0, bass_prog, mel_prog))
    return float(bpm)


def hard_key_set(per_key: int = 2, *, dev: bool = False) -> list[Item]:
    """The harder key set: all 24 keys, ``per_key`` variants each, rendered by FluidSynth.

    Progressions from :data:`HARD_MAJOR_PROGRESSIONS` / :data:`HARD_MINOR_PROGRESSIONS`,
    textures from :data:`HARD_TEXTURES`, 66–132 BPM, each progression played twice.

    ``dev=True`` builds the development set instead (``keys-hard-dev``): the same
    generator with the variants shifted by three, so each key meets other
    progression/texture pairs, other melody seeds and tempi of 70–138 BPM. Tune key
    finders on it (and the plain set); the default set is the test set. Mind that
    both sets draw on the same three progressions per mode and six textures: a key
    finder fitted on the development set has seen every pattern of the test set in
    other keys, so also validate it leaving whole patterns out.
    """
    out_dir = cache_dir() / ("keys-hard-dev" if dev else "keys-hard")
    out_dir.mkdir(parents=True, exist_ok=True)
    names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    items: list[Item] = []
    tools: dict[str, str] = {}
    for mode in ("major", "minor"):
        for tonic in range(12):
            for k in range(per_key):
                variant = tonic * per_key + k + (3 if dev else 0)
                stem = f"{names[tonic].replace('#', 's')}_{mode}_{k}"
                path = out_dir / f"{stem}.flac"
                if not path.exists():
                    if not tools:
                        tools.update(fluid=ensure_fluidsynth(), sf2=str(soundfont()))
                    mid = out_dir / f"{stem}.mid"
                    _write_hard_key_midi(mid, tonic, mode, variant, dev=dev)
                    _render_midi(mid, path, tools["fluid"], Path(tools["sf2"]))
                items.append(Item(path=str(path), name=f"{names[tonic]} {mode} #{k}",
                                  tonic=tonic, mode=mode))
    return items



def mirex_score(tonic: int, mode: str, est_tonic: int, est_mode: str) -> float:
    """MIREX weighted key score: 1 exact, 0.5 fifth, 0.3 relative, 0.2 parallel."""
    if est_tonic == tonic and est_mode == mode:
        return 1.0
    if est_mode == mode and (est_tonic - tonic) % 12 in (5, 7):
        return 0.5
    if est_mode != mode:
        relative = (tonic + 9) % 12 if mode == "major" else (tonic + 3) % 12
        if est_tonic == relative:
            return 0.3
        if est_tonic == tonic:
            return 0.2
    return 0.0


def describe(items: list[Item]) -> str:
    """A JSON listing of a set (for debugging the builders)."""
    return json.dumps([asdict(i) for i in items], indent=1)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    if which in ("real", "all"):
        print(describe(real_tempo_set()))
    if which in ("synthetic", "all"):
        print(describe(synthetic_set()))
    if which in ("midi", "all"):
        print(describe(midi_tempo_set()))
    if which in ("keys", "all"):
        print(describe(key_set()))
    if which in ("keys-hard", "all"):
        print(describe(hard_key_set()))
    if which in ("keys-hard-dev", "all"):
        print(describe(hard_key_set(dev=True)))
