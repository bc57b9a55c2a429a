"""The features of a whole set as arrays, cleaned once, so costs are vectorised.

Every value a cost term reads is sanitised here: a tempo that is missing, NaN,
outside 30–300 BPM or comes with no confidence is *unknown* (NaN), a Camelot
code that does not parse is unknown (key number 0), a NaN energy or a timbre
vector with NaN or missing coefficients is unknown. Terms treat unknown values
as neutral (they cost nothing), and reasons say "uncertain".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from segue.models import Track

FloatVec = npt.NDArray[np.float64]
IntVec = npt.NDArray[np.int64]

_CAMELOT = re.compile(r"^\s*(1[0-2]|[1-9])\s*([AaBb])\s*$")
_GENRE_SPLIT = re.compile(r"[/;,|]")
MIN_BPM, MAX_BPM = 30.0, 300.0


def parse_camelot(code: object) -> tuple[int, bool] | None:
    """``"8A"`` → ``(8, True)`` (number, minor); None for anything else."""
    if not isinstance(code, str):
        return None
    m = _CAMELOT.match(code)
    if m is None:
        return None
    return int(m.group(1)), m.group(2).upper() == "A"


def _finite(value: object, default: float = math.nan) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


def _confidence(value: object) -> float:
    return min(1.0, max(0.0, _finite(value, 0.0)))


def _known_name(name: str | None) -> str | None:
    if not name:
        return None
    folded = name.strip().casefold()
    if not folded or folded.startswith("unknown"):
        return None
    return folded


def _ids(names: Sequence[str | None]) -> IntVec:
    table: dict[str, int] = {}
    return np.array(
        [-1 if n is None else table.setdefault(n, len(table)) for n in names], dtype=np.int64
    )


@dataclass(frozen=True, eq=False)
class SetFeatures:
    """What the cost terms read, one entry per track (input order).

    Attributes
    ----------
    bpm : tempo, NaN when unknown.
    bpm_conf : tempo confidence 0–1 (0 when unknown).
    key_num : Camelot number 1–12, 0 when the key is unknown.
    key_minor : True for the ``A`` (minor) side of the wheel.
    key_conf : key confidence 0–1 (0 when unknown).
    energy : 0–1, NaN when unknown.
    timbre : shape ``(n, d)`` mean MFCCs 1..d (coefficient 0 follows loudness and
        is left out); rows of NaN when unknown; ``d`` may be 0.
    loudness_range_lu : EBU R128 loudness range, NaN when unknown.
    lufs : integrated loudness of the file as mastered, NaN when unknown.
    artist, album : ids (−1 unknown); an album is identified by album and artist.
    genres : the set of genre words of each track (empty when unknown).
    genre_clash : 1 where two tracks both have genres and share none (``(n, n)``).

    """

    bpm: FloatVec
    bpm_conf: FloatVec
    key_num: IntVec
    key_minor: npt.NDArray[np.bool_]
    key_conf: FloatVec
    energy: FloatVec
    timbre: FloatVec
    loudness_range_lu: FloatVec
    lufs: FloatVec
    artist: IntVec
    album: IntVec
    genres: tuple[frozenset[str], ...]
    genre_clash: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.bpm)

    @classmethod
    def from_tracks(cls, tracks: Sequence[Track]) -> SetFeatures:
        """Collect and sanitise the features of ``tracks``."""
        bpm, bpm_conf, key_num, key_minor, key_conf = [], [], [], [], []
        energy, lra, lufs = [], [], []
        for t in tracks:
            a = t.analysis
            b = _finite(a.bpm)
            c = _confidence(a.bpm_confidence)
            known_bpm = MIN_BPM <= b <= MAX_BPM and c > 0
            bpm.append(b if known_bpm else math.nan)
            bpm_conf.append(c if known_bpm else 0.0)
            key = parse_camelot(a.camelot)
            kc = _confidence(a.key_confidence)
            key_num.append(key[0] if key and kc > 0 else 0)
            key_minor.append(bool(key and key[1]))
            key_conf.append(kc if key else 0.0)
            e = _finite(a.energy)
            energy.append(min(1.0, max(0.0, e)) if math.isfinite(e) else math.nan)
            lra.append(_finite(getattr(a, "loudness_range_lu", None)))
            lufs.append(_finite(a.lufs))
        artists = [_known_name(t.tags.artist) for t in tracks]
        albums = [
            None if art is None or _known_name(t.tags.album) is None
            else f"{_known_name(t.tags.album)}\x00{art}"
            for t, art in zip(tracks, artists, strict=True)
        ]  # fmt: skip
        genres = tuple(
            frozenset(g.strip().casefold() for g in _GENRE_SPLIT.split(t.tags.genre or "")
                      if g.strip())
            for t in tracks
        )  # fmt: skip
        return cls(
            bpm=np.array(bpm, dtype=np.float64),
            bpm_conf=np.array(bpm_conf, dtype=np.float64),
            key_num=np.array(key_num, dtype=np.int64),
            key_minor=np.array(key_minor, dtype=np.bool_),
            key_conf=np.array(key_conf, dtype=np.float64),
            energy=np.array(energy, dtype=np.float64),
            timbre=_timbre_matrix([t.analysis.timbre for t in tracks]),
            loudness_range_lu=np.array(lra, dtype=np.float64),
            lufs=np.array(lufs, dtype=np.float64),
            artist=_ids(artists),
            album=_ids(albums),
            genres=genres,
            genre_clash=_genre_clash(genres),
        )


def _genre_clash(genres: Sequence[frozenset[str]]) -> npt.NDArray[np.float64]:
    """1 for pairs whose genre sets are both known and disjoint; built per distinct set."""
    table: dict[frozenset[str], int] = {}
    gid = np.array([table.setdefault(g, len(table)) for g in genres], dtype=np.int64)
    sets = list(table)
    clash = np.array([[float(bool(a) and bool(b) and not (a & b)) for b in sets] for a in sets],
                     dtype=np.float64).reshape(len(sets), len(sets))  # fmt: skip
    return np.asarray(clash[gid[:, None], gid[None, :]], dtype=np.float64)


def _timbre_matrix(vectors: Sequence[Sequence[float]]) -> FloatVec:
    """Rows of MFCCs 1..d; ``d`` is the most common vector length (minus coefficient 0)."""
    lengths = Counter(len(v) for v in vectors if len(v) >= 2)
    if not lengths:
        return np.zeros((len(vectors), 0))
    d = lengths.most_common(1)[0][0]
    out = np.full((len(vectors), d - 1), np.nan)
    for row, v in enumerate(vectors):
        if len(v) == d:
            values = np.array([_finite(x) for x in v[1:]])
            if np.all(np.isfinite(values)):
                out[row] = values
    return out
