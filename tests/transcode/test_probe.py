"""Probing: what a file is, which streams count, and that ffprobe opens nothing but accepted local formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from transcode.errors import CommandFailed, TooLong
from transcode.limits import MediaLimits
from transcode.probe import ffprobe_json, probe_media

LIMITS = MediaLimits()


def test_portrait_phone_clip_reports_rotation_and_display_size(rotated_portrait_clip: Path) -> None:
    probe = probe_media(rotated_portrait_clip, limits=LIMITS)
    assert probe.kind == "video"
    assert probe.video is not None
    assert (probe.video.width, probe.video.height) == (640, 360)
    assert probe.video.rotation_deg == 90
    assert (probe.video.display_width, probe.video.display_height) == (360, 640)
    assert probe.audio is not None and probe.audio.codec == "aac"
    assert probe.duration_s == pytest.approx(3.0, abs=0.1)


def test_variable_frame_rate_is_noticed(vfr_clip: Path) -> None:
    probe = probe_media(vfr_clip, limits=LIMITS)
    assert probe.video is not None
    assert probe.video.is_vfr
    assert 10 < probe.video.fps < 30


def test_amr_voice_note_is_audio(amr_voice_note: Path) -> None:
    probe = probe_media(amr_voice_note, limits=LIMITS)
    assert probe.kind == "audio"
    assert probe.video is None
    assert probe.audio is not None
    assert (probe.audio.codec, probe.audio.sample_rate, probe.audio.channels) == ("amr_nb", 8000, 1)


def test_cover_picture_is_not_a_video_stream(mp3_with_cover: Path) -> None:
    probe = probe_media(mp3_with_cover, limits=LIMITS)
    assert probe.kind == "audio"
    assert probe.cover_art_index is not None
    assert (probe.cover_art_width, probe.cover_art_height) == (320, 320)


def test_default_audio_track_is_chosen(two_audio_tracks: Path) -> None:
    probe = probe_media(two_audio_tracks, limits=LIMITS)
    assert probe.audio_stream_count == 2
    assert probe.audio is not None
    assert probe.audio.index == 2  # the second audio track carries the default disposition


def test_video_without_sound_has_no_audio(silent_video: Path) -> None:
    probe = probe_media(silent_video, limits=LIMITS)
    assert probe.kind == "video"
    assert probe.audio is None
    assert probe.audio_stream_count == 0


def test_webm_without_duration_is_measured_by_reading_it(streamed_webm: Path) -> None:
    assert not ffprobe_json(streamed_webm, timeout_s=30)["format"].get("duration")
    probe = probe_media(streamed_webm, limits=LIMITS)
    assert probe.duration_s == pytest.approx(3.0, abs=0.1)
    with pytest.raises(TooLong):
        probe_media(streamed_webm, limits=MediaLimits(max_duration_s=2))


@pytest.mark.parametrize(
    "fixture", ["rotated_portrait_clip", "streamed_webm", "hevc_mov", "amr_voice_note", "mp3_with_cover", "mandarin_speech_wav",
                "qcif_clip"],
)  # fmt: skip
def test_whitelist_accepts_ordinary_uploads(fixture: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(fixture)
    assert ffprobe_json(path, timeout_s=30)["streams"]


@pytest.mark.parametrize("fixture", ["hls_playlist", "ffconcat_script", "png_as_mp4"])
def test_whitelist_refuses_indirect_and_image_inputs_even_without_sniffing(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(fixture)
    with pytest.raises(CommandFailed):
        ffprobe_json(path, timeout_s=30)


def test_whitelist_refuses_image_sequence_pattern(png_as_mp4: Path, tmp_path: Path) -> None:
    (tmp_path / "frame001.png").write_bytes(png_as_mp4.read_bytes())
    with pytest.raises(CommandFailed):
        ffprobe_json(tmp_path / "frame%03d.png", timeout_s=30)
