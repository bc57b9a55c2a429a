"""Transition costs and the first-version order."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from segue.models import Tags, Track, TrackAnalysis
from segue.sequencing import plan_order
from segue.sequencing.costs import key_cost, tempo_cost, tempo_step_pct
from segue.sequencing.plan import cost_matrix

BASE = TrackAnalysis(
    duration_s=180.0, bpm=120.0, bpm_confidence=0.8, beat_times_s=(), key="A minor",
    camelot="8A", key_confidence=0.9, lufs=-10.0, peak_dbfs=-1.0, energy=0.5,
    first_sound_s=0.0, last_sound_s=180.0, intro_end_s=15.0, outro_start_s=165.0,
)


def track(name: str, **changes: object) -> Track:
    return Track(path=f"{name}.ogg", tags=Tags(title=name, artist=f"Artist {name}"),
                 analysis=dataclasses.replace(BASE, **changes))  # type: ignore[arg-type]


def test_tempo_steps_are_octave_aware() -> None:
    assert tempo_step_pct(120, 126) == pytest.approx(5.0)
    assert tempo_step_pct(90, 180) == pytest.approx(0.0)
    assert tempo_step_pct(174, 88) == pytest.approx(88 * 2 / 174 * 100 - 100)
    assert tempo_cost(1.5) == 0.0
    assert tempo_cost(5.0) < tempo_cost(7.0) < tempo_cost(12.0)
    assert tempo_cost(-5.0) == tempo_cost(5.0)


def test_harmonic_neighbours_are_cheap() -> None:
    assert key_cost("8A", "8A") == 0.0
    assert key_cost("8A", "9A") < key_cost("8A", "10A") < key_cost("8A", "2A")
    assert key_cost("8A", "8B") < key_cost("8A", "10A")
    assert key_cost("12A", "1A") == key_cost("1A", "2A")  # the wheel wraps


def test_plan_finds_the_smooth_path_and_explains_it() -> None:
    # A tempo ladder given shuffled: the smooth order climbs it step by step.
    bpms = [100, 125, 105, 120, 110, 115]
    keys = ["8A", "1A", "9A", "12A", "10A", "11A"]
    energies = [0.3, 0.8, 0.4, 0.7, 0.5, 0.6]
    tracks = [track(f"t{i}", bpm=b, camelot=k, energy=e)
              for i, (b, k, e) in enumerate(zip(bpms, keys, energies, strict=True))]
    plan = plan_order(tracks, arc="flat")
    assert [t.analysis.bpm for t in plan.tracks] == sorted(bpms)
    assert len(plan.transitions) == len(tracks) - 1
    assert plan.total_cost == pytest.approx(sum(t.cost for t in plan.transitions))
    first = plan.transitions[0]
    assert "compatible keys 8A→9A" in first.reason and "+5 % tempo" in first.reason
    assert "energy rising" in first.reason
    # No other order of these six is cheaper.
    m, _ = cost_matrix(tracks)
    best = min(sum(m[a, b] for a, b in itertools.pairwise(p))
               for p in itertools.permutations(range(len(tracks))))
    assert plan.total_cost == pytest.approx(best, abs=1e-3)


def test_same_artist_back_to_back_is_penalised() -> None:
    a1 = track("a1")
    a2 = dataclasses.replace(track("a2"), tags=Tags(title="a2", artist="Artist a1"))
    b = track("b", bpm=121.0)
    _, terms = cost_matrix([a1, a2, b])
    assert terms[0][1]["same_artist"] > 0 and terms[0][2]["same_artist"] == 0
    order = [t.path for t in plan_order([a1, a2, b]).tracks]
    assert order.index("b.ogg") == 1


def test_degenerate_sets() -> None:
    one = plan_order([track("solo")])
    assert len(one.tracks) == 1 and one.transitions == () and one.total_cost == 0
    same = plan_order([track("x"), track("y"), track("z")])
    assert len(same.tracks) == 3
    nobeat = plan_order([track("p", bpm=0.0, key_confidence=0.0), track("q")])
    assert len(nobeat.tracks) == 2
