"""ID3v2.3 tags for pack tracks: built as bytes, put before a real MP3's frames, read back by mutagen and ffprobe."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.support.media import ffprobe_json, run_tool
from transcode.errors import CorruptMedia
from transcode.pack_tags import TrackTags, id3_tag_bytes, mpeg_audio_span, read_id3_tag
from transcode.spans import iter_piece_chunks

TRANSCRIPT = "同志们好。\r\n今天我们学习党章。\n\n第一部分：总纲 🎉"


def make_edition_like_mp3(path: Path) -> Path:
    """As the audio edition is: mono 64 kbit/s MP3 with ffmpeg's own ID3v2.3 tag, and an ID3v1 tag at the end."""
    run_tool("ffmpeg", "-f", "lavfi", "-i", "sine=f=440:d=3", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k",
             "-id3v2_version", "3", "-write_id3v1", "1", "-metadata", "title=旧标题", "-metadata", "artist=old",
             path)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def edition_mp3(media_dir: Path) -> Path:
    path = media_dir / "pack edition.mp3"
    return path if path.exists() else make_edition_like_mp3(path)


@pytest.fixture(scope="module")
def cover(media_dir: Path) -> bytes:
    path = media_dir / "pack cover 64.jpg"
    if not path.exists():
        run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=64x64:d=1", "-frames:v", "1", "-c:v", "mjpeg",
                 "-pix_fmt", "yuvj420p", path)  # fmt: skip
    return path.read_bytes()


BASE_TAGS = TrackTags(title="开篇：学习党章 🎉", artist="张三", album="2026年第3季度 党课随身听 第2版", track_number=3,
                      track_count=12, year=2026, genre="党课", cover_jpeg=None, lyrics=TRANSCRIPT)


def tags(**changes: Any) -> TrackTags:
    return replace(BASE_TAGS, **changes)


def write_track(path: Path, tag: bytes, edition: Path) -> Path:
    path.write_bytes(tag + b"".join(iter_piece_chunks([mpeg_audio_span(edition)])))
    return path


def test_the_tag_is_a_complete_unpadded_id3v23_tag(cover: bytes, tmp_path: Path) -> None:
    tag = id3_tag_bytes(tags(cover_jpeg=cover))
    assert tag.startswith(b"ID3\x03\x00")
    body = tag[6:10]
    size = (body[0] << 21) | (body[1] << 14) | (body[2] << 7) | body[3]
    assert size == len(tag) - 10
    assert not tag.endswith(b"\x00" * 16)  # no padding
    path = tmp_path / "tag.id3"
    path.write_bytes(tag)
    assert read_id3_tag(path).size == len(tag)


def test_a_track_made_of_tag_and_frames_reads_back_in_mutagen(edition_mp3: Path, cover: bytes,
                                                              tmp_path: Path) -> None:
    track = write_track(tmp_path / "03_开篇.mp3", id3_tag_bytes(tags(cover_jpeg=cover)), edition_mp3)
    tag = read_id3_tag(track)
    assert tag.version == (2, 3, 0)
    assert tag["TIT2"].text == ["开篇：学习党章"]  # the emoji a player font lacks is gone
    assert tag["TPE1"].text == ["张三"]
    assert tag["TALB"].text == ["2026年第3季度 党课随身听 第2版"]
    assert tag["TRCK"].text == ["3/12"]
    assert tag["TYER"].text == ["2026"]
    assert tag["TCON"].text == ["党课"]
    assert "TDRC" not in tag  # a v2.4 frame
    for key in ("TIT2", "TPE1", "TALB", "TRCK", "TYER", "TCON"):
        assert tag[key].encoding == 1, key  # UTF-16 with a BOM
    (picture,) = tag.getall("APIC")
    assert picture.mime == "image/jpeg" and picture.type == 3 and picture.data == cover
    (lyrics,) = tag.getall("USLT")
    assert lyrics.lang == "chi" and lyrics.encoding == 1
    assert lyrics.text == "同志们好。\n今天我们学习党章。\n\n第一部分：总纲"
    assert len(tag.getall("TIT2")) == 1  # the edition's own tag is not read


def test_ffprobe_decodes_the_track_with_the_editions_duration(edition_mp3: Path, cover: bytes,
                                                              tmp_path: Path) -> None:
    track = write_track(tmp_path / "track.mp3", id3_tag_bytes(tags(cover_jpeg=cover)), edition_mp3)
    probed = ffprobe_json(track)
    original = ffprobe_json(edition_mp3)
    (audio,) = [s for s in probed["streams"] if s["codec_type"] == "audio"]
    assert audio["codec_name"] == "mp3"
    (picture,) = [s for s in probed["streams"] if s["codec_type"] == "video"]
    assert picture["codec_name"] == "mjpeg" and picture["disposition"]["attached_pic"] == 1
    assert abs(float(probed["format"]["duration"]) - float(original["format"]["duration"])) < 0.05
    assert probed["format"]["tags"]["title"] == "开篇：学习党章"
    decoded = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(track), "-f", "null", "-"],
                             capture_output=True, text=True, check=True)
    assert decoded.stderr == ""


def test_the_audio_span_skips_the_editions_tags_and_starts_on_a_frame(edition_mp3: Path) -> None:
    span = mpeg_audio_span(edition_mp3)
    data = edition_mp3.read_bytes()
    assert data.startswith(b"ID3") and data[-128:].startswith(b"TAG")
    assert span.start > 10 and span.start + span.length == len(data) - 128
    frames = data[span.start:span.start + span.length]
    assert frames[0] == 0xFF and frames[1] & 0xE0 == 0xE0
    assert b"ID3" not in frames[:4] and "旧标题".encode("utf-16-le") not in frames


def test_a_title_with_nothing_readable_is_tagged_as_lesson_n(tmp_path: Path) -> None:
    path = tmp_path / "t.id3"
    path.write_bytes(id3_tag_bytes(tags(title="🎉🎉", lyrics="", artist="")))
    tag = read_id3_tag(path)
    assert tag["TIT2"].text == ["第3课"]
    assert "TPE1" not in tag and "APIC" not in tag and not tag.getall("USLT")


def test_a_cover_that_is_not_a_jpeg_or_a_track_beyond_the_count_is_refused() -> None:
    with pytest.raises(ValueError):
        id3_tag_bytes(tags(cover_jpeg=b"\x89PNG\r\n\x1a\n"))
    with pytest.raises(ValueError):
        id3_tag_bytes(tags(track_number=13))


def test_a_file_without_mpeg_frames_has_no_audio_span(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp3"
    text.write_text("这不是音频。" * 50)
    with pytest.raises(CorruptMedia):
        mpeg_audio_span(text)
