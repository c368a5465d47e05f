"""Posters: a representative frame that is neither the first nor black, upright; an audio file's cover picture."""

from __future__ import annotations

from pathlib import Path

from tests.support.media import gray_thumbnail, streams_of
from transcode.limits import MediaLimits
from transcode.poster import BLACK_MEAN, make_poster
from transcode.probe import probe_media

LIMITS = MediaLimits()


def _mean(pixels: bytes) -> float:
    return sum(pixels) / len(pixels)


def test_clip_that_starts_black_gets_a_non_black_poster(black_start_clip: Path, tmp_path: Path) -> None:
    probe = probe_media(black_start_clip, limits=LIMITS)
    poster = make_poster(black_start_clip, probe, tmp_path / "poster.jpg", limits=LIMITS)
    assert poster is not None
    (image,) = streams_of(poster.path, "video")
    assert image["codec_name"] == "mjpeg"
    assert (image["width"], image["height"]) == (poster.width, poster.height) == (320, 240)
    assert _mean(gray_thumbnail(poster.path, width=16, height=16)) > BLACK_MEAN
    assert (
        _mean(gray_thumbnail(black_start_clip, width=16, height=16)) < BLACK_MEAN
    )  # the first frame is black
    assert [p.name for p in tmp_path.iterdir()] == ["poster.jpg"]  # candidates cleaned up


def test_portrait_clip_poster_is_upright(rotated_portrait_clip: Path, tmp_path: Path) -> None:
    probe = probe_media(rotated_portrait_clip, limits=LIMITS)
    poster = make_poster(rotated_portrait_clip, probe, tmp_path / "poster.jpg", limits=LIMITS)
    assert poster is not None
    (image,) = streams_of(poster.path, "video")
    assert (image["width"], image["height"]) == (poster.width, poster.height) == (360, 640)
    pixels = gray_thumbnail(poster.path, width=2, height=1)
    assert pixels[1] > pixels[0] + 60  # white on the right, as the phone showed it


def test_poster_width_is_capped(landscape_720p_clip: Path, tmp_path: Path) -> None:
    probe = probe_media(landscape_720p_clip, limits=LIMITS)
    poster = make_poster(landscape_720p_clip, probe, tmp_path / "p.jpg", limits=LIMITS, max_width=640)
    assert poster is not None
    assert (poster.width, poster.height) == (640, 360)


def test_audio_with_cover_gets_the_cover_as_poster(mp3_with_cover: Path, tmp_path: Path) -> None:
    probe = probe_media(mp3_with_cover, limits=LIMITS)
    poster = make_poster(mp3_with_cover, probe, tmp_path / "cover.jpg", limits=LIMITS)
    assert poster is not None
    (image,) = streams_of(poster.path, "video")
    assert (image["width"], image["height"]) == (320, 320)
    assert _mean(gray_thumbnail(poster.path)) > BLACK_MEAN


def test_audio_without_cover_has_no_poster(amr_voice_note: Path, tmp_path: Path) -> None:
    probe = probe_media(amr_voice_note, limits=LIMITS)
    assert make_poster(amr_voice_note, probe, tmp_path / "poster.jpg", limits=LIMITS) is None
    assert list(tmp_path.iterdir()) == []
