"""What a listener thinks of transitions, learned from feedback; it only reweights cost terms.

Feedback
    One :class:`FeedbackEvent` per transition the listener heard: a **skip**
    within :data:`SKIP_WINDOW_S` (30 s) of the transition is negative, a
    **like** or a **full play** of the new track positive (a later skip says
    nothing about the transition and is kept but not learned from). Each event
    stores the transition's *raw* cost terms (unit weights, no energy arc), so
    it can be learned from without the audio.

Storage
    Events are JSON lines appended to the listener's feedback file
    (``feedback = "..."`` in the ``[personalisation]`` table of the listener
    TOML; by default ``<profile>.feedback.jsonl`` beside the profile). That
    file is all there is: the model is refitted from it whenever a set is
    planned, nothing else is stored. ``enabled = false`` in the same table (or
    ``segue plan --no-personal``) turns personalisation off; ``segue feedback
    export`` writes the events and the learned weights as JSON; ``segue
    feedback reset`` deletes the file.

Model (:class:`PreferenceModel`)
    ``fit``: an L2-regularised logistic regression (scikit-learn) of P(the
    listener stays) on the raw terms; ``update``: adds events and refits from
    the previous coefficients (warm start); ``predict``: P(stays) for
    transitions' raw terms; ``factors``: per term, how much more (or less) it
    costs this listener than the average term, from the fitted coefficients,
    clipped to ×¼…×4 and shrunk towards ×1 while there are few events;
    ``weights``: the base :class:`CostWeights` times those factors. The plan's
    costs stay the same named terms, only their weights change.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from segue.errors import InputError
from segue.models import Listener, Track
from segue.sequencing.costs import TERMS, CostWeights, raw_terms
from segue.sequencing.features import SetFeatures

log = logging.getLogger(__name__)

FloatVec = npt.NDArray[np.float64]
Outcome = Literal["skip", "like", "full_play"]
OUTCOMES: tuple[Outcome, ...] = ("skip", "like", "full_play")

#: A skip this soon after a transition counts against the transition.
SKIP_WINDOW_S = 30.0
#: Factors are clipped to [1/MAX_FACTOR, MAX_FACTOR].
MAX_FACTOR = 4.0
#: Events at which the learned factors count half (shrinkage towards ×1).
PRIOR_EVENTS = 20.0


@dataclass(frozen=True)
class FeedbackEvent:
    """A listener's reaction to one transition (``from_path`` → ``to_path``)."""

    from_path: str
    to_path: str
    outcome: Outcome
    terms: Mapping[str, float]
    listened_s: float | None = None
    at: str = ""

    @property
    def label(self) -> bool | None:
        """True (stayed), False (skipped within 30 s) or None (says nothing)."""
        if self.outcome == "skip":
            if self.listened_s is None or self.listened_s <= SKIP_WINDOW_S:
                return False
            return None
        return True

    def to_json(self) -> dict[str, Any]:
        """The event as one JSON object (one line of the feedback file)."""
        return {
            "at": self.at, "from": self.from_path, "to": self.to_path, "outcome": self.outcome,
            "listened_s": self.listened_s, "terms": {k: self.terms.get(k, 0.0) for k in TERMS},
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: object) -> FeedbackEvent:
        """Parse one JSON object; raise ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        outcome = data.get("outcome")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
        terms = data.get("terms")
        if not isinstance(terms, dict):
            raise ValueError("'terms' must be an object of term values")
        values = {k: _number(terms.get(k, 0.0), f"terms.{k}") for k in TERMS}
        listened = data.get("listened_s")
        return cls(
            from_path=str(data.get("from", "")),
            to_path=str(data.get("to", "")),
            outcome=cast(Outcome, outcome),
            terms=values,
            listened_s=None if listened is None else _number(listened, "listened_s"),
            at=str(data.get("at", "")),
        )


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    return float(value)


def feedback_event(
    prev: Track, nxt: Track, outcome: Outcome, *, listened_s: float | None = None
) -> FeedbackEvent:
    """The event for the transition ``prev`` → ``nxt``, with its raw terms computed now."""
    if outcome not in OUTCOMES:
        raise InputError(f"outcome {outcome!r}: expected one of {', '.join(OUTCOMES)}")
    f = SetFeatures.from_tracks([prev, nxt])
    raw = raw_terms(f, np.array([0]), np.array([1]))
    return FeedbackEvent(
        from_path=prev.path, to_path=nxt.path, outcome=outcome, listened_s=listened_s,
        terms={k: round(float(v[0]), 4) for k, v in raw.items()},
        at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )  # fmt: skip


# --------------------------------------------------------------------------- storage


def read_feedback(path: str | Path) -> tuple[list[FeedbackEvent], list[str]]:
    """Events in a feedback file, and one message per line that could not be used.

    A missing file holds no events.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read feedback ({exc})") from exc
    events: list[FeedbackEvent] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(FeedbackEvent.from_json(json.loads(line)))
        except (json.JSONDecodeError, ValueError) as exc:
            problems.append(f"{p}:{number}: feedback line skipped ({exc})")
    return events, problems


def append_feedback(path: str | Path, events: Iterable[FeedbackEvent]) -> int:
    """Append ``events`` to the feedback file (created with its folder); return how many."""
    p = Path(path)
    lines = [json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in events]
    if not lines:
        return 0
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a", encoding="utf-8") as fh:
        fh.writelines(lines)
    return len(lines)


def delete_feedback(path: str | Path) -> bool:
    """Delete the feedback file; False when there was none."""
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return False
    return True


# --------------------------------------------------------------------------- model


@dataclass
class PreferenceModel:
    """P(the listener stays after a transition) from its raw cost terms; see the module doc.

    Parameters
    ----------
    c
        Inverse L2 regularisation strength of the logistic regression.
    prior_events
        Labelled events at which the learned factors count half.

    """

    c: float = 1.0
    prior_events: float = PRIOR_EVENTS
    events: list[FeedbackEvent] = field(default_factory=list)
    coef_: dict[str, float] = field(default_factory=dict)
    intercept_: float = 0.0
    _estimator: Any = field(default=None, repr=False)

    @property
    def labelled(self) -> list[FeedbackEvent]:
        """The events that say something about their transition."""
        return [e for e in self.events if e.label is not None]

    @property
    def fitted(self) -> bool:
        """Whether the events held both a positive and a negative reaction."""
        return bool(self.coef_)

    def fit(self, events: Iterable[FeedbackEvent]) -> PreferenceModel:
        """Learn from ``events`` alone (replacing anything learned before)."""
        self.events = list(events)
        self._estimator = None
        self.coef_, self.intercept_ = {}, 0.0
        return self._refit()

    def update(self, events: Iterable[FeedbackEvent]) -> PreferenceModel:
        """Add ``events`` and refit, starting from the current coefficients."""
        self.events.extend(events)
        return self._refit()

    def _refit(self) -> PreferenceModel:
        data = self.labelled
        x = _matrix([e.terms for e in data])
        y = np.array([bool(e.label) for e in data])
        if len(data) == 0 or y.all() or not y.any():
            self.coef_, self.intercept_, self._estimator = {}, 0.0, None
            return self
        from sklearn.linear_model import LogisticRegression  # 90 MB: only when there is a fit
        if self._estimator is None:
            self._estimator = LogisticRegression(C=self.c, warm_start=True, max_iter=1000)
        self._estimator.fit(x, y)
        self.coef_ = {k: float(v) for k, v in zip(TERMS, self._estimator.coef_[0], strict=True)}
        self.intercept_ = float(self._estimator.intercept_[0])
        log.debug("preference model fitted on %d events: %s", len(data), self.coef_)
        return self

    def predict(self, terms: Mapping[str, float] | Sequence[Mapping[str, float]]) -> FloatVec:
        """P(the listener stays) for one or more transitions' raw terms.

        Before the model has seen both a skip and a stay, this is the share of
        positive events (0.5 with none).
        """
        rows = [terms] if isinstance(terms, Mapping) else list(terms)
        x = _matrix(rows)
        if not self.fitted:
            data = self.labelled
            rate = sum(bool(e.label) for e in data) / len(data) if data else 0.5
            return np.full(len(rows), rate)
        z = x @ np.array([self.coef_[k] for k in TERMS]) + self.intercept_
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def factors(self) -> dict[str, float]:
        """How much each term should count for this listener relative to the default.

        A term whose coefficient shows that it drives skips more than the
        average term gets a factor above 1, one that does not a factor below 1.
        Terms that never varied in the feedback keep ×1 (no evidence).
        """
        ones = dict.fromkeys(TERMS, 1.0)
        if not self.fitted:
            return ones
        x = _matrix([e.terms for e in self.labelled])
        varied = {k for k, col in zip(TERMS, x.T, strict=True) if np.ptp(col) > 1e-9}
        discomfort = {k: max(0.0, -self.coef_[k]) for k in varied}
        if not discomfort:
            return ones
        ref = sum(discomfort.values()) / len(discomfort)
        if ref < 1e-6:
            return ones
        n = len(self.labelled)
        trust = n / (n + self.prior_events)
        out = dict(ones)
        for k, d in discomfort.items():
            ratio = min(MAX_FACTOR, max(1.0 / MAX_FACTOR, d / ref))
            out[k] = round(math.exp(trust * math.log(ratio)), 3)
        return out

    def weights(self, base: CostWeights) -> CostWeights:
        """``base`` times :meth:`factors`."""
        return base.scaled(self.factors())


def _matrix(rows: Sequence[Mapping[str, float]]) -> npt.NDArray[np.float64]:
    return np.array([[float(r.get(k, 0.0)) for k in TERMS] for r in rows],
                    dtype=np.float64).reshape(len(rows), len(TERMS))  # fmt: skip


def listener_model(listener: Listener) -> tuple[PreferenceModel | None, list[str]]:
    """The listener's fitted model (None when personalisation is off or there is no file).

    Returns the model and one message per unusable feedback line.
    """
    if not listener.personalise or not listener.feedback_path:
        return None, []
    events, problems = read_feedback(listener.feedback_path)
    if not events:
        return None, problems
    return PreferenceModel().fit(events), problems


def personal_weights(listener: Listener | None, base: CostWeights) -> CostWeights:
    """``base`` reweighted by the listener's feedback, or ``base`` when there is none."""
    if listener is None:
        return base
    model, problems = listener_model(listener)
    for problem in problems:
        log.warning("%s", problem)
    if model is None:
        return base
    return model.weights(base)


def export_feedback(listener: Listener, base: CostWeights) -> dict[str, Any]:
    """Everything personalisation knows about the listener, as one JSON-ready object."""
    events, problems = (
        read_feedback(listener.feedback_path) if listener.feedback_path else ([], [])
    )
    model = PreferenceModel().fit(events)
    return {
        "listener": listener.name,
        "personalise": listener.personalise,
        "feedback_file": listener.feedback_path,
        "events": [e.to_json() for e in events],
        "skipped_lines": problems,
        "labelled_events": len(model.labelled),
        "coefficients": model.coef_,
        "factors": model.factors(),
        "weights": dataclasses.asdict(model.weights(base)),
    }
