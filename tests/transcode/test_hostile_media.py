"""Hostile and broken uploads are refused at probing with a stable code and a Chinese message."""

from __future__ import annotations

from pathlib import Path

import pytest

from transcode.errors import (
    CorruptMedia,
    ImageNotMedia,
    NotMedia,
    PlaylistRefused,
    TooLong,
    TooManyPixels,
    TranscodeError,
)
from transcode.limits import MediaLimits
from transcode.probe import probe_media

LIMITS = MediaLimits()


@pytest.mark.parametrize(
    ("fixture", "error", "code"),
    [
        ("zero_bytes_file", NotMedia, "not_media"),
        ("text_as_mp4", NotMedia, "not_media"),
        ("png_as_mp4", ImageNotMedia, "image_not_media"),
        ("truncated_mp4", CorruptMedia, "corrupt_media"),
        ("hls_playlist", PlaylistRefused, "playlist_refused"),
        ("ffconcat_script", PlaylistRefused, "playlist_refused"),
        ("duration_bomb", TooLong, "too_long"),
        ("pixel_bomb", TooManyPixels, "too_many_pixels"),
    ],
)
def test_hostile_file_is_refused_with_its_code(
    fixture: str, error: type[TranscodeError], code: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(fixture)
    with pytest.raises(error) as caught:
        probe_media(path, limits=LIMITS)
    assert caught.value.code == code
    assert not caught.value.retryable
    assert any("\u4e00" <= ch <= "\u9fff" for ch in caught.value.message)


def test_image_refusal_is_also_not_media(png_as_mp4: Path) -> None:
    with pytest.raises(NotMedia):
        probe_media(png_as_mp4, limits=LIMITS)


def test_too_long_message_names_the_configured_limit(duration_bomb: Path) -> None:
    with pytest.raises(TooLong) as caught:
        probe_media(duration_bomb, limits=MediaLimits(max_duration_s=3600))
    assert caught.value.message == "时长超过上限（60 分钟）"


def test_duration_bomb_is_accepted_under_a_higher_limit(duration_bomb: Path) -> None:
    probe = probe_media(duration_bomb, limits=MediaLimits(max_duration_s=4 * 3600))
    assert probe.duration_s > 3 * 3600 - 60


def test_pixel_limit_is_configurable(rotated_portrait_clip: Path) -> None:
    with pytest.raises(TooManyPixels) as caught:
        probe_media(rotated_portrait_clip, limits=MediaLimits(max_pixels=320 * 240))
    assert "万像素" in caught.value.message


@pytest.mark.parametrize(
    "head",
    [
        b"\xef\xbb\xbf#EXTM3U\n#EXTINF:1,\nhttp://example.com/a.ts\n",
        b"[playlist]\nFile1=http://example.com/a.mp3\n",
        b"file:///etc/passwd\n",
        b"  ffconcat version 1.0\nfile a.mp4\n",
    ],
)
def test_playlist_variants_are_refused_before_ffprobe(head: bytes, tmp_path: Path) -> None:
    path = tmp_path / "list.mp4"
    path.write_bytes(head)
    with pytest.raises(PlaylistRefused):
        probe_media(path, limits=LIMITS, ffprobe_bin="/nonexistent/ffprobe")


@pytest.mark.parametrize(
    ("head", "error"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", ImageNotMedia),
        (b"GIF89a\x01\x00\x01\x00", ImageNotMedia),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", ImageNotMedia),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", ImageNotMedia),
        ("一段普通的文字。\n".encode() * 10, NotMedia),
    ],
)
def test_images_and_text_are_refused_before_ffprobe(
    head: bytes, error: type[TranscodeError], tmp_path: Path
) -> None:
    path = tmp_path / "upload.mp4"
    path.write_bytes(head)
    with pytest.raises(error):
        probe_media(path, limits=LIMITS, ffprobe_bin="/nonexistent/ffprobe")


def test_random_bytes_are_not_media(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(NotMedia) as caught:
        probe_media(path, limits=LIMITS)
    assert caught.value.code == "not_media"
