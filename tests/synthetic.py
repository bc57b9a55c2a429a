"""Synthetic tracks whose tempo, key, intro and outro are known by construction.

A track is a drum pattern (kick on every beat, hi-hat on the off-beats, snare on
2 and 4), a bass line and chords of a cadence that leaves no doubt about its key
(I–IV–V–I in major, i–iv–V–i in minor, one chord per bar). The intro and outro
play only hi-hats and a soft pad, about 15 dB below the body, so "where the song
arrives" is known to the sample. ``SynthSpec.style`` picks other drum patterns
(:data:`STYLES`: rock, half-time, drum & bass, metal, ballad) for tempo benchmarks;
the default, ``"four"``, is the pattern above.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
MINOR_STEPS = (0, 2, 3, 5, 7, 8, 11)  # harmonic minor: the raised 7th makes V major

#: Drum patterns: for each instrument, onsets in beats from the start of a 4/4 bar.
#: Hats also play (softly) in the intro and outro; kick and snare only in the body.
STYLES: dict[str, dict[str, tuple[float, ...]]] = {
    # house/techno: four on the floor, off-beat hats, clap on 2 and 4
    "four": {"hat": (0.5, 1.5, 2.5, 3.5), "kick": (0, 1, 2, 3), "snare": (1, 3)},
    # rock: kick on 1 and 3, snare on 2 and 4, eighth-note hats
    "rock": {"hat": tuple(i / 2 for i in range(8)), "kick": (0, 2, 2.5), "snare": (1, 3)},
    # half-time: kick on 1, snare on 3, sixteenth hats
    "halftime": {"hat": tuple(i / 4 for i in range(16)), "kick": (0, 1.75), "snare": (2,)},
    # drum & bass two-step: kick on 1 and the "and" of 3, snare on 2 and 4
    "breakbeat": {"hat": tuple(i / 2 for i in range(8)), "kick": (0, 2.5), "snare": (1, 3)},
    # metal: double kick on every eighth, snare on 2 and 4, ride on the beat
    "metal": {"hat": (0, 1, 2, 3), "kick": tuple(i / 2 for i in range(8)), "snare": (1, 3)},
    # ballad: kick and snare only, no hats (the intro is the pad alone)
    "sparse": {"hat": (), "kick": (0, 2), "snare": (1, 3)},
    # electro / trance: four on the floor, busy sixteenth hats, clap on 2 and 4
    "busyhats": {"hat": tuple(i / 4 for i in range(16)), "kick": (0, 1, 2, 3), "snare": (1, 3)},
}


@dataclass(frozen=True)
class SynthSpec:
    """What to build; every field is the known answer for that feature."""

    bpm: float = 120.0
    tonic: int = 9  # pitch class, 0 = C
    mode: str = "minor"
    intro_bars: int = 4
    body_bars: int = 8
    outro_bars: int = 4
    sr: int = 44100
    seed: int = 0
    #: Drum pattern, a key of :data:`STYLES` ("four": kick on every beat).
    style: str = "four"

    @property
    def bar_s(self) -> float:
        """Length of one 4/4 bar in seconds."""
        return 4 * 60.0 / self.bpm

    @property
    def intro_end_s(self) -> float:
        """Where the body starts."""
        return self.intro_bars * self.bar_s

    @property
    def outro_start_s(self) -> float:
        """Where the outro starts."""
        return (self.intro_bars + self.body_bars) * self.bar_s

    @property
    def duration_s(self) -> float:
        """Total length."""
        return (self.intro_bars + self.body_bars + self.outro_bars) * self.bar_s


def _tone(freq: float, n: int, sr: int, harmonics: int = 4) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n)
    for h in range(1, harmonics + 1):
        out += np.sin(2 * np.pi * freq * h * t) / h
    return out


def _env(n: int, sr: int, decay_s: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (decay_s * sr))


def _midi_hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def synthesize(spec: SynthSpec) -> np.ndarray:
    """Render ``spec`` to a stereo float32 array of shape (n, 2) at about −14 LUFS."""
    rng = np.random.default_rng(spec.seed)
    sr = spec.sr
    beat = 60.0 / spec.bpm
    total_bars = spec.intro_bars + spec.body_bars + spec.outro_bars
    n = round(spec.duration_s * sr)
    body = np.zeros(n)
    soft = np.zeros(n)
    steps = MAJOR_STEPS if spec.mode == "major" else MINOR_STEPS
    degrees = (0, 3, 4, 0)  # I IV V I
    kick_n = int(0.25 * sr)
    t_k = np.arange(kick_n) / sr
    sweep = 50 * t_k + 60 * (1 - np.exp(-t_k * 30)) / 30  # pitch falls from 110 to 50 Hz
    kick = np.sin(2 * np.pi * sweep) * _env(kick_n, sr, 0.08)
    hat_n = int(0.05 * sr)
    hat = np.diff(rng.standard_normal(hat_n + 1)) * _env(hat_n, sr, 0.01) * 0.25
    snare_n = int(0.2 * sr)
    snare = rng.standard_normal(snare_n) * _env(snare_n, sr, 0.05) * 0.4
    for bar in range(total_bars):
        in_body = spec.intro_bars <= bar < spec.intro_bars + spec.body_bars
        degree = degrees[bar % 4]
        root = 48 + spec.tonic + steps[degree]  # around C3
        chord = [root, 48 + spec.tonic + steps[(degree + 2) % 7] + (12 if degree + 2 >= 7 else 0),
                 48 + spec.tonic + steps[(degree + 4) % 7] + (12 if degree + 4 >= 7 else 0)]
        bar_start = round(bar * 4 * beat * sr)
        bar_n = round(4 * beat * sr)
        seg = slice(bar_start, min(n, bar_start + bar_n))
        m = seg.stop - seg.start
        pad = sum(_tone(_midi_hz(note + 12), m, sr, 3) for note in chord) / 3
        fade = np.minimum(1, np.minimum(np.arange(m), m - np.arange(m)) / (0.01 * sr))
        soft[seg] += 0.08 * pad * fade
        if in_body:
            body[seg] += 0.22 * pad * fade
            bass = _tone(_midi_hz(root - 12), m, sr, 3) * fade
            body[seg] += 0.25 * bass
        pattern = STYLES[spec.style]
        for name, sound, gain, target in (
            ("hat", hat, 1.0, soft),
            ("kick", kick, 0.9, body if in_body else None),
            ("snare", snare, 1.0, body if in_body else None),
        ):
            if target is None:
                continue
            for pos in pattern[name]:
                start = bar_start + round(pos * beat * sr)
                end = min(n, start + len(sound))
                if end > start:
                    target[start:end] += gain * sound[: end - start]
    mono = body + soft
    mono /= np.sqrt(np.mean(mono**2)) * 10 ** (14 / 20) * 1.0  # about −14 dBFS RMS
    stereo = np.stack([mono, mono], axis=1) * 0.9
    return stereo.astype(np.float32)


def write_track(path: Path, spec: SynthSpec, *, title: str | None = None,
                artist: str | None = None) -> Path:
    """Write ``spec`` as a WAV/FLAC/OGG file (by extension) with optional tags."""
    data = synthesize(spec)
    sf.write(path, data, spec.sr)
    if title or artist:
        import mutagen

        audio = mutagen.File(path, easy=True)
        if audio is not None:
            if audio.tags is None:
                audio.add_tags()
            if title:
                audio.tags["title"] = title
            if artist:
                audio.tags["artist"] = artist
            audio.save()
    return path


def known_track(path: Path, spec: SynthSpec, *, title: str, artist: str, energy: float,
                genre: str | None = None) -> Any:
    """A synthetic track at ``path`` (written when missing) with its analysis known.

    The analysis is the construction's ground truth (tempo, grid, key, cues), not a
    measurement, so engine tests and benchmarks need no analysis run.
    """
    from segue.models import Tags, Track, TrackAnalysis

    if not path.exists():
        write_track(path, spec, title=title, artist=artist)
    beat = 60.0 / spec.bpm
    n = int(spec.duration_s / beat)
    names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    minor = spec.mode == "minor"
    # Camelot: A minor = 8A, C major = 8B; a fifth up is one step clockwise.
    number = ((spec.tonic + (3 if minor else 0)) * 7 % 12 + 8 - 1) % 12 + 1
    analysis = TrackAnalysis(
        duration_s=spec.duration_s, bpm=spec.bpm, bpm_confidence=0.9,
        beat_times_s=tuple(i * beat for i in range(n)),
        downbeat_times_s=tuple(i * beat for i in range(0, n, 4)),
        key=f"{names[spec.tonic]} {spec.mode}", camelot=f"{number}{'A' if minor else 'B'}",
        key_confidence=0.9, lufs=-14.0, peak_dbfs=-3.0, true_peak_dbtp=-3.0, energy=energy,
        first_sound_s=0.0, last_sound_s=spec.duration_s, intro_end_s=spec.intro_end_s,
        outro_start_s=spec.outro_start_s,
    )  # fmt: skip
    return Track(path=str(path), tags=Tags(title=title, artist=artist, genre=genre),
                 analysis=analysis)


def band_shelf(folder: Path, count: int, *, name: str, body_bars: int = 8, outro_bars: int = 2,
               seed: int = 0, genres: tuple[str, ...] = ()) -> list[Any]:
    """``count`` known 120 BPM tracks in ``folder``, each by its own band.

    Titles are ``"{name} i"`` and artists ``"Band i"``; energy rises by 0.05 a track from
    0.4; ``genres`` (when given) are cycled.
    """
    stem = name.casefold()[0]
    return [known_track(folder / f"{stem}{i}.flac",
                        SynthSpec(bpm=120, intro_bars=2, body_bars=body_bars,
                                  outro_bars=outro_bars, seed=seed + i),
                        title=f"{name} {i}", artist=f"Band {i}", energy=0.4 + 0.05 * i,
                        genre=genres[i % len(genres)] if genres else None)
            for i in range(count)]  # fmt: skip


#: Vowel formants (Hz) and bandwidths of a sung voice (Peterson & Barney, rounded).
VOWELS: dict[str, tuple[tuple[float, float], ...]] = {
    "a": ((730, 90), (1090, 110), (2440, 160)),
    "e": ((530, 60), (1840, 100), (2480, 160)),
    "i": ((390, 60), (1990, 100), (2550, 160)),
    "o": ((570, 70), (840, 80), (2410, 160)),
    "u": ((440, 70), (1020, 80), (2240, 160)),
}


def sung_voice(seconds: float, *, sr: int = 44100, tonic: int = 9, seed: int = 0,
               f0_midi: int = 57, vibrato_hz: float = 5.5, vibrato_cents: float = 45.0
               ) -> np.ndarray:
    """A sung-like voice, mono float64 at about -20 dBFS RMS: a melody of sung syllables.

    Source-filter synthesis: a glottal pulse train (harmonics falling 12 dB per octave)
    whose pitch follows a melody in the major scale on ``tonic`` around ``f0_midi``, with
    a vibrato of ``vibrato_cents`` at ``vibrato_hz`` and a little jitter, through the
    formants of a vowel that changes every note; each note is 0.3–0.9 s long, starts
    with a short consonant (filtered noise) and glides into its pitch, and phrases of
    4–8 notes are separated by breaths of 0.3–0.8 s. The voice starts at sample 0.
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    f0 = np.zeros(n)
    gate = np.zeros(n)
    vowel_of = np.zeros(n, dtype=int)
    t = 0
    names = list(VOWELS)
    base = f0_midi - (f0_midi - tonic) % 12  # the tonic at or below f0_midi
    note = base
    while t < n:
        for _ in range(int(rng.integers(4, 9))):
            length = round(rng.uniform(0.3, 0.9) * sr)
            end = min(n, t + length)
            prev = note
            degree = int(rng.integers(-2, 8))  # scale degrees around the tonic
            note = base + 12 * (degree // 7) + MAJOR_STEPS[degree % 7]
            glide = np.minimum(1.0, np.arange(end - t) / (0.06 * sr))
            f0[t:end] = _midi_hz(prev) + (_midi_hz(note) - _midi_hz(prev)) * glide
            gate[t:end] = np.minimum(1.0, np.minimum(np.arange(end - t),
                                                     end - t - np.arange(end - t)) / (0.03 * sr))
            vowel_of[t:end] = int(rng.integers(len(names)))
            t = end
            if t >= n:
                break
        t += round(rng.uniform(0.3, 0.8) * sr)
    times = np.arange(n) / sr
    vib = vibrato_cents * np.sin(2 * np.pi * vibrato_hz * times + rng.uniform(0, 6.3))
    jitter = np.convolve(rng.standard_normal(n), np.ones(400) / 400, mode="same") * 60.0
    freq = np.where(f0 > 0, f0, 100.0) * 2 ** ((vib + jitter) / 1200)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    source = np.zeros(n)
    for h in range(1, 25):
        source += np.where(freq * h < sr / 2 * 0.9, np.sin(h * phase) / h ** 2, 0.0)
    from scipy import signal as sig

    out = np.zeros(n)
    for v, name in enumerate(names):
        mask = vowel_of == v
        if not mask.any():
            continue
        y = np.zeros(n)
        for fc, bw in VOWELS[name]:
            r = np.exp(-np.pi * bw / sr)
            a = [1.0, -2 * r * np.cos(2 * np.pi * fc / sr), r * r]
            y += sig.lfilter([1 - r], a, source)
        out += np.where(mask, y, 0.0)
    out *= gate
    # consonants: a 40 ms burst of high-passed noise at every note start
    starts = np.flatnonzero(np.diff(np.concatenate([[0.0], gate > 0]).astype(int)) > 0)
    hp = sig.butter(2, 3000, "highpass", fs=sr, output="sos")
    for s in starts:
        m = min(n - s, round(0.04 * sr))
        burst = sig.sosfilt(hp, rng.standard_normal(m)) * np.exp(-np.arange(m) / (0.01 * sr))
        out[s : s + m] += 0.3 * burst * np.sqrt(np.mean(out**2) + 1e-12) * 3
    return out / (np.sqrt(np.mean(out**2)) + 1e-12) * 0.1


def lay_voice(music: np.ndarray, voice: np.ndarray, onset_s: float, gain_db: float,
              sr: int = 44100) -> np.ndarray:
    """``voice`` (mono) added to ``music`` (``(n, channels)``) from ``onset_s`` on.

    The voice is scaled so that its RMS over its active samples (above 5 % of its peak)
    is ``gain_db`` against the music's RMS from the onset on; the sum is scaled down
    when it would clip.
    """
    start = round(onset_s * sr)
    v = voice[: len(music) - start]
    active = np.abs(v) > 0.05 * np.abs(v).max()
    rms_v = np.sqrt(np.mean(v[active] ** 2))
    rms_m = np.sqrt(np.mean(music[start:] ** 2))
    out = music.astype(np.float64).copy()
    out[start : start + len(v)] += (v * rms_m / rms_v * 10 ** (gain_db / 20))[:, None]
    peak = np.abs(out).max()
    return out / peak * 0.9 if peak > 0.99 else out
