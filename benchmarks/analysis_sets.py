"""Benchmark sets for track analysis, each item with its known answer.

- **real tempo set**: the Frets on Fire songs of Debian's ``fretsonfire-songs-muldjord``
  and ``fretsonfire-songs-sectoid`` (fetched with ``apt-get download`` + ``dpkg -x``,
  never installed). Each song folder has ``song.ogg`` (band without lead guitar),
  ``guitar.ogg`` and ``notes.mid``, whose tempo event gives the truth. The two stems are
  mixed (−6 dB each) and time-stretched with ffmpeg's ``atempo`` (×0.8, ×0.9, ×1.1, ×1.2)
  for more known tempi: truth × factor.
- **synthetic tempo and cue set**: :mod:`synthetic` tracks (tests/synthetic.py) in
  several drum styles, with known tempo, intro end and outro start.
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
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

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
    tr = mido.MidiTrack()
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    for ch, prog in ((0, chord_prog), (1, bass_prog), (2, 46 if chord_prog != 46 else 0)):
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
    if which in ("keys", "all"):
        print(describe(key_set()))
