"""ID3 chapters inside the MP3: one per track, in play order, read back by mutagen and ffprobe."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from mutagen.id3 import ID3

from segue.mixing.artifacts import CUE_MAX_CHARS, timeline_cue, write_id3_chapters
from segue.mixing.encode import FileSink
from segue.models import Timeline, TimelineTrack

SR = 44100


def _timeline(n_tracks: int, track_s: float) -> Timeline:
    # Titles whose lengths do not grow with the position: a writer that sorts frames
    # by size (as mutagen's does) scrambles them.
    titles = [("x" * ((7 * i) % 11 + 1)) + f" {i}" for i in range(n_tracks)]
    tracks = tuple(
        TimelineTrack(path=f"/music/{i}.flac", title=titles[i], artist=f"Artist {i % 3}",
                      start_s=i * track_s, end_s=(i + 1) * track_s + 0.3, source_in_s=0.0,
                      source_out_s=track_s, gain_db=0.0, fade_in_s=0.0, fade_out_s=0.0,
                      intro_end_s=i * track_s, outro_start_s=(i + 1) * track_s, bpm=120.0,
                      camelot="8A", energy=0.5)
        for i in range(n_tracks)
    )
    return Timeline(duration_s=n_tracks * track_s + 0.3, target_lufs=-14.0, sr=SR,
                    tracks=tracks, links=())


def _mp3(path: Path, timeline: Timeline) -> None:
    n = round(timeline.duration_s * SR)
    t = np.arange(n) / SR
    tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with FileSink(path, sr=SR, before_commit=lambda tmp: write_id3_chapters(tmp, timeline)) as sink:
        sink.write(np.stack([tone, tone]))


@pytest.mark.parametrize("n_tracks", [3, 14])
def test_chapters_come_out_in_play_order(tmp_path: Path, n_tracks: int) -> None:
    timeline = _timeline(n_tracks, track_s=1.0)
    out = tmp_path / "mix.mp3"
    _mp3(out, timeline)
    tags = ID3(out)
    chapters = tags.getall("CHAP")
    assert [c.sub_frames["TIT2"].text[0] for c in chapters] == [
        tr.title for tr in timeline.tracks
    ]
    starts = [c.start_time for c in chapters]
    assert starts == [round(tr.start_s * 1000) for tr in timeline.tracks]
    # Contiguous: each chapter ends where the next starts, the last at the end of the mix.
    assert [c.end_time for c in chapters[:-1]] == starts[1:]
    assert chapters[-1].end_time == round(timeline.duration_s * 1000)
    (toc,) = tags.getall("CTOC")
    assert list(toc.child_element_ids) == [c.element_id for c in chapters]
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(out)],
                           capture_output=True, text=True, check=True)
    found = json.loads(probe.stdout)["chapters"]
    assert [c["tags"]["title"] for c in found] == [tr.title for tr in timeline.tracks]
    assert [float(c["start_time"]) for c in found] == pytest.approx(
        [tr.start_s for tr in timeline.tracks], abs=1e-3)


def test_the_audio_is_untouched_by_the_chapters(tmp_path: Path) -> None:
    timeline = _timeline(3, track_s=1.0)
    plain, tagged = tmp_path / "plain.mp3", tmp_path / "tagged.mp3"
    _mp3(plain, timeline)
    _mp3(tagged, timeline)
    write_id3_chapters(plain, timeline)  # tagging twice replaces, never stacks, the tag

    def frames(path: Path) -> bytes:
        return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-"],
                              capture_output=True, check=True).stdout

    assert frames(plain) == frames(tagged)
    assert len(ID3(plain).getall("CHAP")) == 3
    assert plain.read_bytes().count(b"ID3\x04") == 1


def test_more_than_255_chapters_get_sub_tables(tmp_path: Path) -> None:
    timeline = _timeline(300, track_s=0.05)
    out = tmp_path / "long.mp3"
    _mp3(out, timeline)
    tags = ID3(out)
    assert len(tags.getall("CHAP")) == 300
    tocs = {t.element_id: list(t.child_element_ids) for t in tags.getall("CTOC")}
    assert tocs["toc"] == ["toc0", "toc1"]
    assert len(tocs["toc0"]) == 255 and len(tocs["toc1"]) == 45
    assert tocs["toc0"] + tocs["toc1"] == [c.element_id for c in tags.getall("CHAP")]


def test_the_cue_sheet_keeps_to_the_format(caplog: pytest.LogCaptureFixture) -> None:
    base = _timeline(120, track_s=10.0)
    long_title = "A" * 79 + ' "quoted"\nand on'
    first = replace(base.tracks[0], title=long_title, artist="B" * 200)
    timeline = replace(base, tracks=(first, *base.tracks[1:]))
    name = "a very long file name " * 5 + ".mp3"
    with caplog.at_level("WARNING"):
        sheet = timeline_cue(timeline, name)
    fields = re.findall(r'^\s*(TITLE|PERFORMER|FILE) "([^"]*)"', sheet, re.MULTILINE)
    assert all(len(text) <= CUE_MAX_CHARS for kind, text in fields if kind != "FILE")
    assert ("FILE", name) in fields  # the file name must still name the file
    assert ("TITLE", "A" * 79 + "…") in fields
    tracks = re.findall(r"^  TRACK (\d+) AUDIO$", sheet, re.MULTILINE)
    assert tracks == [f"{n:02d}" for n in range(1, 100)]
    assert "first 99 of 120 tracks" in caplog.text
