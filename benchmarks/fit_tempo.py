"""Fit the octave-decision weights of :mod:`segue.analysis.tempo` without seeing the test set.

For every track, segue's own front end computes the onset envelopes and
:func:`segue.analysis.tempo.candidate_features` describes each metrical-level
candidate. A logistic regression on pairwise differences (true candidate minus each
other one, every track weighing the same however many candidates it has) gives the
weights.

The protocol keeps training and test apart:

- **Training** is the synthetic drum set plus the MIDI set (MMA grooves in 70 styles
  and the openMSX songs, rendered by FluidSynth; analysis_sets.py). The L2 strength
  is chosen by cross-validation *inside* the training set (leave one style family /
  source out), never by looking at the real set.
- **Test** is the real set (Frets on Fire songs × five stretches): its Acc1/Acc2 are
  measured with weights that never saw it. That is the figure to quote.
- For reference only, the script also reports leave-one-song-out on the real set
  (weights refitted on training + the other real songs), leave-one-source-out
  (synthetic, MMA, openMSX, real: each predicted by weights fitted on the others), and
  leave-one-family-out inside the MMA set.

    .venv/bin/python benchmarks/fit_tempo.py            # prints weights and every figure
    .venv/bin/python benchmarks/fit_tempo.py --json     # the same, machine-readable

Paste the printed weights into ``OCTAVE_WEIGHTS`` and bump ``ANALYZER_VERSION``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis_sets import (
    Item,
    mma_tempo_set,
    openmsx_tempo_set,
    real_tempo_set,
    synthetic_set,
)
from segue.analysis import spectral, tempo
from segue.analysis.decode import iter_chunks

RESULTS = Path(__file__).resolve().parent / "results"
#: L2 strengths tried (inverse, as sklearn's ``C``); chosen by CV inside the training set.
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
_RELATED = (1.0, 2.0, 0.5, 3.0, 1 / 3)


@dataclass
class Row:
    """One track: its truth, its candidates and their features."""

    item: Item
    source: str  # synthetic, mma, openmsx, real
    group: str   # the unit held out together: a real song, an MMA family, ...
    cands: list[float]
    feats: np.ndarray


def onsets_of(item: Item, source: str) -> dict[str, np.ndarray]:
    """Onset envelopes of a file and their frame rate (cached in results/onsets)."""
    cache = RESULTS / "onsets" / f"{source}-{Path(item.path).stem}.npz"
    if cache.exists():
        data = np.load(cache)
        return {k: data[k] for k in data.files}
    dec = spectral.Decimator()
    for chunk in iter_chunks(item.path, sr=44100):
        dec.update(chunk)
    frames = spectral.frame_features(dec.result(), 44100 // spectral.DECIMATION)
    cache.parent.mkdir(parents=True, exist_ok=True)
    out = {"onset": frames.onset, "low": frames.onset_low, "mid": frames.onset_mid,
           "high": frames.onset_high, "fps": np.array(frames.fps)}
    np.savez(cache, **out)
    return out


def rows_of(source: str, items: list[Item]) -> list[Row]:
    """Candidates and features of every item of one source."""
    rows = []
    for it in items:
        o = onsets_of(it, source)
        fps = float(o["fps"])
        p = tempo.periodicities(o["onset"], fps, onset_low=o["low"], onset_mid=o["mid"],
                                onset_high=o["high"])
        cands = tempo.tempo_candidates(p.full, fps)
        feats = np.array([tempo.candidate_features(p, fps, c) for c in cands])
        if source == "real":
            group = it.name.split(" ")[0]
        elif source == "mma":
            group = it.name.split("/")[0]
        else:
            group = source
        rows.append(Row(it, source, group, cands, feats))
    return rows


def fit(train: list[Row], c: float) -> np.ndarray:
    """Pairwise logistic regression (no intercept, L2 with strength ``1/c``)."""
    x, y, wt = [], [], []
    for r in train:
        truth = float(r.item.bpm or 0.0)
        good = [k for k, b in enumerate(r.cands) if abs(b / truth - 1) <= 0.04]
        if not good:
            continue
        bad = [k for k in range(len(r.cands)) if k not in good]
        for k in bad:
            d = r.feats[good[0]] - r.feats[k]
            x += [d, -d]
            y += [1, 0]
            wt += [1.0 / len(bad)] * 2
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=5000)
    model.fit(np.array(x), np.array(y), sample_weight=np.array(wt))
    return np.asarray(model.coef_[0])


def chosen(r: Row, w: np.ndarray) -> float:
    """The candidate the weights pick."""
    return r.cands[int(np.argmax(r.feats @ w))] if r.cands else 0.0


def scores(rows: list[Row], w: np.ndarray | Callable[[Row], np.ndarray]) -> dict[str, float]:
    """Acc1 and Acc2 (percent) of the weights (or a per-row weight function) on ``rows``."""
    acc1 = acc2 = 0
    for r in rows:
        wr = w(r) if callable(w) else w
        est, truth = chosen(r, wr), float(r.item.bpm or 0.0)
        acc1 += abs(est / truth - 1) <= 0.04
        acc2 += any(abs(est / (truth * f) - 1) <= 0.04 for f in _RELATED)
    n = max(1, len(rows))
    return {"acc1": 100.0 * acc1 / n, "acc2": 100.0 * acc2 / n, "n": len(rows)}


def held_out(rows: list[Row], key: Callable[[Row], str], c: float,
             always: list[Row] | None = None) -> tuple[list[Row], dict[int, np.ndarray]]:
    """Weights for each row fitted without its ``key`` group (plus ``always`` in training)."""
    weights: dict[int, np.ndarray] = {}
    for g in sorted({key(r) for r in rows}):
        train = [r for r in rows if key(r) != g] + (always or [])
        w = fit(train, c)
        for r in rows:
            if key(r) == g:
                weights[id(r)] = w
    return rows, weights


def choose_c(train: list[Row]) -> tuple[float, dict[float, float]]:
    """The L2 strength with the best held-out Acc1 inside ``train`` (groups held out).

    Groups: the synthetic set, the openMSX songs and each MMA style family. Ties go to
    the stronger regularisation (smaller ``C``).
    """
    table: dict[float, float] = {}
    for c in C_GRID:
        _, ws = held_out(train, lambda r: r.group, c)
        table[c] = scores(train, lambda r, ws=ws: ws[id(r)])["acc1"]  # type: ignore[misc]
    best = max(C_GRID, key=lambda c: (round(table[c], 6), -c))
    return best, table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()

    synth = rows_of("synthetic", synthetic_set())
    mma = rows_of("mma", mma_tempo_set())
    msx = rows_of("openmsx", openmsx_tempo_set())
    real = rows_of("real", real_tempo_set())
    train = synth + mma + msx

    c, c_table = choose_c(train)
    w = fit(train, c)
    report: dict[str, object] = {
        "features": len(w),
        "C": c,
        "C_cv_acc1": c_table,
        "weights": [round(float(v), 2) for v in w],
        "coverage": {name: 100.0 * float(np.mean([any(abs(b / float(r.item.bpm or 1) - 1)
                                                       <= 0.04 for b in r.cands) for r in rs]))
                     for name, rs in (("synthetic", synth), ("mma", mma), ("openmsx", msx),
                                      ("real", real))},
        # the honest figure: real set, weights fitted on synthetic + MIDI only
        "real_unseen": scores(real, w),
        "train_fitted": {"synthetic": scores(synth, w), "mma": scores(mma, w),
                         "openmsx": scores(msx, w)},
    }
    _, ws = held_out(train, lambda r: r.group, c)
    report["train_leave_one_group_out"] = {
        name: scores(rs, lambda r, ws=ws: ws[id(r)])  # type: ignore[misc]
        for name, rs in (("synthetic", synth), ("mma", mma), ("openmsx", msx))}
    report["mma_family_held_out"] = {
        fam: scores([r for r in mma if r.group == fam], lambda r, ws=ws: ws[id(r)])  # type: ignore[misc]
        for fam in sorted({r.group for r in mma})}
    _, ws = held_out(real, lambda r: r.group, c, always=train)
    report["real_leave_one_song_out"] = scores(real, lambda r, ws=ws: ws[id(r)])  # type: ignore[misc]
    everything = train + real
    _, ws = held_out(everything, lambda r: r.source, c)
    report["leave_one_source_out"] = {
        s: scores([r for r in everything if r.source == s],
                  lambda r, ws=ws: ws[id(r)])  # type: ignore[misc]
        for s in ("synthetic", "mma", "openmsx", "real")}
    report["real_fitted_on_all"] = scores(real, fit(everything, c))

    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print("weights:", np.array2string(np.round(w, 2), separator=", "))
    print(f"L2: C = {c} (held-out Acc1 inside training: "
          + ", ".join(f"{k:g}: {v:.1f}" for k, v in c_table.items()) + ")")
    print("candidates include the truth (%):",
          ", ".join(f"{k} {v:.1f}" for k, v in report["coverage"].items()))  # type: ignore[attr-defined]

    def line(label: str, s: dict[str, float]) -> None:
        print(f"  {label:44s} Acc1 {s['acc1']:5.1f} %  Acc2 {s['acc2']:5.1f} %  (n={s['n']})")

    print("real set, weights fitted on synthetic + MIDI only (the honest figure):")
    line("real", report["real_unseen"])  # type: ignore[arg-type]
    print("training sets, fitted:")
    for k, v in report["train_fitted"].items():  # type: ignore[attr-defined]
        line(k, v)
    print("training sets, leave one group out (MMA family / source):")
    for k, v in report["train_leave_one_group_out"].items():  # type: ignore[attr-defined]
        line(k, v)
    print("MMA, each style family held out:")
    for k, v in report["mma_family_held_out"].items():  # type: ignore[attr-defined]
        line("  " + k, v)
    print("leave one source out (each source predicted by weights fitted on the others):")
    for k, v in report["leave_one_source_out"].items():  # type: ignore[attr-defined]
        line(k, v)
    print("for reference, weights that did see the real set:")
    line("real, leave one song out (train + other songs)", report["real_leave_one_song_out"])  # type: ignore[arg-type]
    line("real, fitted on everything", report["real_fitted_on_all"])  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
