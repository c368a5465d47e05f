"""Posters: a representative frame that is neither the first nor black, upright; an audio file's cover picture."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.media import gray_thumbnail, run_tool, streams_of
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


def test_clip_with_one_keyframe_at_the_black_start_still_gets_a_non_black_poster(tmp_path: Path) -> None:
    # Screen recorders and some cameras write a single keyframe: the keyframes-only pick finds none after the
    # candidate positions, and the poster falls back to decoding every frame there.
    clip = tmp_path / "one keyframe.mp4"
    graph = "color=black:s=320x240:r=25:d=3[b];testsrc2=s=320x240:r=25:d=4[t];[b][t]concat=n=2:v=1:a=0[v]"
    run_tool("ffmpeg", "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast",
             "-x264-params", "keyint=1000:min-keyint=1000:scenecut=0", "-pix_fmt", "yuv420p", clip)  # fmt: skip
    keyframes = subprocess.run(["ffprobe", "-v", "error", "-skip_frame", "nokey", "-select_streams", "v",
                                "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(clip)],
                               capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert len(keyframes) == 1
    probe = probe_media(clip, limits=LIMITS)
    out = tmp_path / "out"
    poster = make_poster(clip, probe, out / "poster.jpg", limits=LIMITS)
    assert poster is not None
    assert _mean(gray_thumbnail(poster.path, width=16, height=16)) > BLACK_MEAN
    assert [p.name for p in out.iterdir()] == ["poster.jpg"]


def test_poster_is_picked_among_keyframes(tmp_path: Path) -> None:
    # Flat gray frames: the keyframes (one a second) dark, every other frame light. Decoding every frame would
    # pick a light one, the most common; the poster is a keyframe, decoded on its own.
    clip = tmp_path / "steps.mp4"
    run_tool("ffmpeg", "-f", "lavfi", "-i", "color=gray:s=320x240:r=25:d=6", "-vf",
             "geq=lum='if(mod(N,25),200,48)':cb=128:cr=128", "-c:v", "libx264", "-preset", "ultrafast",
             "-x264-params", "keyint=25:min-keyint=25:scenecut=0:bframes=0", "-pix_fmt", "yuv420p", clip)  # fmt: skip
    probe = probe_media(clip, limits=LIMITS)
    poster = make_poster(clip, probe, tmp_path / "poster.jpg", limits=LIMITS)
    assert poster is not None
    keyframe_gray = _mean(gray_thumbnail(clip, width=16, height=16))  # the first frame is a keyframe
    assert BLACK_MEAN < keyframe_gray < 60
    assert abs(_mean(gray_thumbnail(poster.path, width=16, height=16)) - keyframe_gray) < 6


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
