"""The portable audio edition: mono MP3 at -16 LUFS, true peak at most -1.5 dBTP, Chinese ID3v2.3 tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.media import ffprobe_json, streams_of
from transcode.audio_edition import encode_audio_edition, measure_loudness
from transcode.errors import NoAudio
from transcode.limits import MediaLimits
from transcode.probe import probe_media

LIMITS = MediaLimits()
TAGS = {"title": "玉米种植技术", "artist": "王老师", "album": "红星村党支部", "date": "2024-05-01",
        "comment": "县农技站录制"}  # fmt: skip


def _edition(src: Path, out: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    probe = probe_media(src, limits=LIMITS)
    return probe, encode_audio_edition(src, probe, out, tags=TAGS, limits=LIMITS, **kwargs)  # type: ignore[arg-type]


def _assert_normalised(path: Path) -> None:
    loudness = measure_loudness(path)
    assert -17.0 <= loudness.integrated_lufs <= -15.0, loudness
    assert loudness.true_peak_dbtp <= -1.5, loudness


@pytest.mark.parametrize("fixture", ["mandarin_speech_wav", "quiet_speech_wav", "amr_voice_note"])
def test_speech_comes_out_at_minus_16_lufs(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    src: Path = request.getfixturevalue(fixture)
    probe, edition = _edition(src, tmp_path / "lesson.mp3")
    _assert_normalised(edition.path)
    assert abs(edition.duration_s - probe.duration_s) <= 0.15
    assert edition.size_bytes == edition.path.stat().st_size
    assert -17.0 <= edition.loudness.integrated_lufs <= -15.0


def test_quiet_source_really_was_quiet(quiet_speech_wav: Path) -> None:
    assert measure_loudness(quiet_speech_wav).integrated_lufs < -33


def test_edition_is_mono_44k_mp3_with_chinese_id3v23_tags(mandarin_speech_wav: Path, tmp_path: Path) -> None:
    seen: list[float] = []
    _, edition = _edition(mandarin_speech_wav, tmp_path / "lesson.mp3", on_progress=seen.append)
    (audio,) = streams_of(edition.path, "audio")
    assert (audio["codec_name"], audio["channels"], audio["sample_rate"]) == ("mp3", 1, "44100")
    header = edition.path.read_bytes()[:10]
    assert header[:4] == b"ID3\x03"  # ID3v2.3
    tags = ffprobe_json(edition.path)["format"]["tags"]
    for key in ("title", "artist", "album", "comment"):
        assert tags[key] == TAGS[key]
    assert tags["date"].startswith("2024")
    assert seen and seen[-1] == 1.0


def test_video_sound_uses_the_default_track(two_audio_tracks: Path, tmp_path: Path) -> None:
    _, edition = _edition(two_audio_tracks, tmp_path / "lesson.mp3")
    _assert_normalised(edition.path)  # the silent first track would measure far below


def test_mp3_with_cover_keeps_only_sound(mp3_with_cover: Path, tmp_path: Path) -> None:
    _, edition = _edition(mp3_with_cover, tmp_path / "lesson.mp3")
    assert streams_of(edition.path, "video") == []


def test_video_without_sound_has_no_edition(silent_video: Path, tmp_path: Path) -> None:
    with pytest.raises(NoAudio):
        _edition(silent_video, tmp_path / "lesson.mp3")
    assert not (tmp_path / "lesson.mp3").exists()
