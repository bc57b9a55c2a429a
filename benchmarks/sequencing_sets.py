"""Random but realistic sets of analysed tracks for the sequencing benchmarks and tests.

A set mixes styles whose tempo, energy, loudness, loudness range and timbre are
drawn around what such music measures (house ~124 BPM and loud, ambient slow,
quiet and dynamic, drum and bass ~174 BPM, so half-time pairs occur, ...).
Keys are spread over the Camelot wheel with minor keys more common in dance
music; confidences are drawn so some tempos and keys are uncertain; artists
recur (a few artists per style, Zipf-like), albums within artists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segue.models import Tags, Track, TrackAnalysis


@dataclass(frozen=True)
class Style:
    name: str
    share: float
    bpm: tuple[float, float]  # mean, sd
    energy: tuple[float, float]  # beta a, b
    lufs: tuple[float, float]
    lra: tuple[float, float]
    minor: float  # share of minor keys


STYLES = (
    Style("house", 0.18, (124, 2.5), (6, 3), (-8.5, 1.5), (5, 1.5), 0.65),
    Style("techno", 0.12, (131, 4), (7, 2.5), (-8, 1.5), (4.5, 1.5), 0.8),
    Style("drum and bass", 0.08, (174, 2), (7, 2.5), (-8, 1.5), (5, 1.5), 0.75),
    Style("hip hop", 0.12, (92, 7), (4, 3), (-9.5, 2), (6, 2), 0.6),
    Style("pop", 0.18, (112, 14), (5, 3), (-9, 2), (6.5, 2), 0.45),
    Style("rock", 0.12, (126, 20), (5, 2.5), (-10, 2.5), (8, 2.5), 0.4),
    Style("ambient", 0.08, (84, 14), (1.5, 5), (-18, 4), (12, 4), 0.5),
    Style("disco", 0.07, (118, 5), (5, 2.5), (-11, 2), (7, 2), 0.4),
    Style("metal", 0.05, (140, 25), (7, 1.5), (-7.5, 1.5), (5, 1.5), 0.7),
)


def realistic_tracks(n: int, seed: int = 0) -> list[Track]:
    """``n`` tracks with features drawn as the module docstring says."""
    rng = np.random.default_rng(seed)
    shares = np.array([s.share for s in STYLES])
    style_ix = rng.choice(len(STYLES), size=n, p=shares / shares.sum())
    # A timbre centre per style (MFCCs 1..12) and a spread within the style.
    centres = rng.normal(0.0, 1.0, size=(len(STYLES), 12)) * np.array(
        [35, 20, 15, 10, 8, 7, 6, 5, 5, 4, 4, 4]) + np.array(
        [90, -5, 25, 5, 8, 2, 5, 2, 3, 0, 2, 0])  # fmt: skip
    artists_per_style = max(2, n // 25)
    tracks = []
    for k in range(n):
        st = STYLES[style_ix[k]]
        bpm = float(np.clip(rng.normal(*st.bpm), 60, 200))
        if rng.random() < 0.05:  # an occasional half/double-time reading
            bpm = bpm / 2 if bpm > 120 else bpm * 2
        minor = rng.random() < st.minor
        number = int(rng.integers(1, 13))
        camelot = f"{number}{'A' if minor else 'B'}"
        timbre = centres[style_ix[k]] + rng.normal(0.0, 1.0, 12) * np.array(
            [18, 12, 9, 7, 6, 5, 4, 4, 4, 3, 3, 3])  # fmt: skip
        lufs = float(rng.normal(*st.lufs))
        artist_rank = min(int(rng.zipf(1.6)), artists_per_style)
        artist = f"{st.name.title()} Artist {artist_rank}"
        analysis = TrackAnalysis(
            duration_s=float(rng.uniform(150, 420)),
            bpm=round(bpm, 2),
            bpm_confidence=round(float(rng.beta(5, 2)), 3),
            beat_times_s=(),
            key="",
            camelot=camelot,
            key_confidence=round(float(rng.beta(5, 2)), 3),
            lufs=round(lufs, 2),
            peak_dbfs=-1.0,
            energy=round(float(rng.beta(*st.energy)), 3),
            first_sound_s=0.0,
            last_sound_s=200.0,
            intro_end_s=16.0,
            outro_start_s=180.0,
            timbre=(round(lufs * 12 - 100, 2), *(round(float(v), 2) for v in timbre)),
        )
        extra = {"loudness_range_lu": round(float(max(1.0, rng.normal(*st.lra))), 1)}
        if "loudness_range_lu" in TrackAnalysis.__dataclass_fields__:
            analysis = TrackAnalysis(**{**analysis.__dict__, **extra})
        tags = Tags(title=f"Track {k}", artist=artist,
                    album=f"{artist} album {int(rng.integers(1, 4))}", genre=st.name)
        tracks.append(Track(path=f"/music/{st.name}/{k:05d}.flac", tags=tags,
                            analysis=analysis))
    return tracks
