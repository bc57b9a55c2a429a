"""Timeline rules: transitions by cue points, talk-ups that hit the post, beds, beat alignment."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import librosa
import numpy as np
import pytest

from segue.config import Settings
from segue.mixing.gain import MAX_MAKEUP_DB, track_gain_db
from segue.mixing.render import render_blocks
from segue.mixing.timeline import build_segments, build_timeline, decide_handovers, mix_time
from segue.models import Link, Plan, Speech, Tags, Track, TrackAnalysis
from segue.transition.cues import plan_transition, play_range_s, post_s
from synthetic import SynthSpec, write_track

SETTINGS = Settings()


def known(spec: SynthSpec, path: str = "x.flac", **changes: object) -> Track:
    """A track whose analysis is the synthetic ground truth."""
    beat = 60.0 / spec.bpm
    n_beats = int(spec.duration_s / beat)
    analysis = TrackAnalysis(
        duration_s=spec.duration_s, bpm=spec.bpm, bpm_confidence=0.9,
        beat_times_s=tuple(i * beat for i in range(n_beats)), key="A minor", camelot="8A",
        key_confidence=0.9, lufs=-14.0, peak_dbfs=-3.0, energy=0.6, first_sound_s=0.0,
        last_sound_s=spec.duration_s, intro_end_s=spec.intro_end_s,
        outro_start_s=spec.outro_start_s,
    )
    return Track(path=path, tags=Tags(title=path, artist="A"),
                 analysis=dataclasses.replace(analysis, **changes))  # type: ignore[arg-type]


def speech(before: int, seconds: float) -> Speech:
    link = Link(before_track=before, kind="link", text="words", template="link",
                backend="template")
    return Speech(link=link, samples=np.full(round(seconds * 44100), 0.1, np.float32), sr=44100,
                  voice="test")


def test_segments_loop_and_stretch_on_one_clock() -> None:
    segs = build_segments(10.0, 0.0, 20.0, stretch=1.25, stretch_until_s=5.0,
                          loop_start_s=1.0, loop_len_s=2.0, loops=2)
    assert [(s.source_start_s, s.source_end_s, s.rate) for s in segs] == [
        (0.0, 3.0, 1.25), (1.0, 3.0, 1.25), (1.0, 3.0, 1.25), (3.0, 5.0, 1.25), (5.0, 20.0, 1.0)]
    for a, b in itertools.pairwise(segs):
        assert b.mix_start_s == pytest.approx(a.mix_end_s)
    assert segs[-1].mix_end_s == pytest.approx(10.0 + 9.0 / 1.25 + 15.0)
    assert mix_time(segs, 2.0) == pytest.approx(segs[2].mix_start_s + 1.0 / 1.25)  # after the bed


def test_transition_kinds_follow_the_cue_points() -> None:
    a = known(SynthSpec(bpm=120), "a.flac")
    assert plan_transition(a, known(SynthSpec(bpm=124), "b.flac"), SETTINGS).kind == "beatmatch"
    clash = plan_transition(a, known(SynthSpec(bpm=140), "c.flac"), SETTINGS)
    assert clash.kind == "fade" and clash.overlap_s == SETTINGS.min_crossfade_s
    keys = plan_transition(a, known(SynthSpec(bpm=120), "d.flac", camelot="2A"), SETTINGS)
    assert keys.kind == "fade" and "keys clash" in keys.reason
    abrupt = known(SynthSpec(bpm=120), "e.flac", outro_start_s=SynthSpec().duration_s - 0.5)
    assert plan_transition(abrupt, a, SETTINGS).kind == "cut"
    unsure = plan_transition(known(SynthSpec(bpm=120), "f.flac", bpm_confidence=0.0), a, SETTINGS)
    assert unsure.kind == "crossfade"
    assert SETTINGS.min_crossfade_s <= unsure.overlap_s <= SETTINGS.max_crossfade_s


def test_beatmatch_lands_downbeat_on_downbeat() -> None:
    a, b = known(SynthSpec(bpm=120), "a.flac"), known(SynthSpec(bpm=126), "b.flac")
    # The grid alone (these files do not exist, so there is nothing to listen to).
    grid_only = dataclasses.replace(SETTINGS, align_by_ear=False)
    tl = build_timeline(Plan((a, b), (), 0.0), [], grid_only)
    second = tl.tracks[1]
    assert second.transition == "beatmatch"
    assert second.stretch == pytest.approx(120 / 126, rel=1e-3)  # slowed to the outgoing tempo
    landing = mix_time(second.segments, 0.0)  # the incoming track's first downbeat
    bar = 4 * 60 / 120
    # The outgoing track's bars sit at multiples of 2 s from its start at 0.
    assert landing / bar == pytest.approx(round(landing / bar), abs=1e-3)
    # Beats stay together through the overlap: the incoming beat grid has the outgoing period.
    assert (second.segments[0].mix_end_s - landing) / (60 / 120) == pytest.approx(
        round((second.segments[0].mix_end_s - landing) / 0.5), abs=0.02)


def test_links_hit_the_post_start_early_or_hold_a_bed() -> None:
    # 8 s intro (post at 7.5 s); a 16 s outro, longer than the 12 s overlap, leaves a lead-in.
    spec = SynthSpec(bpm=120, intro_bars=4, body_bars=12, outro_bars=8)
    a, b = known(spec, "a.flac"), known(spec, "b.flac")
    plan = Plan((a, b), (), 0.0)
    short = build_timeline(plan, [speech(0, 3.0), speech(1, 4.0)], SETTINGS)
    for link, track in zip(short.links, short.tracks, strict=True):
        assert link.end_s == pytest.approx(link.post_s, abs=0.01)
        assert link.post_s == pytest.approx(track.intro_end_s - SETTINGS.post_margin_s, abs=0.01)
        assert track.bed_s == 0
    opening = build_timeline(plan, [speech(0, 12.0)], SETTINGS)
    assert opening.tracks[0].bed_s > 0  # the first track is held on a bed
    assert opening.links[0].end_s <= opening.links[0].post_s + 0.01
    long = build_timeline(plan, [speech(0, 3.0), speech(1, 15.0)], SETTINGS)
    first, second = long.tracks
    assert first.bed_s == 0 and second.bed_s > 0
    for link in long.links:
        assert link.end_s <= link.post_s + 0.01
    # The second link starts over the first track's outro, before the second track starts.
    assert long.links[1].start_s < second.start_s
    assert long.links[1].start_s >= long.links[0].end_s + 0.5  # never two voices


def test_vocals_before_the_intro_end_move_the_post() -> None:
    base = known(SynthSpec(bpm=120))
    sung = known(SynthSpec(bpm=120), vocal_onset_s=5.0, vocal_confidence=0.9)
    unsure = known(SynthSpec(bpm=120), vocal_onset_s=5.0, vocal_confidence=0.1)
    assert post_s(base, SETTINGS) == pytest.approx(7.5)
    assert post_s(sung, SETTINGS) == pytest.approx(4.5)
    assert post_s(unsure, SETTINGS) == pytest.approx(7.5)
    # A voice the track opens on leaves no intro to talk over: the post is its first sound.
    first = base.analysis.first_sound_s
    opening = known(SynthSpec(bpm=120), vocal_onset_s=first, vocal_confidence=0.9)
    assert post_s(opening, SETTINGS) == pytest.approx(play_range_s(opening)[0])


@pytest.mark.parametrize(("voice_s", "bed"), [(0.0, "none"), (1.2, "none"), (1.6, "beats"),
                                              (2.6, "bar")])
def test_a_bed_never_loops_the_voice_the_post_waits_for(voice_s: float, bed: str) -> None:
    spec = SynthSpec(bpm=120, intro_bars=4, body_bars=12, outro_bars=8)
    a = known(spec, "a.flac")
    b = known(spec, "b.flac", vocal_onset_s=voice_s, vocal_confidence=0.9)
    plan = Plan((a, b), (), 0.0)
    tl = build_timeline(plan, [speech(1, 14.0)], SETTINGS)
    first, second = tl.tracks
    (link,) = tl.links
    assert link.end_s <= link.post_s + 0.01
    # The voice is heard once, and only after the link is over.
    voiced = [s for s in second.segments if s.source_end_s > voice_s + 0.05]
    assert len(voiced) == 1
    assert mix_time(second.segments, voice_s) >= link.end_s - 0.01
    if bed == "none":  # nothing fits before the voice: the track starts cold, after the link
        assert second.bed_s == 0 and second.crossfade_s == 0
        assert second.fade_in_s <= 0.1 and "after its link" in second.transition_reason
        assert link.start_s < first.end_s  # said over the end of the previous track
        assert second.start_s > build_timeline(plan, [], SETTINGS).tracks[1].start_s  # waits
    else:
        loops = second.segments[1:-1]
        beat = 60 / spec.bpm
        assert second.bed_s > 0 and loops
        assert all(s.source_end_s - s.source_start_s == pytest.approx(
            4 * beat if bed == "bar" else 2 * beat, abs=1e-3) for s in loops)
        assert second.start_s < first.end_s  # held on a bed, still overlapping


@pytest.mark.slow
@pytest.mark.parametrize("grid_error_s", [0.0, 0.07])
def test_rendered_beatmatch_keeps_kicks_together(tmp_path: Path, grid_error_s: float) -> None:
    specs = [SynthSpec(bpm=120, intro_bars=2, body_bars=8, outro_bars=4),
             SynthSpec(bpm=125, intro_bars=4, body_bars=8, outro_bars=2, seed=3)]
    tracks = [known(s, str(write_track(tmp_path / f"{i}.flac", s)), intro_end_s=0.0)
              for i, s in enumerate(specs)]
    # A grid that drifted: the incoming track's beats are believed 70 ms late.
    drifted = tuple(t + grid_error_s for t in tracks[1].analysis.beat_times_s)
    tracks[1] = dataclasses.replace(
        tracks[1], analysis=dataclasses.replace(tracks[1].analysis, beat_times_s=drifted))
    plan = Plan(tuple(tracks), (), 0.0)
    tl = build_timeline(plan, [], SETTINGS, handovers=decide_handovers(plan, SETTINGS))
    first, second = tl.tracks
    assert second.transition == "beatmatch"

    def kicks(only: int) -> np.ndarray:
        solo = dataclasses.replace(tl, tracks=(tl.tracks[only],))
        pcm = np.concatenate(list(render_blocks(solo, SETTINGS, voice=False)), axis=1).mean(0)
        low = librosa.effects.preemphasis(pcm, coef=-0.97)  # favour the kick's low end
        onsets = librosa.onset.onset_detect(y=low, sr=tl.sr, units="time", backtrack=False,
                                            hop_length=128)
        hi = first.end_s - first.fade_out_s / 2
        return onsets[(onsets >= second.start_s) & (onsets <= hi)]

    out_kicks, in_kicks = kicks(0), kicks(1)
    assert len(out_kicks) >= 4 and len(in_kicks) >= 4
    offsets = [np.min(np.abs(out_kicks - t)) for t in in_kicks]
    assert np.median(offsets) <= 0.02


def test_no_audible_common_beat_means_no_beatmatch() -> None:
    # The grids say 120 and 124 BPM, but the files are missing: nothing is heard,
    # so the mixer does not gamble on a beatmatch.
    a, b = known(SynthSpec(bpm=120), "a.flac"), known(SynthSpec(bpm=124), "b.flac")
    plan = Plan((a, b), (), 0.0)
    tl = build_timeline(plan, [], SETTINGS, handovers=decide_handovers(plan, SETTINGS))
    assert tl.tracks[1].transition == "crossfade"
    assert tl.tracks[1].stretch == 1.0


def test_loud_music_is_ducked_deeper_so_speech_stays_on_top() -> None:
    spec = SynthSpec(bpm=120)
    n = int(spec.duration_s)
    quiet = known(spec, "q.flac", short_term_lufs=tuple([-30.0] * n), lufs=-20.0)
    loud = known(spec, "l.flac", short_term_lufs=tuple([-6.0] * n), lufs=-14.0)
    for track, expected in ((quiet, SETTINGS.duck_db), (loud, -19.0)):
        tl = build_timeline(Plan((track,), (), 0.0), [speech(0, 3.0)], SETTINGS)
        # quiet: -30 LUFS + 6 dB gain is far under the voice, the default depth holds;
        # loud: -6 LUFS + 0 dB gain needs -14 - 11 - (-6) = -19 dB.
        assert tl.links[0].duck_db == pytest.approx(expected)
    very_loud = known(spec, "v.flac", short_term_lufs=tuple([10.0] * n), lufs=-14.0)
    tl = build_timeline(Plan((very_loud,), (), 0.0), [speech(0, 3.0)], SETTINGS)
    assert tl.links[0].duck_db == SETTINGS.max_duck_db


def test_gain_makes_up_for_what_the_limiter_will_take() -> None:
    a = known(SynthSpec(bpm=120)).analysis
    quiet = dataclasses.replace(a, lufs=-20.0, true_peak_dbtp=-1.0)
    # No model: plain normalisation.
    assert track_gain_db(quiet, -14.0, -1.0) == pytest.approx(6.0)
    # 0.1 LU lost per dB over the ceiling: at +6 dB (+m make-up) the peak is 6 + m dB
    # over, so m = 0.1 (6 + m): m = 2/3.
    mild = dataclasses.replace(quiet, limiter_loss_lu=tuple(0.1 * k for k in range(25)))
    assert track_gain_db(mild, -14.0, -1.0) == pytest.approx(6.0 + 2 / 3, abs=1e-3)
    # A master that loses every dB it gains cannot get there: capped, not crushed.
    dense = dataclasses.replace(quiet, limiter_loss_lu=tuple(float(k) for k in range(25)))
    assert track_gain_db(dense, -14.0, -1.0) == pytest.approx(6.0 + MAX_MAKEUP_DB)
    # Peaks under the ceiling at that gain: nothing to make up.
    assert track_gain_db(mild, -14.0, 10.0) == pytest.approx(6.0)
