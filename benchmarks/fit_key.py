"""Fit the key weights of :mod:`segue.analysis.key` without seeing the hard test set.

For every track, segue's own front end (decode, 4:1 decimation, :func:`chromagram`)
and :func:`segue.analysis.key.key_features` describe it; a multinomial logistic
regression over the 24 keys, with one weight vector per mode shared by all tonics
(the features rotated to each candidate tonic), gives the weights. The L2 penalty
pulls them toward Temperley's profile on the chroma block and zero elsewhere.

The protocol keeps training and test apart:

- **Training** is the plain key set (``key_set``) plus the development variant of the
  hard key set (``hard_key_set(dev=True)``: same generator, other variants, melody
  seeds and tempi).
- **Validation** is leave-one-pattern-out inside the training set: every (set, mode,
  progression/texture) pattern, in all its tonics, is predicted by weights fitted on
  the other patterns. That figure says how the model does on a progression and
  texture it has not seen, and it chose the features and the L2 strength.
- **Test** is ``hard_key_set()``, measured by ``bench_analysis.py --sets keys-hard``
  with the weights printed here, never used for fitting.

    .venv/bin/python benchmarks/fit_key.py            # CV figures and the weights

Paste the printed weights into ``MAJOR_WEIGHTS`` / ``MINOR_WEIGHTS`` and bump
``ANALYZER_VERSION``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis_sets import Item, hard_key_set, key_set, mirex_score
from segue.analysis import key, spectral
from segue.analysis.decode import iter_chunks, measurement_rate, source_rate

#: L2 strengths tried; the one with the best leave-one-pattern-out score is used.
LAMBDAS = (1e-3, 3e-4, 1e-4, 3e-5)
#: Scale of the Temperley prior (features sum to 1 per block, so weights are large).
PRIOR_SCALE = 10.0


def features_of(item: Item) -> np.ndarray:
    """segue's key features of one file, through the same front end as the analysis."""
    p = Path(item.path)
    sr = measurement_rate(source_rate(p))
    dec = spectral.Decimator()
    for chunk in iter_chunks(p, sr=sr, channels=2):
        dec.update(chunk)
    return key.key_features(spectral.chromagram(dec.result(), sr // spectral.DECIMATION))


def prior() -> np.ndarray:
    """Weights the fit is pulled toward, shape ``(2, 48)``: centred Temperley on the chroma."""
    w = np.zeros((2, key.N_FEATURES))
    for mode, profile in enumerate(key.PROFILES["temperley"]):
        w[mode, :12] = PRIOR_SCALE * (profile - profile.mean())
    return w


def design(features: np.ndarray) -> np.ndarray:
    """Rotated features, shape ``(tracks, 12 tonics, 48)``."""
    return np.stack([[key.rotate_features(f, t) for t in range(12)] for f in features])


def logits(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Scores of the 24 keys for every track, shape ``(tracks, 24)``."""
    return np.concatenate([x @ w[0], x @ w[1]], axis=1)


def fit(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Weights ``(2, 48)`` minimising cross-entropy + ``lam`` · ||w − prior||²."""
    w0 = prior()
    rows = np.arange(len(y))

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = flat.reshape(w0.shape)
        s = logits(w, x)
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.log(p[rows, y] + 1e-12).mean() + lam * ((w - w0) ** 2).sum()
        g = p
        g[rows, y] -= 1.0
        g /= len(y)
        grad = np.stack([np.einsum("nt,ntd->d", g[:, :12], x),
                         np.einsum("nt,ntd->d", g[:, 12:], x)]) + 2 * lam * (w - w0)
        return float(value), grad.ravel()

    res = minimize(loss, w0.ravel(), jac=True, method="L-BFGS-B")
    out: np.ndarray = res.x.reshape(w0.shape)
    return out


def mirex(truth: int, est: int) -> float:
    """MIREX weighted score of key indices (``t`` major, ``12 + t`` minor)."""
    modes = ("major", "minor")
    return mirex_score(truth % 12, modes[truth // 12], est % 12, modes[est // 12])


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    sets = {"plain": key_set(), "dev": hard_key_set(dev=True)}
    feats, truth, groups, set_of = [], [], [], []
    for name, items in sets.items():
        for i, item in enumerate(items):
            feats.append(features_of(item))
            index = int(item.tonic or 0) + (12 if item.mode == "minor" else 0)
            truth.append(index)
            k = i % 2
            # the pattern (progression/texture) the generator picks, as in analysis_sets
            variant = (index % 12) * 2 + k + (3 if name == "dev" else index // 12)
            groups.append(f"{name}/{item.mode}/{variant % (6 if name == 'dev' else 8)}")
            set_of.append(name)
    x, y = design(np.array(feats)), np.array(truth)
    names = sorted(set(groups))
    gid = np.array([names.index(g) for g in groups])
    sel = {s: np.array([t == s for t in set_of]) for s in sets}
    best: tuple[float, float] | None = None
    base = logits(prior(), x).argmax(axis=1)
    print("Temperley prior alone: " + ", ".join(
        f"{s} {np.mean([mirex(a, b) for a, b in zip(y[m], base[m], strict=True)]):.3f}"
        for s, m in sel.items()))
    for lam in LAMBDAS:
        est = np.zeros(len(y), int)
        for g in range(len(names)):
            held = gid == g
            est[held] = logits(fit(x[~held], y[~held], lam), x[held]).argmax(axis=1)
        score = {s: float(np.mean([mirex(a, b) for a, b in zip(y[m], est[m], strict=True)]))
                 for s, m in sel.items()}
        print(f"lambda {lam:g}: leave-one-pattern-out MIREX "
              + ", ".join(f"{s} {v:.3f}" for s, v in score.items()))
        total = sum(score.values())
        if best is None or total > best[0] + 1e-9:
            best = (total, lam)
    assert best is not None
    lam = best[1]
    w = fit(x, y, lam)
    full = logits(w, x).argmax(axis=1)
    in_sample = {s: np.mean([mirex(a, b) for a, b in zip(y[m], full[m], strict=True)])
                 for s, m in sel.items()}
    print(f"chosen lambda {lam:g}; in-sample MIREX "
          + ", ".join(f"{s} {v:.3f}" for s, v in in_sample.items()))
    for label, row in (("MAJOR_WEIGHTS", w[0]), ("MINOR_WEIGHTS", w[1])):
        body = ", ".join(f"{v:.2f}" for v in row)
        print(f"{label}: F64 = np.array([{body}])")


if __name__ == "__main__":
    main()
