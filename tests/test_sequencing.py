"""Transition costs, energy arcs, the exact and heuristic solvers, and plans with bad input."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from segue.errors import PlanError
from segue.models import Tags, Track, TrackAnalysis
from segue.sequencing import ARCS, CostWeights, cost_matrix, plan_order, search
from segue.sequencing.arcs import arc_targets
from segue.sequencing.costs import (
    energy_term,
    key_cost,
    raw_terms,
    tempo_cost,
    tempo_step_pct,
    term_matrices,
)
from segue.sequencing.exact import held_karp
from segue.sequencing.features import SetFeatures
from segue.sequencing.plan import solve

BASE = TrackAnalysis(
    duration_s=180.0, bpm=120.0, bpm_confidence=0.8, beat_times_s=(), key="A minor",
    camelot="8A", key_confidence=0.9, lufs=-10.0, peak_dbfs=-1.0, energy=0.5,
    first_sound_s=0.0, last_sound_s=180.0, intro_end_s=15.0, outro_start_s=165.0,
)


def track(name: str, *, artist: str | None = None, album: str | None = None,
          genre: str | None = None, **changes: object) -> Track:
    return Track(path=f"{name}.ogg",
                 tags=Tags(title=name, artist=artist or f"Artist {name}", album=album,
                           genre=genre),
                 analysis=dataclasses.replace(BASE, **changes))  # type: ignore[arg-type]


def brute_force(cost: np.ndarray, first: int | None = None, last: int | None = None) -> float:
    """The cheapest path by trying every order; ``cost`` is (n, n) or (n - 1, n, n)."""
    n = cost.shape[-1]
    best = math.inf
    for p in itertools.permutations(range(n)):
        if (first is not None and p[0] != first) or (last is not None and p[-1] != last):
            continue
        arcs = (cost[k, a, b] if cost.ndim == 3 else cost[a, b]
                for k, (a, b) in enumerate(itertools.pairwise(p)))
        best = min(best, sum(arcs))
    return best


# --------------------------------------------------------------------------- terms


def test_tempo_steps_are_octave_aware_gentle_then_steep() -> None:
    assert tempo_step_pct(120, 126) == pytest.approx(5.0)
    assert tempo_step_pct(90, 180) == pytest.approx(0.0)
    assert tempo_step_pct(174, 88) == pytest.approx(88 * 2 / 174 * 100 - 100)
    assert math.isnan(tempo_step_pct(0, 120))
    assert tempo_cost(1.5) == 0.0
    assert tempo_cost(-5.0) == tempo_cost(5.0)
    # Gentle within ±6 % (under 0.05 per percent), steep beyond ±8 % (0.25 per percent).
    assert tempo_cost(6.0) - tempo_cost(4.0) < 0.2
    assert tempo_cost(12.0) - tempo_cost(10.0) == pytest.approx(0.5)


def test_harmonic_neighbours_are_cheap_and_far_keys_cost_more() -> None:
    assert key_cost("8A", "8A") == 0.0
    assert key_cost("8A", "9A") < key_cost("8A", "10A") < key_cost("8A", "2A")
    assert key_cost("8A", "8B") < key_cost("8A", "10A")
    assert key_cost("12A", "1A") == key_cost("1A", "2A")  # the wheel wraps
    # Scaled by both tracks' key confidence: a doubtful key barely counts.
    f = SetFeatures.from_tracks([track("a"), track("b", camelot="3B"),
                                 track("c", camelot="3B", key_confidence=0.05)])
    raw = raw_terms(f, np.array([0, 0]), np.array([1, 2]))
    assert raw["key"][0] == pytest.approx(key_cost("8A", "3B"))
    assert raw["key"][1] < 0.3 * raw["key"][0]


def test_energy_is_measured_against_the_arc() -> None:
    # Without an arc: the step only; falling costs more than rising.
    assert energy_term(0.5, 0.5, math.nan, math.nan) == 0.0
    assert energy_term(0.5, 0.3, math.nan, math.nan) > energy_term(0.3, 0.5, math.nan, math.nan)
    # On an arc: following it exactly is free; the same step against it is not.
    assert energy_term(0.4, 0.6, 0.4, 0.6) == 0.0
    assert energy_term(0.6, 0.4, 0.4, 0.6) > 1.0
    # Unknown energy is neutral.
    assert energy_term(math.nan, 0.9, 0.1, 0.2) == pytest.approx(0.5 * 0.7)
    assert energy_term(math.nan, math.nan, math.nan, math.nan) == 0.0


def test_timbre_dynamics_genre_and_same_artist_or_album() -> None:
    tracks = [
        track("a", artist="Band", album="One", genre="metal", timbre=(0.0,) * 13,
              loudness_range_lu=5.0, lufs=-8.0),
        track("b", artist="band", album="One", genre="Metal/Rock", timbre=(0.0,) * 13,
              loudness_range_lu=5.0, lufs=-8.0),
        track("c", artist="Other", album="One", genre="ambient", timbre=(0.0, *[50.0] * 12),
              loudness_range_lu=15.0, lufs=-20.0),
    ]  # fmt: skip
    f = SetFeatures.from_tracks(tracks)
    raw = raw_terms(f, np.array([0, 0]), np.array([1, 2]))
    assert raw["same_artist"].tolist() == [1.0, 0.0]
    assert raw["same_album"].tolist() == [1.0, 0.0]  # same album name, other artist: no
    assert raw["genre"].tolist() == [0.0, 1.0]
    assert raw["timbre"][0] == 0.0 and raw["timbre"][1] == pytest.approx(1.0)
    # 10 LU more loudness range (7 beyond the 3 LU allowance) and 12 LU louder master.
    assert raw["dynamics"][1] == pytest.approx(7 / 8 + 0.5)


def test_unknown_and_nan_features_are_neutral_and_said_uncertain() -> None:
    odd = [
        track("nobeat", bpm=0.0, bpm_confidence=0.0),
        track("nan", bpm=math.nan, energy=math.nan, camelot="??", lufs=math.nan,
              timbre=(math.nan,) * 13),
        track("lowconf", bpm=97.0, bpm_confidence=0.05, key_confidence=0.05, camelot="2B"),
        track("plain"),
    ]  # fmt: skip
    f = SetFeatures.from_tracks(odd)
    mats = term_matrices(f, CostWeights())
    for m in mats.values():
        assert np.all(np.isfinite(m))
    plan = plan_order(odd, arc="rise")
    assert sorted(plan.order) == [0, 1, 2, 3]
    assert all(math.isfinite(t.cost) for t in plan.transitions)
    reasons = " | ".join(t.reason for t in plan.transitions)
    assert "tempo uncertain" in reasons and "key uncertain" in reasons
    assert "energy unknown" in reasons


# --------------------------------------------------------------------------- arcs


def test_arcs_span_the_sets_energy_range() -> None:
    energies = np.linspace(0.2, 0.8, 11)
    rise, fall, peak = (arc_targets(a, energies) for a in ("rise", "fall", "peak"))
    assert np.all(np.diff(rise) > 0) and np.all(np.diff(fall) < 0)
    assert rise[0] == pytest.approx(np.percentile(energies, 10))
    assert rise[-1] == pytest.approx(np.percentile(energies, 90))
    assert 5 <= int(np.argmax(peak)) <= 8 and peak[0] < peak[-1] < peak.max()
    wave = arc_targets("wave", energies)
    assert np.sum(np.diff(np.sign(np.diff(wave))) != 0) >= 2  # turns at least twice
    assert np.ptp(arc_targets("flat", energies)) == 0.0
    with pytest.raises(PlanError, match="flat, rise, peak, wave, fall"):
        arc_targets("zigzag", energies)


@pytest.mark.parametrize("arc", ["rise", "fall", "peak"])
def test_planned_energy_follows_the_arc(arc: str) -> None:
    energies = [0.9, 0.15, 0.6, 0.3, 0.75, 0.45, 0.2, 0.85, 0.5]
    tracks = [track(f"t{i}", energy=e) for i, e in enumerate(energies)]
    plan = plan_order(tracks, arc=arc)
    planned = [t.analysis.energy for t in plan.tracks]
    rho = np.corrcoef(np.argsort(np.argsort(planned)),
                      np.argsort(np.argsort(plan.target_energy)))[0, 1]
    assert rho > 0.9, (arc, planned)
    assert "as planned" in plan.transitions[0].reason


# --------------------------------------------------------------------------- solvers


def test_held_karp_is_exact_with_arcs_and_pins() -> None:
    rng = np.random.default_rng(3)
    for n in (2, 3, 5, 7):
        flat = rng.random((n, n))
        positional = rng.random((n - 1, n, n))
        for cost in (flat, positional):
            for first, last in ((None, None), (0, None), (None, n - 1), (1, 0)):
                order, total = held_karp(cost, first=first, last=last)
                assert sorted(order) == list(range(n))
                assert total == pytest.approx(brute_force(cost, first, last))
                assert first is None or order[0] == first
                assert last is None or order[-1] == last


def test_heuristic_finds_the_optimum_on_small_sets() -> None:
    rng = np.random.default_rng(7)
    for trial in range(6):
        n = 8
        base = rng.random((n, n))
        energy = rng.random(n)
        targets = np.linspace(0.2, 0.9, n) if trial % 2 else None
        order, total = search.search_order(base, energy=energy, targets=targets, w_energy=1.0,
                                      first=0 if trial >= 4 else None, kicks=300, seed=trial)
        if targets is None:
            cost = base
        else:
            cost = np.stack([base + energy_term(energy[:, None], energy[None, :], targets[k],
                                                targets[k + 1]) for k in range(n - 1)])
        assert total == pytest.approx(brute_force(cost, 0 if trial >= 4 else None))
        assert search.path_cost(np.array(order), base, energy,
                           np.zeros(0) if targets is None else targets, 1.0) == pytest.approx(total)


def test_local_search_leaves_no_improving_move() -> None:
    # Every Or-opt (1-3 tracks, either way round) and every reversal is checked by hand.
    rng = np.random.default_rng(11)
    n = 22
    base = rng.random((n, n))
    cand_out, cand_in = search.neighbour_lists(base, n - 1)
    p = rng.permutation(n).astype(np.int64)
    best = p.copy()
    costs = np.array([np.inf, np.inf, 0.0])
    search._iterate(p, best, base, np.zeros(n), np.zeros(0), 0.0, base, cand_out, cand_in, 0, n - 1,
               0, 30, np.array([5], dtype=np.uint64), costs, True)

    def cost(q: list[int]) -> float:
        return search.path_cost(np.array(q), base, np.zeros(n), np.zeros(0), 0.0)

    here = cost(list(p))
    assert here == pytest.approx(costs[0])
    q = list(p)
    for i in range(n):
        for length in (1, 2, 3):
            seg, rest = q[i:i + length], q[:i] + q[i + length:]
            if len(seg) < length:
                continue
            for g in range(len(rest) + 1):
                for piece in (seg, seg[::-1]):
                    assert cost(rest[:g] + piece + rest[g:]) >= here - 1e-9
        for j in range(i + 1, n):
            assert cost(q[:i] + q[i:j + 1][::-1] + q[j + 1:]) >= here - 1e-9


def test_search_is_deterministic_for_a_seed_and_keeps_pins() -> None:
    rng = np.random.default_rng(2)
    n = 60
    base = rng.random((n, n))
    a = search.search_order(base, first=5, last=9, seed=4, kicks=400)
    b = search.search_order(base, first=5, last=9, seed=4, kicks=400)
    assert a == b
    order, total = a
    assert order[0] == 5 and order[-1] == 9 and sorted(order) == list(range(n))
    none = np.zeros(0)
    assert total == pytest.approx(search.path_cost(np.array(order), base, np.zeros(n), none, 0))
    # Far better than a random order.
    assert total < 0.5 * search.path_cost(rng.permutation(n), base, np.zeros(n), none, 0)


def test_heuristic_matches_the_exact_solver_on_planned_sets() -> None:
    rng = np.random.default_rng(5)
    tracks = [track(f"t{i}", bpm=float(rng.normal(122, 8)), energy=float(rng.random()),
                    camelot=f"{rng.integers(1, 13)}{'AB'[rng.integers(0, 2)]}")
              for i in range(10)]  # fmt: skip
    f = SetFeatures.from_tracks(tracks)
    targets = arc_targets("peak", f.energy)
    w = CostWeights()
    exact = solve(f, w, targets, first=3)
    heuristic = solve(f, w, targets, first=3, exact_max_n=0)
    exact_plan = plan_order([tracks[i] for i in exact], arc="peak", first=0)
    heur_plan = plan_order([tracks[i] for i in heuristic], arc="peak", first=0)
    assert heur_plan.total_cost == pytest.approx(exact_plan.total_cost, abs=1e-3)


# --------------------------------------------------------------------------- plans


def test_plan_finds_the_smooth_path_and_explains_it() -> None:
    # A tempo ladder given shuffled: the smooth order climbs it step by step.
    bpms = [100, 125, 105, 120, 110, 115]
    keys = ["8A", "1A", "9A", "12A", "10A", "11A"]
    energies = [0.3, 0.8, 0.4, 0.7, 0.5, 0.6]
    tracks = [track(f"t{i}", bpm=b, camelot=k, energy=e)
              for i, (b, k, e) in enumerate(zip(bpms, keys, energies, strict=True))]
    plan = plan_order(tracks, arc="flat")
    assert [t.analysis.bpm for t in plan.tracks] == sorted(bpms)
    assert list(plan.order) == [0, 2, 4, 5, 3, 1]
    assert plan.total_cost == pytest.approx(sum(t.cost for t in plan.transitions))
    for t in plan.transitions:
        assert t.cost == pytest.approx(sum(t.terms.values()), abs=1e-3)
    first = plan.transitions[0]
    assert first.reason == "compatible keys 8A→9A, +5 % tempo, energy rising"
    m, _ = cost_matrix(tracks)
    assert plan.total_cost == pytest.approx(brute_force(m), abs=1e-3)


def test_reason_reads_like_the_issue_example() -> None:
    tracks = [track("a", bpm=120.0, energy=0.3), track("b", bpm=123.6, energy=0.6)]
    plan = plan_order(tracks, arc="rise")
    assert plan.transitions[0].reason == "same key 8A, +3 % tempo, energy rising as planned"


def test_same_artist_back_to_back_is_avoided() -> None:
    a1, a2 = track("a1", artist="Same"), track("a2", artist="Same")
    b = track("b", bpm=121.0)
    order = [t.path for t in plan_order([a1, a2, b], arc="flat").tracks]
    assert order.index("b.ogg") == 1


def test_matrix_is_the_flat_cost_with_terms() -> None:
    tracks = [track("a"), track("b", bpm=130.0, energy=0.8), track("c", camelot="2B")]
    m, terms = cost_matrix(tracks)
    assert m.shape == (3, 3) and np.all(np.diag(m) == 0) and terms[1][1] == {}
    assert m[0, 1] != m[1, 0]  # asymmetric: energy up is cheaper than down
    assert m[0, 1] == pytest.approx(sum(terms[0][1].values()), abs=1e-3)
    flat = plan_order(tracks, arc="flat")
    for tr, (i, j) in zip(flat.transitions, itertools.pairwise(flat.order), strict=True):
        assert tr.cost == pytest.approx(m[i, j], abs=1e-3)


def test_larger_sets_use_the_heuristic_deterministically() -> None:
    rng = np.random.default_rng(9)
    tracks = [track(f"t{i:02d}", bpm=float(rng.normal(125, 10)), energy=float(rng.random()))
              for i in range(30)]  # fmt: skip
    a = plan_order(tracks, arc="wave", first="t07.ogg", last=12, seed=1)
    b = plan_order(tracks, arc="wave", first="t07.ogg", last=12, seed=1)
    assert a.order == b.order and a.order[0] == 7 and a.order[-1] == 12
    assert sorted(a.order) == list(range(30))
    assert len(a.target_energy) == 30


def test_bad_input_gets_a_sane_plan_or_a_clear_error() -> None:
    with pytest.raises(PlanError, match="no tracks"):
        plan_order([])
    one = plan_order([track("solo")])
    assert one.order == (0,) and one.transitions == () and one.total_cost == 0
    two = plan_order([track("x", energy=0.9), track("y", energy=0.1)], arc="rise")
    assert two.order == (1, 0)
    # Identical tracks: any order is as good, so the input order is kept.
    for n in (6, 16):  # solved exactly, and by the heuristic
        same = plan_order([dataclasses.replace(track("x"), path=f"x{k:02d}.ogg")
                           for k in range(n)], arc="peak")  # fmt: skip
        assert list(same.order) == list(range(n))
        assert same.total_cost == pytest.approx(n - 1)  # the same artist each time
    # A path listed twice is planned once.
    dup = plan_order([track("a"), track("b"), track("a")])
    assert sorted(dup.order) == [0, 1]
    with pytest.raises(PlanError, match="both the first and the last"):
        plan_order([track("a"), track("b")], first="a.ogg", last=0)
    with pytest.raises(PlanError, match="not among"):
        plan_order([track("a"), track("b")], first="zzz.ogg")
    with pytest.raises(PlanError, match="unknown energy arc"):
        plan_order([track("a")], arc="zigzag")
    assert set(ARCS) == {"flat", "rise", "peak", "wave", "fall"}


def test_the_solver_and_the_costs_share_one_energy_term() -> None:
    # costs (numpy, no numba) and the compiled kernels must give the very same numbers.
    from segue.sequencing.search import energy_term as compiled

    values = [math.nan, 0.0, 0.1, 0.27, 0.3, 0.33, 0.5, 0.8, 1.0]
    grid = np.array(list(itertools.product(values, repeat=4)))
    fast = energy_term(grid[:, 0], grid[:, 1], grid[:, 2], grid[:, 3])
    slow = np.array([compiled(*row) for row in grid])
    assert np.array_equal(fast, slow)
