"""Analysis features on synthetic signals whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from segue.analysis import analyze_samples
from segue.analysis.key import camelot_code, estimate_key
from segue.analysis.spectral import chromagram, decimate, frame_features
from segue.analysis.structure import find_cues
from segue.analysis.tempo import estimate_tempo
from segue.errors import AnalysisError
from synthetic import SynthSpec, synthesize

SR = 44100


def _frames(spec: SynthSpec):  # type: ignore[no-untyped-def]
    mono = decimate(synthesize(spec).T)
    return mono, frame_features(mono, SR // 4)


def _tempo(fr):  # type: ignore[no-untyped-def]
    """The tempo estimate as the analysis makes it: with the band onset envelopes."""
    return estimate_tempo(fr.onset, fr.fps, onset_low=fr.onset_low, onset_mid=fr.onset_mid,
                          onset_high=fr.onset_high)


# The octave weights are fitted on the synthetic and MIDI benchmark sets, not on these
# tracks. A drum & bass two-step (kick 1 and the "and" of 3, snare 2 and 4, eighth hats)
# at 174 is read at 87 since the weights stopped being fitted on the real metal set:
# a known half-tempo reading (Acc2, not Acc1), kept visible here.
_DNB_HALVED = pytest.mark.xfail(strict=True, reason="two-step at 174 read at half tempo")


@pytest.mark.parametrize(("bpm", "style"), [(96, "four"), (120, "four"), (128, "four"),
                                            (100, "rock"),
                                            pytest.param(174, "breakbeat", marks=_DNB_HALVED)])
def test_tempo_within_four_percent_with_a_steady_grid(bpm: float, style: str) -> None:
    _, fr = _frames(SynthSpec(bpm=bpm, style=style, intro_bars=1, body_bars=12, outro_bars=1))
    est = _tempo(fr)
    assert est.bpm == pytest.approx(bpm, rel=0.04)
    assert 0.0 < est.confidence <= 1.0 and 0.0 < est.pulse_clarity <= 1.0
    # The beat grid follows the tempo, and bars hold four beats.
    assert np.median(np.diff(est.beat_times_s)) == pytest.approx(60 / bpm, rel=0.04)
    assert np.median(np.diff(est.downbeat_times_s)) == pytest.approx(240 / bpm, rel=0.04)


@pytest.mark.parametrize(("bpm", "style"), [(150, "four"), (140, "busyhats"), (150, "busyhats"),
                                            (160, "busyhats"), (70, "sparse")])
def test_tempo_octave_of_electronic_and_ballad_grooves(bpm: float, style: str) -> None:
    """Busy sixteenth hats or off-beat hats over a four-on-the-floor kick are not read at
    double (300), 3:2 (225) or half tempo, nor is a hat-less ballad at 70 doubled."""
    _, fr = _frames(SynthSpec(bpm=bpm, style=style, intro_bars=2, body_bars=32, outro_bars=2))
    assert _tempo(fr).bpm == pytest.approx(bpm, rel=0.04)


def test_tempo_without_band_envelopes_still_finds_a_metrical_level() -> None:
    """Given only the full-band onsets, the estimate is still a level of the true tempo."""
    _, fr = _frames(SynthSpec(bpm=124, style="four", intro_bars=1, body_bars=16, outro_bars=1))
    bpm = estimate_tempo(fr.onset, fr.fps).bpm
    assert any(bpm == pytest.approx(124 * f, rel=0.04) for f in (1, 2, 0.5))


def test_tempo_of_silence_is_zero_with_no_confidence() -> None:
    est = estimate_tempo(np.zeros(1000, dtype=np.float32), 43.0)
    assert est.bpm == 0.0 and est.confidence == 0.0 and est.beat_times_s == ()


@pytest.mark.parametrize(
    ("tonic", "mode", "name", "camelot"),
    [(9, "minor", "A minor", "8A"), (0, "major", "C major", "8B"), (7, "major", "G major", "9B"),
     (2, "minor", "D minor", "7A"), (6, "major", "F# major", "2B"), (4, "minor", "E minor", "9A")],
)
def test_key_of_a_clear_cadence(tonic: int, mode: str, name: str, camelot: str) -> None:
    mono, _ = _frames(SynthSpec(tonic=tonic, mode=mode))
    key = estimate_key(chromagram(mono, SR // 4))
    assert (key.name, key.camelot) == (name, camelot)
    assert key.confidence > 0.5


def test_camelot_wheel() -> None:
    wheel = {(0, "major"): "8B", (9, "minor"): "8A", (7, "major"): "9B", (5, "major"): "7B",
             (11, "major"): "1B", (8, "minor"): "1A", (3, "minor"): "2A", (10, "major"): "6B"}
    for (tonic, mode), code in wheel.items():
        assert camelot_code(tonic, mode) == code


@pytest.mark.parametrize("spec", [
    SynthSpec(bpm=120, intro_bars=4, body_bars=8, outro_bars=4),
    SynthSpec(bpm=100, intro_bars=2, body_bars=8, outro_bars=2, style="rock"),
    SynthSpec(bpm=128, intro_bars=8, body_bars=8, outro_bars=4),
])
def test_intro_end_and_outro_start_within_one_bar(spec: SynthSpec) -> None:
    a = analyze_samples(synthesize(spec).T, SR)
    assert abs(a.intro_end_s - spec.intro_end_s) <= spec.bar_s
    assert abs(a.outro_start_s - spec.outro_start_s) <= spec.bar_s
    # Cues sit on the beat grid.
    assert min(abs(b - a.intro_end_s) for b in a.beat_times_s) < 0.02


def test_first_and_last_sound_skip_padding() -> None:
    spec = SynthSpec(intro_bars=1, body_bars=4, outro_bars=1)
    y = synthesize(spec).T
    padded = np.concatenate([np.zeros((2, 2 * SR)), y, np.zeros((2, 3 * SR))], axis=1)
    mono = decimate(padded.astype(np.float32))
    cues = find_cues(frame_features(mono, SR // 4), padded.shape[1] / SR)
    assert cues.first_sound_s == pytest.approx(2.0, abs=0.1)
    assert cues.last_sound_s == pytest.approx(2.0 + spec.duration_s, abs=0.3)


def _cues_of(*parts: np.ndarray):  # type: ignore[no-untyped-def]
    joined = np.concatenate(parts, axis=1).astype(np.float32)
    return find_cues(frame_features(decimate(joined), SR // 4), joined.shape[1] / SR)


def test_a_long_silence_ends_what_plays_a_short_pause_does_not() -> None:
    song = synthesize(SynthSpec(intro_bars=2, body_bars=16, outro_bars=2, seed=1)).T
    hidden = synthesize(SynthSpec(bpm=100, intro_bars=1, body_bars=4, outro_bars=1, seed=2)).T
    gap = [np.zeros((2, round(s * SR))) for s in (40.0, 2.0, 8.0)]
    # A hidden track after 40 s of silence would be dead air: the song alone plays.
    cues = _cues_of(song, gap[0], hidden)
    assert cues.first_sound_s == pytest.approx(0.0, abs=0.1)
    assert cues.last_sound_s == pytest.approx(song.shape[1] / SR, abs=0.3)
    # The same, the other way round: the longer stretch is the one that plays.
    cues = _cues_of(hidden, gap[0], song)
    assert cues.first_sound_s == pytest.approx(hidden.shape[1] / SR + 40.0, abs=0.1)
    # A 2 s break is part of the song.
    cues = _cues_of(song, gap[1], hidden)
    assert cues.last_sound_s == pytest.approx((song.shape[1] + hidden.shape[1]) / SR + 2.0,
                                              abs=0.3)  # fmt: skip
    # Sparse sound whose silences are its own (no stretch holds half of it) plays whole.
    hit = song[:, : round(4.0 * SR)]
    cues = _cues_of(*[part for _ in range(4) for part in (hit, gap[2])], hit)
    assert cues.last_sound_s == pytest.approx(5 * 4.0 + 4 * 8.0, abs=0.3)


def test_analysis_orders_energy_and_measures_loudness() -> None:
    loud = synthesize(SynthSpec(intro_bars=0, body_bars=8, outro_bars=0)).T
    quiet = loud * 10 ** (-12 / 20)
    a_loud = analyze_samples(loud, SR)
    a_quiet = analyze_samples(quiet, SR)
    assert a_loud.lufs - a_quiet.lufs == pytest.approx(12.0, abs=0.2)
    assert a_loud.true_peak_dbtp - a_quiet.true_peak_dbtp == pytest.approx(12.0, abs=0.05)
    assert 0.0 <= a_quiet.energy < a_loud.energy <= 1.0
    assert len(a_loud.energy_curve) == len(a_loud.short_term_lufs) == round(a_loud.duration_s)
    assert 0.0 < a_loud.brightness < 1.0 and len(a_loud.timbre) == 13


def test_any_input_rate_gives_the_same_answers() -> None:
    spec = SynthSpec(bpm=124, intro_bars=2, body_bars=8, outro_bars=2, sr=22050)
    a = analyze_samples(synthesize(spec).T, 22050)
    b = analyze_samples(synthesize(SynthSpec(bpm=124, intro_bars=2, body_bars=8,
                                             outro_bars=2)).T, SR)
    assert a.bpm == pytest.approx(b.bpm, rel=0.01)
    assert a.key == b.key and a.lufs == pytest.approx(b.lufs, abs=0.3)


def test_too_short_and_silent_audio_are_refused_by_name() -> None:
    with pytest.raises(AnalysisError, match=r"clip\.wav: too short"):
        analyze_samples(np.zeros((2, SR), dtype=np.float32), SR, name="clip.wav")
    with pytest.raises(AnalysisError, match=r"quiet\.wav: silent"):
        analyze_samples(np.zeros((2, SR * 10), dtype=np.float32), SR, name="quiet.wav")
