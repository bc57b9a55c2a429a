"""The learnable part: feedback events, their file, the preference model and its effect."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from segue.errors import InputError
from segue.listener import load_listener
from segue.models import Listener, Tags, Track, TrackAnalysis
from segue.sequencing import CostWeights, plan_order
from segue.sequencing.costs import TERMS
from segue.sequencing.preference import (
    FeedbackEvent,
    PreferenceModel,
    append_feedback,
    delete_feedback,
    export_feedback,
    feedback_event,
    personal_weights,
    read_feedback,
)

BASE = TrackAnalysis(
    duration_s=180.0, bpm=120.0, bpm_confidence=0.9, beat_times_s=(), key="A minor",
    camelot="8A", key_confidence=0.3, lufs=-10.0, peak_dbfs=-1.0, energy=0.5,
    first_sound_s=0.0, last_sound_s=180.0, intro_end_s=15.0, outro_start_s=165.0,
)


def track(name: str, **changes: object) -> Track:
    return Track(path=f"{name}.ogg", tags=Tags(title=name, artist=f"Artist {name}"),
                 analysis=dataclasses.replace(BASE, **changes))  # type: ignore[arg-type]


def key_hater(n: int, seed: int = 0) -> list[FeedbackEvent]:
    """A listener who skips key clashes and does not mind tempo or energy jumps."""
    rng = np.random.default_rng(seed)
    events = []
    for k in range(n):
        terms = dict.fromkeys(TERMS, 0.0)
        terms.update(tempo=float(rng.uniform(0, 1.5)), key=float(rng.choice([0, 0.15, 0.2, 0.7,
                     1.05, 1.5])), energy=float(rng.uniform(0, 1)))  # fmt: skip
        stays = rng.random() < 1 / (1 + math.exp(-(2.0 - 3.0 * terms["key"])))
        outcome = ("like" if k % 2 else "full_play") if stays else "skip"
        events.append(FeedbackEvent(from_path=f"a{k}", to_path=f"b{k}", outcome=outcome,
                                    terms=terms, listened_s=None if stays else 12.0))
    return events


def test_labels_follow_the_thirty_second_rule() -> None:
    terms = dict.fromkeys(TERMS, 0.0)
    assert FeedbackEvent("a", "b", "skip", terms, listened_s=10.0).label is False
    assert FeedbackEvent("a", "b", "skip", terms, listened_s=30.0).label is False
    assert FeedbackEvent("a", "b", "skip", terms, listened_s=45.0).label is None
    assert FeedbackEvent("a", "b", "like", terms).label is True
    assert FeedbackEvent("a", "b", "full_play", terms).label is True


def test_feedback_file_round_trip_with_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "alex.feedback.jsonl"
    event = feedback_event(track("a"), track("b", camelot="3B"), "skip", listened_s=8.0)
    assert event.terms["key"] > 0 and event.label is False
    assert append_feedback(path, [event, event]) == 2
    with path.open("a") as fh:
        fh.write("not json\n")
        fh.write(json.dumps({"outcome": "meh", "terms": {}}) + "\n")
    events, problems = read_feedback(path)
    assert events == [event, event]
    assert len(problems) == 2 and all(str(path) in p for p in problems)
    assert ":3:" in problems[0] and "outcome" in problems[1]
    assert delete_feedback(path) and not path.exists() and not delete_feedback(path)
    assert read_feedback(path) == ([], [])


def test_model_learns_which_term_drives_skips() -> None:
    model = PreferenceModel().fit(key_hater(300))
    assert model.fitted
    factors = model.factors()
    assert factors["key"] > 1.8
    assert factors["tempo"] < 0.8 and factors["energy"] < 0.8
    assert factors["timbre"] == 1.0  # never varied: no evidence, no change
    clash, smooth = dict.fromkeys(TERMS, 0.0), dict.fromkeys(TERMS, 0.0)
    clash["key"] = 1.5
    p_clash, p_smooth = model.predict([clash, smooth])
    assert p_clash < 0.3 < 0.7 < p_smooth
    # Weights are the base weights times the factors, nothing else.
    w = model.weights(CostWeights())
    assert w.key == pytest.approx(factors["key"]) and w.genre == pytest.approx(0.3)


def test_few_events_change_little_and_update_adds_evidence() -> None:
    few = PreferenceModel().fit(key_hater(12, seed=1))
    many = PreferenceModel().fit(key_hater(12, seed=1)).update(key_hater(300, seed=2))
    assert len(many.labelled) == 312
    assert abs(math.log(few.factors()["key"])) < abs(math.log(many.factors()["key"]))
    # All positive: nothing to learn from, weights unchanged, predictions the base rate.
    happy = [dataclasses.replace(e, outcome="like", listened_s=None) for e in key_hater(20)]
    model = PreferenceModel().fit(happy)
    assert not model.fitted and set(model.factors().values()) == {1.0}
    assert model.predict(dict.fromkeys(TERMS, 0.0))[0] == 1.0


def _conflict_set() -> list[Track]:
    # The tempo ladder clashes in key at every step; the key-smooth order jumps in tempo.
    return [track("t1", bpm=120.0, camelot="8A"), track("t2", bpm=126.0, camelot="3B"),
            track("t3", bpm=132.0, camelot="8A"), track("t4", bpm=138.0, camelot="3B")]


def _clashes(tracks: tuple[Track, ...]) -> int:
    return sum(a.analysis.camelot != b.analysis.camelot for a, b in itertools.pairwise(tracks))


def test_a_listeners_feedback_reshapes_the_order(tmp_path: Path) -> None:
    profile = tmp_path / "alex.toml"
    profile.write_text('name = "Alex"\n')
    listener = load_listener(profile)
    assert listener.feedback_path == str(tmp_path / "alex.feedback.jsonl")
    tracks = _conflict_set()
    default = plan_order(tracks, arc="flat", listener=listener)  # no feedback yet
    assert _clashes(default.tracks) == 3
    append_feedback(listener.feedback_path, key_hater(300))
    personal = plan_order(tracks, arc="flat", listener=listener)
    assert _clashes(personal.tracks) == 1
    assert personal.weights["key"] > 1.8
    # The cost is still the same named terms, only reweighted.
    assert set(personal.transitions[0].terms) == set(TERMS)
    # Turned off: back to the default order.
    off = dataclasses.replace(listener, personalise=False)
    assert plan_order(tracks, arc="flat", listener=off).order == default.order
    assert personal_weights(off, CostWeights()) == CostWeights()
    exported = export_feedback(listener, CostWeights())
    assert len(exported["events"]) == 300 and exported["factors"]["key"] > 1.8


def test_listener_profile_personalisation_table(tmp_path: Path) -> None:
    profile = tmp_path / "robin.toml"
    profile.write_text('[personalisation]\nenabled = false\nfeedback = "fb/robin.jsonl"\n')
    listener = load_listener(profile)
    assert listener.personalise is False
    assert listener.feedback_path == str(tmp_path / "fb" / "robin.jsonl")
    profile.write_text('[personalisation]\nenabled = "yes"\n')
    with pytest.raises(InputError, match=r"personalisation\.enabled"):
        load_listener(profile)
    profile.write_text("personalisation = 3\n")
    with pytest.raises(InputError, match=r"\[personalisation\]"):
        load_listener(profile)
    assert Listener().feedback_path is None
