"""The show engine: finite and endless shows, the station's rules, reactions and faults."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from segue.config import Settings
from segue.library import Library, track_id
from segue.models import Link, Listener, Track
from segue.narration.script import Gap
from segue.narration.showscript import Draft
from segue.sequencing import plan_order
from segue.show.engine import PLACE_AHEAD_S, Show
from segue.show.model import Reaction, ShowEvent
from synthetic import SynthSpec, band_shelf, known_track

pytestmark = pytest.mark.slow

#: Grid only: the ear's listening is tested in test_timeline; here it only costs time.
SETTINGS = Settings(align_by_ear=False)
QUIET = Listener(talk_level="off")


@pytest.fixture(scope="module")
def shelf(tmp_path_factory: pytest.TempPathFactory) -> list[Track]:
    """Eight short tracks by four artists (two each), genres rock and ambient."""
    folder = tmp_path_factory.mktemp("shelf")
    tracks = []
    for i in range(8):
        spec = SynthSpec(bpm=118 + 2 * i, intro_bars=2, body_bars=4, outro_bars=2, seed=i)
        tracks.append(known_track(folder / f"t{i}.flac", spec, title=f"Song {i}",
                                  artist=f"Artist {i % 4}", energy=0.3 + 0.08 * i,
                                  genre="rock" if i % 2 else "ambient"))  # fmt: skip
    return tracks


@pytest.fixture(scope="module")
def long_shelf(tmp_path_factory: pytest.TempPathFactory) -> list[Track]:
    """Six tracks of about 45 s (rock and ambient), long enough to react to as they play."""
    folder = tmp_path_factory.mktemp("long")
    return band_shelf(folder, 6, name="Long", body_bars=16, outro_bars=4, seed=10,
                      genres=("ambient", "rock"))


def drain(show: Show, *, until_s: float | None = None) -> Iterator[np.ndarray]:
    """Pull the show's blocks (up to audio time ``until_s``)."""
    for block in show.blocks():
        yield block
        if until_s is not None and show.position_s >= until_s:
            break


def played(show: Show) -> list[str]:
    return [e.track.tags.title for e in show.log.tracks]


def test_finite_show_plays_the_global_plan_once_without_gaps(shelf: list[Track]) -> None:
    plan = plan_order(shelf, settings=SETTINGS)
    with Show(Library.of(shelf), listener=QUIET, settings=SETTINGS, endless=False,
              plan=plan) as show:  # fmt: skip
        audio = np.concatenate(list(drain(show)), axis=1)
        assert show.finished
    assert played(show) == [t.tags.title for t in plan.tracks]
    tracks = [e.placed for e in show.log.tracks]
    for a, b in itertools.pairwise(tracks):
        assert b.start_s < a.end_s  # never a gap between tracks
    assert audio.shape[1] / SETTINGS.sample_rate == pytest.approx(tracks[-1].end_s, abs=0.002)
    # The log's plan carries the sequencer's reason into every track but the first.
    assert [t.reason for t in show.log.plan().transitions] == [t.reason for t in plan.transitions]


def test_endless_show_keeps_the_station_rules(shelf: list[Track]) -> None:
    with Show(Library.of(shelf), listener=QUIET, settings=SETTINGS, endless=True,
              arc="wave", stop_after_s=540.0) as show:  # fmt: skip
        for _ in drain(show):
            pass
    ids = [e.id for e in show.log.tracks]
    artists = [e.track.tags.artist for e in show.log.tracks]
    assert len(ids) >= 20
    # The library is far shorter than the repeat window: the show goes on with the tracks
    # heard longest ago (the oldest quarter), so a track waits for at least six others.
    for k in range(len(ids) - 6):
        assert len(set(ids[k : k + 6])) == 6
    # Four artists: none returns within three tracks.
    for k in range(3, len(artists)):
        assert artists[k] not in artists[k - 3 : k]


def test_skip_is_heard_within_three_seconds(long_shelf: list[Track]) -> None:
    events: list[ShowEvent] = []
    latencies: list[float] = []
    with Show(Library.of(long_shelf), listener=QUIET, settings=SETTINGS, endless=True) as show:
        show.subscribe(events.append)
        asked: float | None = None
        for _ in show.blocks():
            now = show.now_playing()
            if asked is None and now.elapsed_s > 6.0 and now.remaining_s > 20.0:
                asked = show.position_s
                before = sum(e.kind == "track" for e in events)
                assert show.react(Reaction("skip")).accepted
            elif asked is not None:
                starts = [e for e in events if e.kind == "track"][before:]
                if starts:
                    latencies.append(starts[0].at_s - asked)
                    asked = None
            if len(latencies) == 5:
                break
    assert len(latencies) == 5
    assert max(latencies) <= 3.0
    skipped = [e for e in show.log.tracks if e.ended == "skipped"]
    assert len(skipped) == 5
    for entry in skipped:  # cut short: a 45 s track heard for well under 20 s
        assert entry.placed.end_s - entry.placed.start_s < 20.0


def test_dislike_removes_the_track_and_requests_steer_the_plan(long_shelf: list[Track]) -> None:
    shelf = long_shelf
    with Show(Library.of(shelf), listener=QUIET, settings=SETTINGS, endless=True) as show:
        blocks = show.blocks()
        while show.position_s < 5.0:
            next(blocks)
        disliked = show.now_playing().song
        assert disliked is not None
        result = show.react(Reaction("dislike"))
        assert result.accepted and disliked.title in result.message
        assert disliked.id not in [u.song.id for u in result.upcoming]
        wanted = next(t for t in shelf if t.tags.title != disliked.title and t.tags.genre == "rock"
                      and track_id(t.path) not in [u.song.id for u in result.upcoming[:1]])
        asked = show.react(Reaction("request", f"play {wanted.tags.title.upper()}"))
        assert asked.accepted, asked.message
        assert asked.upcoming[0].song.title == wanted.tags.title
        assert f"playing {wanted.tags.title} by {wanted.tags.artist}" in asked.message
        unknown = show.react(Reaction("request", "play Song Nine Hundred"))
        assert not unknown.accepted and "Song Nine Hundred" in unknown.message
        assert [u.song.id for u in unknown.upcoming] == [u.song.id for u in asked.upcoming]
        calmer = show.react(Reaction("request", "something calmer"))
        assert calmer.accepted and calmer.constraints["energy_shift"] < 0
        banned = show.react(Reaction("request", "no more ambient tonight"))
        assert banned.accepted
        assert all(t.tags.genre != "ambient" for t in shelf
                   if track_id(t.path) in [u.song.id for u in banned.upcoming])
        banned_at = show.position_s
        while show.position_s < 300.0:
            next(blocks)
        blocks.close()
    titles = played(show)
    assert titles.count(disliked.title) == 1
    assert wanted.tags.title in titles
    after_ban = [e for e in show.log.tracks if e.placed.start_s > banned_at + PLACE_AHEAD_S]
    assert after_ban and all(e.track.tags.genre != "ambient" for e in after_ban)


def test_reactions_on_a_finished_show_are_refused(shelf: list[Track]) -> None:
    with Show(Library.of(shelf[:2]), listener=QUIET, settings=SETTINGS, endless=False) as show:
        for _ in drain(show):
            pass
        result = show.react(Reaction("skip"))
    assert not result.accepted and "ended" in result.message


def test_a_track_that_vanishes_mid_show_is_skipped(shelf: list[Track], tmp_path: Path) -> None:
    doomed_path = tmp_path / "doomed.flac"
    doomed_path.write_bytes(Path(shelf[0].path).read_bytes())
    doomed = dataclasses.replace(shelf[0], path=str(doomed_path),
                                 tags=dataclasses.replace(shelf[0].tags, title="Doomed"))
    library = Library.of([doomed, *shelf[1:4]])
    plan = plan_order([doomed, *shelf[1:4]], settings=SETTINGS, first=0)
    with Show(library, listener=QUIET, settings=SETTINGS, endless=False, plan=plan) as show:
        pcm = []
        for block in show.blocks():
            pcm.append(block)
            if 2.0 < show.position_s < 2.6:  # the decoder is open: now truncate the file
                doomed_path.write_bytes(doomed_path.read_bytes()[:2000])
    audio = np.concatenate(pcm, axis=1)
    first = show.log.tracks[0]
    assert first.track.tags.title == "Doomed" and first.ended == "unplayable"
    assert first.placed.end_s < 10.0
    assert any("doomed.flac" in p for p in library.problems)
    # No long silence: 0.5 s windows stay above -50 dBFS after the first second.
    hop = SETTINGS.sample_rate // 2
    rms = [np.sqrt(np.mean(audio[:, i : i + hop] ** 2)) for i in range(hop, audio.shape[1] - hop,
                                                                       hop)]
    assert min(20 * np.log10(np.array(rms) + 1e-9)) > -50.0


class SlowScript:
    """Words that are ready only when the test says so: a live show must not wait for them."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.prepared = 0

    def wants_link(self, gap: Gap) -> bool:
        return True

    def prepare(self, gap: Gap) -> Draft:
        self.release.wait(timeout=60)
        self.prepared += 1
        return Draft(gap, None, problem="released late")

    def commit(self, draft: Draft) -> Link | None:
        return None

    def set_talk_level(self, level: object) -> None:
        pass


def test_a_live_show_plays_on_while_its_words_are_late(shelf: list[Track]) -> None:
    script = SlowScript()
    with Show(Library.of(shelf), listener=Listener(), settings=SETTINGS, endless=True,
              live=True, script=script) as show:  # fmt: skip
        for _ in drain(show, until_s=90.0):
            pass
        # Several tracks played while every preparation was still waiting for its words.
        assert len(show.log.tracks) >= 3 and script.prepared == 0
        script.release.set()
    assert show.log.links == type(show.log.links)()
