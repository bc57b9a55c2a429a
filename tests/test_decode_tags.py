"""Decoding any format/rate/layout, refusing bad files by name, and reading tags."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from segue.analysis.decode import decode
from segue.analysis.tags import MAX_TAG_CHARS, clean_text, read_tags
from segue.errors import DecodeError


def _tone(sr: int, seconds: float, channels: int) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    mono = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([mono] * channels, axis=1).astype(np.float32)


@pytest.mark.parametrize(("sr", "channels"), [(8000, 1), (44100, 2), (96000, 2), (48000, 6)])
def test_any_rate_and_layout_decodes_to_stereo_at_the_asked_rate(
    tmp_path: Path, sr: int, channels: int
) -> None:
    path = tmp_path / f"tone_{sr}_{channels}.wav"
    sf.write(path, _tone(sr, 2.0, channels), sr)
    out = decode(path, sr=22050, channels=2)
    assert out.shape[0] == 2
    assert out.shape[1] == pytest.approx(2.0 * 22050, abs=64)
    assert np.max(np.abs(out)) > 0.1


@pytest.mark.parametrize("codec", [
    ("mp3", ["-c:a", "libmp3lame"]), ("ogg", ["-c:a", "libvorbis"]), ("opus", ["-c:a", "libopus"]),
    ("m4a", ["-c:a", "aac"]), ("flac", []),
])
def test_compressed_formats_decode(tmp_path: Path, codec: tuple[str, list[str]]) -> None:
    ext, args = codec
    wav = tmp_path / "src.wav"
    sf.write(wav, _tone(44100, 2.0, 2), 44100)
    out_path = tmp_path / f"x.{ext}"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(wav), *args, str(out_path)]
    subprocess.run(cmd, check=True)
    out = decode(out_path, sr=44100, channels=1)
    assert out.shape == (1, pytest.approx(88200, abs=3000))


def test_bad_files_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio at all\n" * 50)
    with pytest.raises(DecodeError, match=r"empty\.mp3: empty file"):
        decode(empty, sr=22050)
    with pytest.raises(DecodeError, match=r"notes\.mp3: not decodable"):
        decode(text, sr=22050)
    with pytest.raises(DecodeError, match=r"missing\.ogg: no such file"):
        decode(tmp_path / "missing.ogg", sr=22050)


def test_tags_and_file_name_fallbacks(tmp_path: Path) -> None:
    tagged = tmp_path / "x.flac"
    sf.write(tagged, _tone(22050, 1.0, 1), 22050)
    import mutagen

    audio = mutagen.File(tagged, easy=True)
    audio["title"] = "Real Title"
    audio["artist"] = "Real Artist"
    audio["date"] = "2009-03-01"
    audio["genre"] = "Metal"
    audio.save()
    tags = read_tags(tagged)
    assert (tags.title, tags.artist, tags.year, tags.genre) == (
        "Real Title", "Real Artist", 2009, "Metal")

    named = tmp_path / "03 - Some Band - Their Song.wav"
    sf.write(named, _tone(22050, 1.0, 1), 22050)
    tags = read_tags(named)
    assert (tags.artist, tags.title) == ("Some Band", "Their Song")

    for dash in ("\u2013", "\u2014"):  # an en or em dash, as music stores name files
        dashed = tmp_path / f"Some Band {dash} Their Song.wav"
        sf.write(dashed, _tone(22050, 1.0, 1), 22050)
        assert (read_tags(dashed).artist, read_tags(dashed).title) == ("Some Band", "Their Song")
    hyphenated = tmp_path / "Jay-Z-Song.wav"  # an unspaced hyphen is part of a name
    sf.write(hyphenated, _tone(22050, 1.0, 1), 22050)
    assert read_tags(hyphenated).artist == "Unknown artist"

    bare = tmp_path / "untitled_take.wav"
    sf.write(bare, _tone(22050, 1.0, 1), 22050)
    tags = read_tags(bare)
    assert (tags.artist, tags.title) == ("Unknown artist", "untitled take")


def test_messy_tags_and_names_come_out_as_text(tmp_path: Path) -> None:
    import mutagen

    messy = tmp_path / "x.flac"
    sf.write(messy, _tone(22050, 1.0, 1), 22050)
    audio = mutagen.File(messy, easy=True)
    audio["title"] = "T" * 5000
    audio["artist"] = "\x01The\tBand\x7f  \n"
    audio.save()
    tags = read_tags(messy)
    assert len(tags.title) == MAX_TAG_CHARS and tags.title.endswith("…")
    assert tags.artist == "The Band"
    # A file name in a legacy code page (bytes that are not UTF-8) reads as Latin-1.
    latin = tmp_path / os.fsdecode(b"Caf\xe9 - D\xe9j\xe0 vu.wav")
    sf.write(tmp_path / "plain.wav", _tone(22050, 1.0, 1), 22050)
    os.rename(tmp_path / "plain.wav", latin)  # soundfile cannot open such a name itself
    tags = read_tags(latin)
    assert (tags.artist, tags.title) == ("Café", "Déjà vu")
    assert clean_text(os.fsdecode(b"a\xffb")) == "aÿb"


def test_chunked_decoding_equals_whole_decoding(tmp_path: Path) -> None:
    from segue.analysis.decode import iter_chunks, measurement_rate, source_rate

    path = tmp_path / "tone.flac"
    sf.write(path, _tone(48000, 3.0, 2), 48000)
    assert measurement_rate(source_rate(path)) == 48000
    assert measurement_rate(8000) == 44100 and measurement_rate(192000) == 48000
    whole = decode(path, sr=48000, channels=2)
    chunks = list(iter_chunks(path, sr=48000, channels=2, chunk_frames=10000))
    assert all(c.shape == (2, 10000) for c in chunks[:-1])
    assert np.array_equal(np.concatenate(chunks, axis=1), whole)
    notes = tmp_path / "notes.ogg"
    notes.write_text("not audio\n" * 30)
    with pytest.raises(DecodeError, match=r"notes\.ogg: not decodable"):
        list(iter_chunks(notes, sr=44100))
