"""The analysis cache and executors: content-keyed, failures remembered, Dask mapped."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from segue.analysis.cache import AnalysisCache, content_hash
from segue.analysis.executor import analyze_paths, check_executor
from segue.errors import SegueError


def test_unchanged_files_are_never_analysed_twice(synth_set: dict[str, Path],
                                                  tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    good = Path(shutil.copy(synth_set["alpha"], music / "alpha.flac"))
    junk = music / "junk.mp3"
    junk.write_text("not audio at all\n" * 20)
    with AnalysisCache(tmp_path / "cache", "test-1") as cache:
        first = analyze_paths([good, junk], jobs=1, cache=cache)
        assert [o.ok for o in first] == [True, False] and not any(o.cached for o in first)
        assert "junk.mp3" in (first[1].error or "")
        assert cache.count() == {"ok": 1, "failed": 1}
        again = analyze_paths([good, junk], jobs=1, cache=cache)
        assert all(o.cached for o in again)
        assert again[0].track == first[0].track and again[1].error == first[1].error
        # A renamed copy is the same content: a hit, reported under its new path.
        copy = Path(shutil.copy(good, music / "renamed.flac"))
        (hit,) = analyze_paths([copy], jobs=1, cache=cache)
        assert hit.cached and hit.track is not None and hit.track.path == str(copy)
        # A failed file is retried once it changes.
        shutil.copy(synth_set["bravo"], junk)
        (fixed,) = analyze_paths([junk], jobs=1, cache=cache)
        assert fixed.ok and not fixed.cached
    # Another analyser version ignores the old results.
    with AnalysisCache(tmp_path / "cache", "test-2") as cache:
        (redo,) = analyze_paths([good], jobs=1, cache=cache)
        assert redo.ok and not redo.cached


def test_a_renamed_untagged_file_is_named_by_its_new_name(tmp_path: Path) -> None:
    from synthetic import SynthSpec, write_track

    old = write_track(tmp_path / "track01.wav", SynthSpec(intro_bars=2, body_bars=4,
                                                          outro_bars=2))  # fmt: skip
    with AnalysisCache(tmp_path / "cache", "test-1") as cache:
        (first,) = analyze_paths([old], jobs=1, cache=cache)
        new = old.rename(tmp_path / "Some Band - Their Song.wav")  # the user fixed the name
        (hit,) = analyze_paths([new], jobs=1, cache=cache)
    assert first.track is not None and first.track.tags.title == "track01"
    assert hit.cached and hit.track is not None
    assert (hit.track.tags.artist, hit.track.tags.title) == ("Some Band", "Their Song")
    assert hit.track.analysis == first.track.analysis  # the analysis itself is reused


def test_a_file_name_that_is_not_utf8_is_cached_and_written_out(synth_set: dict[str, Path],
                                                               tmp_path: Path) -> None:
    from segue.mixing.encode import write_atomic

    odd = Path(shutil.copy(synth_set["alpha"], tmp_path / os.fsdecode(b"caf\xe9.flac")))
    with AnalysisCache(tmp_path / "cache", "test-1") as cache:
        (first,) = analyze_paths([odd], jobs=1, cache=cache)
        (again,) = analyze_paths([odd], jobs=1, cache=cache)
    assert first.ok and again.cached and again.track is not None
    assert again.track.path == str(odd) and again.error is None
    out = tmp_path / "timeline.json"
    write_atomic(out, json.dumps({"path": again.track.path}, ensure_ascii=False))
    assert json.loads(out.read_text(encoding="utf-8")) == {"path": str(tmp_path / "café.flac")}


def test_content_hash_follows_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 3_000_000)
    b.write_bytes(b"x" * 3_000_000)
    assert content_hash(a) == content_hash(b)
    b.write_bytes(b"x" * 2_999_999 + b"y")
    assert content_hash(a) != content_hash(b)


def test_process_pool_keeps_input_order(synth_set: dict[str, Path]) -> None:
    paths = [synth_set["charlie"], synth_set["alpha"], synth_set["bravo"]]
    outcomes = analyze_paths(paths, jobs=2)
    assert [o.path for o in outcomes] == [str(p) for p in paths]
    assert [round(o.track.analysis.bpm) for o in outcomes] == [96, 120, 124]


def test_unknown_executor_lists_the_valid_ones() -> None:
    with pytest.raises(SegueError, match=r"unknown executor 'spark'.*local, dask"):
        check_executor("spark")


@pytest.mark.slow
def test_dask_cluster_maps_the_same_function(synth_set: dict[str, Path]) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        address = "dask://" + cluster.scheduler_address
        outcomes = analyze_paths([synth_set["alpha"], synth_set["charlie"]], executor=address)
    assert [round(o.track.analysis.bpm) for o in outcomes] == [120, 96]
