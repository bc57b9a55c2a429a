"""Vocal-onset benchmark set: real instrumentals with a voice laid in at a known time.

Every instrumental is used twice: alone (a reported onset is a false positive) and with
a voice entering at a known second (an onset within 1 s of it is a hit). Instrumentals
(first 90 s of each): the *Endgame: Singularity* soundtrack (electronic, ambient),
Colobot's music (electronic), eight orchestral Wesnoth tracks (strings with vibrato:
the hardest test for false positives) and the Frets on Fire songs (metal, lead guitar
with bends), plus four synthetic tracks (``tests/synthetic.py``). Sectoid's four songs are
instrumental; Muldjord's four are sung (and *Chaos God* opens on a spoken sample), so
their renders are real songs with a marked vocal entry (:data:`SONG_VOICES`, family
``song``): alone, the entry is the truth, and with a voice laid in, whichever voice comes
first. So is :data:`SONGS`: the title song of *Drascula: The Vampire Strikes Back*
(Debian's ``drascula-music``, Alcachofa Soft's BSD-like licence). Voices, cycled:

- **speech**: espeak-ng reading prose, in five voices (en, en-us, de, fr, es);
- **sung**: :func:`synthetic.sung_voice`, a source-filter singer with vibrato, male and
  female ranges;
- **choir**: a FluidSynth melody on the FluidR3 "Choir Aahs", "Voice Oohs" and "Synth
  Voice" patches, with vibrato from the modulation wheel.

A third render of every instrumental carries **human** speech: the 19 lines two voice
actors speak in the elk level of *Fish Fillets NG* (Debian's ``fillets-ng-data``,
GPL-2+: German and Russian words and phrases, "Jawohl!", "Tovarišči!", 1.5–15 s each,
75 s in all, spoken in character with lively intonation), shuffled and joined by pauses
of 0.3–1.2 s. No detector is fitted on these renders (``fit_vocal.py`` leaves them out):
they test whether what was learnt from synthetic speech holds for a recorded voice.

The voice is placed 10–45 s in (seeded), at 0 to −6 dB against the instrumental's RMS
(measured over the voice's active samples), and plays to the end. Built once under
``~/.cache/segue/bench/vocals``.
"""

from __future__ import annotations

import logging
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from analysis_sets import cache_dir, ensure_fluidsynth, real_tempo_set, soundfont
from debian_music import fetch

log = logging.getLogger(__name__)

SR = 44100
SECONDS = 90.0
WESNOTH = ("battle-epic", "breaking_the_chains", "elvish-theme", "heroes_rite",
           "into_the_shadows", "legends_of_the_north", "loyalists", "northerners")
SPEECH_VOICES = ("en", "en-us", "de", "fr", "es")
PROSE = {
    "en": "The river ran quietly past the old mill, and nobody in the village could say "
          "when the wheel had last turned. Some said it was the winter of the great storm; "
          "others remembered a summer, a wedding, a horse that would not cross the bridge.",
    "de": "Der Fluss floss still an der alten Mühle vorbei, und niemand im Dorf wusste, "
          "wann sich das Rad zuletzt gedreht hatte. Manche sagten, es sei im Winter des "
          "großen Sturms gewesen, andere erinnerten sich an einen Sommer und eine Hochzeit.",
    "fr": "La rivière passait doucement devant le vieux moulin, et personne au village ne "
          "savait quand la roue avait tourné pour la dernière fois. Certains parlaient de "
          "l'hiver de la grande tempête, d'autres d'un été, d'un mariage, d'un cheval.",
    "es": "El río pasaba despacio junto al viejo molino, y nadie en el pueblo sabía cuándo "
          "había girado la rueda por última vez. Unos hablaban del invierno de la gran "
          "tormenta; otros recordaban un verano, una boda, un caballo que no cruzaba.",
}
CHOIR_PROGRAMS = (52, 53, 54)
HUMAN_PACKAGE = "fillets-ng-data"
#: Voice families no detector is fitted on (``fit_vocal.py`` only scores them): recorded
#: voices, to test whether what was learnt from the synthetic ones holds.
NEVER_FITTED = ("human", "song")
#: An instrumental must last this long after the voice enters, else it is left out.
MIN_VOICED_S = 20.0
#: Where the song's own voice enters (s from the start of the song), marked from a
#: spectrogram of its ``song.ogg`` stem (the band without the lead guitar; mid channel,
#: 80 Hz–5 kHz): the first syllable's formants, here harsh vocals' glides around
#: 0.5–1.5 kHz. Each mark was confirmed by a speech recogniser (Whisper tiny.en, run
#: outside segue) transcribing the lyrics from a window starting 1 s before it and
#: nothing before it. Within about 0.3 s.
SONG_VOICES = {
    "fof/armygeddon": 22.5,  # "I believe this death, side by side"
    "fof/chaos_god": 0.5,  # spoken: "Civilization begins with all of us …", 0.5–9.8 s
    "fof/internal_degeneration": 22.8,  # with the band's first hit
    "fof/mutilated_mime": 48.2,  # "I'm walking slowly down the street"
    # Drascula's title song (pop rock, sung; harmonics clear from 18.05 s)
    "drascula/track1": 17.6,  # "It's the fun, so buddy …"
}
#: Sung songs that are not also instrumental sources: (name, Debian package, file).
SONGS = (("drascula/track1", "drascula-music", "track1.ogg"),)


@dataclass(frozen=True)
class VocalItem:
    """A render and its truth: ``onset_s`` is ``None`` for an instrumental alone."""

    path: str
    name: str
    onset_s: float | None
    voice: str | None

    @property
    def family(self) -> str:
        """The voice's family (``speech``, ``sung``, ``choir``, ``human``, ``song``), ``""``
        for an instrumental alone."""
        return (self.voice or "").split("-")[0]


def first_voice(name: str, laid_s: float | None, voice: str | None
                ) -> tuple[float | None, str | None]:
    """The truth of a render of source ``name``: the voice laid in at ``laid_s`` (``None``:
    nothing laid), or the song's own (:data:`SONG_VOICES`, voice ``song``) when earlier."""
    own = SONG_VOICES.get(name)
    if own is not None and own < SECONDS and (laid_s is None or own <= laid_s):
        return own, "song"
    return laid_s, voice


def instrumentals() -> list[tuple[str, Path]]:
    """(name, path) of every instrumental source."""
    found: list[tuple[str, Path]] = []
    sing = fetch("singularity-music")
    found += [(f"singularity/{p.stem}", p) for p in sorted(sing.rglob("*.ogg"))]
    colobot = fetch("colobot-common-sounds")
    found += [(f"colobot/{p.stem}", p) for p in sorted(colobot.rglob("music/*.ogg"))]
    wesnoth = fetch("wesnoth-1.16-music")
    for stem in WESNOTH:
        found += [(f"wesnoth/{stem}", p) for p in sorted(wesnoth.rglob(f"{stem}.ogg"))][:1]
    found += [(f"fof/{Path(i.path).stem.removesuffix('_x1.0')}", Path(i.path))
              for i in real_tempo_set(stretches=(1.0,))]
    return found


def _decode(path: Path, seconds: float) -> np.ndarray:
    """The first ``seconds`` of ``path`` as float32 stereo ``(n, 2)`` at 44.1 kHz."""
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-t",
                          f"{seconds}", "-f", "f32le", "-ac", "2", "-ar", str(SR), "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype=np.float32).reshape(-1, 2).copy()


def _speech(voice: str, tmp: Path) -> np.ndarray:
    text = PROSE[voice.split("-")[0]]
    wav = tmp / f"speech_{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), f"{text} {text} {text}"],
                   check=True, capture_output=True)
    return _decode(wav, 600.0).mean(axis=1)


def _choir(program: int, seed: int, tmp: Path, seconds: float) -> np.ndarray:
    """A slow melody (one note every 0.5–1.5 s, A minor) on a GM voice patch with vibrato."""
    import mido

    rng = random.Random(seed)
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60), time=0))
    tr.append(mido.Message("program_change", program=program, time=0))
    tr.append(mido.Message("control_change", control=1, value=90, time=0))  # vibrato depth
    scale = (57, 59, 60, 62, 64, 65, 67, 69, 71, 72)
    t = 0.0
    while t < seconds:
        length = rng.uniform(0.5, 1.5)
        note = rng.choice(scale)
        tr.append(mido.Message("note_on", note=note, velocity=100, time=0))
        tr.append(mido.Message("note_off", note=note, time=round(length * 480)))
        t += length
    path = tmp / f"choir_{program}_{seed}.mid"
    mid.save(str(path))
    wav = tmp / f"choir_{program}_{seed}.wav"
    subprocess.run([ensure_fluidsynth(), "-ni", "-q", "-g", "0.8", "-r", str(SR), "-F", str(wav),
                    str(soundfont()), str(path)], check=True, capture_output=True)
    return _decode(wav, seconds).mean(axis=1)


def _human(seed: int) -> np.ndarray:
    """The Fish Fillets NG elk level's spoken lines, shuffled, joined by pauses, mono, 90 s."""
    root = fetch(HUMAN_PACKAGE)
    lines = sorted(root.rglob("sound/elk/en/*.ogg"))
    if not lines:
        raise RuntimeError(f"{HUMAN_PACKAGE}: no spoken lines under sound/elk/en")
    rng = random.Random(seed)
    parts: list[np.ndarray] = []
    total = 0
    while total < SECONDS * SR:
        order = list(lines)
        rng.shuffle(order)
        for line in order:
            y = _decode(line, 60.0).mean(axis=1)
            pause = np.zeros(round(rng.uniform(0.3, 1.2) * SR))
            parts += [y, pause]
            total += len(y) + len(pause)
    return np.concatenate(parts)[: round(SECONDS * SR)]


def _voice(kind: int, seed: int, tmp: Path) -> tuple[str, np.ndarray]:
    """The ``kind``-th voice of the cycle (speech, sung, choir), mono, at least 90 s."""
    from synthetic import sung_voice

    family = ("speech", "sung", "choir")[kind % 3]
    if family == "speech":
        voice = SPEECH_VOICES[seed % len(SPEECH_VOICES)]
        y, name = _speech(voice, tmp), f"speech-{voice}"
    elif family == "sung":
        f0 = (50, 64)[seed % 2]
        y, name = sung_voice(SECONDS, seed=seed, f0_midi=f0), f"sung-{f0}"
    else:
        program = CHOIR_PROGRAMS[(seed // 3) % len(CHOIR_PROGRAMS)]
        y, name = _choir(program, seed, tmp, SECONDS), f"choir-{program}"
    reps = int(np.ceil(SECONDS * SR / max(len(y), 1)))
    return name, np.tile(y, reps)[: round(SECONDS * SR)]


def _build_pair(name: str, src: Path | None, n: int, onset: float, gain_db: float,
                out_dir: Path, tmp: Path) -> None:
    """Render ``name`` alone and with the ``n``-th voice of the cycle at ``onset``."""
    from synthetic import SynthSpec, lay_voice, synthesize

    slug = _slug(name)
    alone, voiced = out_dir / f"{slug}.flac", out_dir / f"{slug}_voice.flac"
    if src is None:
        bpm = int(name.split("/")[1])
        spec = SynthSpec(bpm=bpm, tonic=n % 12, intro_bars=4, body_bars=40, outro_bars=4,
                         seed=n)
        music = synthesize(spec)[: round(SECONDS * SR)]
    else:
        music = _decode(src, SECONDS)
    if len(music) < (onset + MIN_VOICED_S) * SR:
        log.info("%s: too short for a voice at %.1f s, left out", name, onset)
        (out_dir / f"{slug}.short").touch()
        return
    voice_name, voice = _voice(n, n, tmp)
    log.info("%s + %s at %.1f s (%+.1f dB)", name, voice_name, onset, gain_db)
    sf.write(alone, music, SR)
    sf.write(voiced, lay_voice(music, voice, onset, gain_db, SR), SR)
    (out_dir / f"{slug}_voice.txt").write_text(f"{voice_name}\n")


def _build_human(name: str, n: int, onset: float, gain_db: float, out_dir: Path) -> None:
    """Render ``name`` (already built alone) with the human speech at ``onset``."""
    from synthetic import lay_voice

    music, sr = sf.read(out_dir / f"{_slug(name)}.flac", always_2d=True)
    log.info("%s + human speech at %.1f s (%+.1f dB)", name, onset, gain_db)
    sf.write(out_dir / f"{_slug(name)}_human.flac",
             lay_voice(music, _human(n), onset, gain_db, sr), sr)


def _slug(name: str) -> str:
    return name.replace("/", "_").replace(" ", "_").lower()


def vocal_set(*, build: bool = True, human: bool = True) -> list[VocalItem]:
    """Every instrumental alone and with a voice (built once; ``build=False``: only the
    renders already built; ``human=False``: without the human-speech renders)."""
    out_dir = cache_dir() / "vocals"
    out_dir.mkdir(parents=True, exist_ok=True)
    sources: list[tuple[str, Path | None]] = list(instrumentals())
    sources += [(f"synthetic/{bpm}", None) for bpm in (96, 120, 128, 140)]
    # Last, so the seeded draws of the sources before them stay as they were.
    sources += [(name, sorted(fetch(package).rglob(file))[0]) for name, package, file in SONGS]
    rng = random.Random(20261202)
    # Its own stream, so the first renders stay as they were when it was added.
    human_rng = random.Random(20261203)
    items: list[VocalItem] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        for n, (name, src) in enumerate(sources):
            slug = _slug(name)
            onset = round(rng.uniform(10.0, 45.0), 2)
            gain_db = round(rng.uniform(-6.0, 0.0), 1)
            human_onset = round(human_rng.uniform(10.0, 45.0), 2)
            human_gain_db = round(human_rng.uniform(-6.0, 0.0), 1)
            alone, voiced = out_dir / f"{slug}.flac", out_dir / f"{slug}_voice.flac"
            if build and not (alone.exists() and voiced.exists()) and not (
                    out_dir / f"{slug}.short").exists():
                _build_pair(name, src, n, onset, gain_db, out_dir, Path(tmp_name))
            if not (voiced.exists() and (out_dir / f"{slug}_voice.txt").exists()):
                continue
            voice_name = (out_dir / f"{slug}_voice.txt").read_text().strip()
            items.append(VocalItem(str(alone), name, *first_voice(name, None, None)))
            items.append(VocalItem(str(voiced), f"{name} + {voice_name}",
                                   *first_voice(name, onset, voice_name)))
            spoken = out_dir / f"{slug}_human.flac"
            if human and build and not spoken.exists():
                _build_human(name, n, human_onset, human_gain_db, out_dir)
            if human and spoken.exists():
                items.append(VocalItem(str(spoken), f"{name} + human",
                                       *first_voice(name, human_onset, "human")))
    return items


#: Length of the :func:`vocal_start_set` cuts.
START_SECONDS = 60.0


def vocal_start_set(*, build: bool = True) -> list[VocalItem]:
    """Voices the track opens on: every voiced render of :func:`vocal_set`, cut to begin
    0–1.5 s (seeded) before its first voice, and each cut's instrumental cut at the same
    second (no voice), :data:`START_SECONDS` long. Built once under
    ``~/.cache/segue/bench/vocals-start`` (``build=False``: only the cuts already made)."""
    out_dir = cache_dir() / "vocals-start"
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261204)
    base = vocal_set(build=build)
    alone = {it.name: it for it in base if " + " not in it.name}
    items: list[VocalItem] = []
    for it in base:
        if it.onset_s is None:
            continue
        cut = round(max(0.0, it.onset_s - rng.uniform(0.0, 1.5)), 2)
        pairs = [(it, round(it.onset_s - cut, 2))]
        source = alone.get(it.name.split(" + ")[0])
        if " + " in it.name and source is not None and source.onset_s is None:
            pairs.append((source, None))
        for render, truth in pairs:
            path = out_dir / f"{Path(render.path).stem}_from_{cut:.2f}.flac"
            if build and not path.exists():
                _cut(Path(render.path), cut, path)
            if path.exists():
                items.append(VocalItem(str(path), f"{render.name} from {cut:.2f} s", truth,
                                       render.voice if truth is not None else None))
    return items


def _cut(src: Path, start_s: float, out: Path) -> None:
    """``src`` from ``start_s`` on, :data:`START_SECONDS` long, written to ``out``."""
    info = sf.info(src)
    y, sr = sf.read(src, start=round(start_s * info.samplerate),
                    frames=round(START_SECONDS * info.samplerate), always_2d=True)
    tmp = out.with_suffix(".tmp.flac")
    sf.write(tmp, y, sr)
    tmp.rename(out)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(f"{len(vocal_set())} files, {len(vocal_start_set())} opening cuts")
