"""Fit the octave-decision weights of :mod:`segue.analysis.tempo` and cross-validate them.

For every track of the real and synthetic tempo sets (analysis_sets.py), segue's own
front end computes the onset envelope and :func:`segue.analysis.tempo.candidate_features`
describes each metrical-level candidate. A logistic regression on pairwise differences
(true candidate minus each other one) gives the weights; leave-one-song-out
cross-validation (all stretches of a song held out together, the synthetic set always
in training) tells how well they carry to songs they were not fitted on.

    .venv/bin/python benchmarks/fit_tempo.py      # prints weights, fitted and LOSO accuracy

Paste the weights into ``OCTAVE_WEIGHTS`` and bump ``ANALYZER_VERSION``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis_sets import Item, real_tempo_set, synthetic_set
from segue.analysis import spectral, tempo
from segue.analysis.decode import iter_chunks

RESULTS = Path(__file__).resolve().parent / "results"


def onset_of(item: Item) -> tuple[np.ndarray, np.ndarray, float]:
    """Onset envelopes (full, low band) and frame rate of a file (cached in results/)."""
    cache = RESULTS / "onsets" / (Path(item.path).stem + ".npz")
    if cache.exists():
        data = np.load(cache)
        if "low" in data:
            return data["onset"], data["low"], float(data["fps"])
    dec = spectral.Decimator()
    for chunk in iter_chunks(item.path, sr=44100):
        dec.update(chunk)
    frames = spectral.frame_features(dec.result(), 44100 // spectral.DECIMATION)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, onset=frames.onset, low=frames.onset_low, fps=frames.fps)
    return frames.onset, frames.onset_low, frames.fps


def main() -> int:
    rows = []
    for group, items in (("real", real_tempo_set()), ("synthetic", synthetic_set())):
        for it in items:
            onset, low, fps = onset_of(it)
            ac, ac_low = tempo.periodicity(onset, fps), tempo.periodicity(low, fps)
            cands = tempo.tempo_candidates(ac, fps)
            feats = np.array([tempo.candidate_features(ac, fps, c, ac_low) for c in cands])
            song = it.name.split(" ")[0] if group == "real" else "synthetic"
            rows.append((it, song, cands, feats))

    def fit(train: list) -> np.ndarray:  # type: ignore[type-arg]
        x, y = [], []
        for it, _song, cands, feats in train:
            good = [k for k, c in enumerate(cands) if abs(c / it.bpm - 1) <= 0.04]
            if not good:
                continue
            for k in range(len(cands)):
                if k not in good:
                    d = feats[good[0]] - feats[k]
                    x += [d, -d]
                    y += [1, 0]
        model = LogisticRegression(C=1.0, fit_intercept=False, max_iter=2000)
        return model.fit(np.array(x), np.array(y)).coef_[0]

    def accuracy(test: list, w: np.ndarray) -> list[bool]:  # type: ignore[type-arg]
        return [abs(cands[int(np.argmax(feats @ w))] / it.bpm - 1) <= 0.04
                for it, _s, cands, feats in test]

    songs = sorted({s for _, s, _, _ in rows if s != "synthetic"})
    loso: list[bool] = []
    for song in songs:
        w = fit([r for r in rows if r[1] != song])
        loso += accuracy([r for r in rows if r[1] == song], w)
    w = fit(rows)
    real = [r for r in rows if r[1] != "synthetic"]
    synth = [r for r in rows if r[1] == "synthetic"]
    coverage = np.mean([any(abs(c / it.bpm - 1) <= 0.04 for c in cands)
                        for it, _s, cands, _f in rows])
    print("weights:", np.array2string(np.round(w, 2), separator=", "))
    print(f"candidates include the truth: {100 * coverage:.1f} %")
    print(f"Acc1 real, fitted on all: {100 * np.mean(accuracy(real, w)):.1f} %")
    print(f"Acc1 real, leave one song out: {100 * np.mean(loso):.1f} %")
    print(f"Acc1 synthetic, fitted on all: {100 * np.mean(accuracy(synth, w)):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
