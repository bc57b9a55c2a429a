"""Fit the voice detector's logistic weights (``structure.VOICE_WEIGHTS``) on the vocal set.

Usage::

    .venv/bin/python benchmarks/fit_vocal.py            # fit, cross-validate, print weights

Every block (0.5 s) of every render in ``vocal_sets.vocal_set()`` is an example: blocks
of the instrumentals alone and blocks before the voice enters are 0, blocks from half a
second after it are 1 (its pauses included). Features are
``structure.voice_features``; they are standardised for an L2-regularised logistic
regression, and the weights are mapped back to raw feature units for the library.
Cross-validation holds out whole instrumentals (both their renders), two folds, and
scores the onset decision of ``structure.onset_from_scores`` on the held-out
renders, for several thresholds on the voice score's step (``VOICE_STEP``): a hit is
an onset within 1 s of the truth; an onset reported on an instrumental alone, or more
than 1 s away, is a false positive. The step with the best held-out F1 is printed.
"""

from __future__ import annotations

import logging
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from analysis_sets import cache_dir
from segue.analysis import spectral, structure
from segue.analysis.decode import iter_chunks, measurement_rate, source_rate
from vocal_sets import VocalItem, vocal_set

HIT_S = 1.0
#: L2 regularisation (sklearn's C) of the standardised fit.
C = 0.3


def features(item: VocalItem, store: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    """(times, features, duration) of one render, cached in ``store`` by path."""
    if item.path not in store:
        p = Path(item.path)
        sr = measurement_rate(source_rate(p))
        dec = spectral.Decimator()
        n = 0
        for chunk in iter_chunks(p, sr=sr, channels=2):
            dec.update(chunk)
            n += chunk.shape[1]
        frames = spectral.frame_features(dec.result(), sr // spectral.DECIMATION)
        times, x = structure.voice_features(frames)
        audible = np.flatnonzero(frames.rms_db > structure.SILENCE_DB)
        first = float(frames.times_s[audible[0]]) if len(audible) else 0.0
        store[item.path] = (times, x, n / sr, first)
    times, x, duration, _first = store[item.path]
    return times, x, duration


def labels(item: VocalItem, times: np.ndarray) -> np.ndarray:
    """1 from half a second after the voice enters, else 0."""
    if item.onset_s is None:
        return np.zeros(len(times))
    return (times >= item.onset_s + 0.5).astype(float)


def fit(xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Raw-unit weights and bias of the standardised logistic regression."""
    from sklearn.linear_model import LogisticRegression

    x, y = np.concatenate(xs), np.concatenate(ys)
    mu, sd = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-9)
    model = LogisticRegression(C=C, max_iter=2000, class_weight="balanced")
    model.fit((x - mu) / sd, y)
    w = model.coef_[0] / sd
    return w, float(model.intercept_[0] - (model.coef_[0] * mu / sd).sum())


def score(items: list[VocalItem], store: dict[str, Any], w: np.ndarray, b: float,
          step: float = structure.VOICE_STEP) -> dict[str, Any]:
    """Onset precision, recall and errors of weights ``w``, ``b`` on ``items``."""
    hits = reported = positives = 0
    errors: list[float] = []
    rows = []
    saved = structure.VOICE_STEP
    structure.VOICE_STEP = step
    for it in items:
        times, x, duration = features(it, store)
        first = store[it.path][3]
        onset, conf = structure.onset_from_scores(times, x @ w + b, first, duration)
        positives += it.onset_s is not None
        reported += onset is not None
        hit = onset is not None and it.onset_s is not None and abs(onset - it.onset_s) <= HIT_S
        hits += hit
        if onset is not None and it.onset_s is not None:
            errors.append(abs(onset - it.onset_s))
        rows.append((it.name, it.onset_s, onset, conf))
    structure.VOICE_STEP = saved
    return {"precision": hits / reported if reported else float("nan"),
            "recall": hits / positives if positives else float("nan"),
            "median_error_s": float(np.median(errors)) if errors else float("nan"),
            "hits": hits, "reported": reported, "positives": positives, "rows": rows}


def _f1(results: list[dict[str, Any]]) -> float:
    hits = sum(r["hits"] for r in results)
    reported = sum(r["reported"] for r in results)
    positives = sum(r["positives"] for r in results)
    p, r = hits / max(reported, 1), hits / max(positives, 1)
    return 2 * p * r / (p + r) if p + r else 0.0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    items = vocal_set(build="--built-only" not in sys.argv)
    cache = cache_dir() / "vocal-features.pkl"
    store: dict[str, Any] = pickle.loads(cache.read_bytes()) if cache.exists() else {}
    sources = sorted({it.name.split(" + ")[0] for it in items})
    fold_of = {s: k % 2 for k, s in enumerate(sources)}
    held: list[tuple[Any, ...]] = []
    steps = (0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
    by_step: dict[float, list[dict[str, Any]]] = {s: [] for s in steps}
    for fold in (0, 1):
        train = [it for it in items if fold_of[it.name.split(" + ")[0]] != fold]
        test = [it for it in items if fold_of[it.name.split(" + ")[0]] == fold]
        xs, ys = [], []
        for it in train:
            times, x, _ = features(it, store)
            xs.append(x)
            ys.append(labels(it, times))
        w, b = fit(xs, ys)
        for st in steps:
            by_step[st].append(score(test, store, w, b, st))
    for st, results in by_step.items():
        hits = sum(r["hits"] for r in results)
        reported = sum(r["reported"] for r in results)
        positives = sum(r["positives"] for r in results)
        print(f"held out, step {st:4.2f}: precision {hits / max(reported, 1):.2f} "
              f"recall {hits / max(positives, 1):.2f}")
    chosen = max(steps, key=lambda st: _f1(by_step[st]))
    print(f"chosen step (best held-out F1): {chosen}")
    for r in by_step[chosen]:
        held += r["rows"]
    cache.write_bytes(pickle.dumps(store))
    xs, ys = [], []
    for it in items:
        times, x, _ = features(it, store)
        xs.append(x)
        ys.append(labels(it, times))
    w, b = fit(xs, ys)
    full = score(items, store, w, b, chosen)
    print(f"all (in-sample): precision {full['precision']:.2f} recall {full['recall']:.2f} "
          f"median error {full['median_error_s']:.2f} s")
    for name, truth, onset, conf in held:
        print(f"  held out: {name[:50]:50s} truth {truth} found {onset} ({conf})")
    print("VOICE_WEIGHTS = np.array([" + ", ".join(f"{v:.4g}" for v in w) + "])")
    print(f"VOICE_BIAS = {b:.4g}")
    print(f"VOICE_STEP = {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
