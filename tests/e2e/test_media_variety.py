"""What phones and branch offices really upload, through a real worker on both deployment shapes.

Speech recognition is switched off here (tests/e2e/test_speech_to_captions.py covers it): these tests are about
the media steps, and Whisper would only make them slower.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import STACKS
from tests.support.lessons import assets_of, fetch, scratch_leftovers, stored_keys, upload, wait_finished
from tests.support.media import ffprobe_json, gray_thumbnail, streams_of, top_level_atoms
from transcode.audio_edition import measure_loudness

pytestmark = pytest.mark.e2e

HOSTILE = [
    ("png_as_mp4", "image_not_media"),
    ("truncated_mp4", "corrupt_media"),
    ("hls_playlist", "playlist_refused"),
    ("ffconcat_script", "playlist_refused"),
    ("duration_bomb", "too_long"),
    ("pixel_bomb", "too_many_pixels"),
]


@pytest.fixture(params=STACKS)
def stack_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    from tests.support.stacks import stack

    with stack(request.param, tmp_path / "var", request, asr_enabled=False) as settings:
        yield settings


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_rendition(mp4: Path, lesson: dict[str, Any]) -> dict[str, Any]:
    video = streams_of(mp4, "video")[0]
    assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
    assert int(video["width"]) % 2 == 0 and int(video["height"]) % 2 == 0
    audio = streams_of(mp4, "audio")
    assert len(audio) <= 1 and all(a["codec_name"] == "aac" for a in audio)
    atoms = top_level_atoms(mp4)
    assert atoms.index("moov") < atoms.index("mdat"), atoms  # +faststart: plays before it is all downloaded
    duration = float(ffprobe_json(mp4)["format"]["duration"])
    assert abs(duration - lesson["duration_s"]) < 0.1, (duration, lesson["duration_s"])
    return video


def _check_audio_edition(client: TestClient, lesson: dict[str, Any], tmp: Path) -> None:
    (edition,) = assets_of(lesson, "audio_edition")
    mp3 = fetch(client, edition["url"], tmp / f"{lesson['id']}.mp3")
    (stream,) = streams_of(mp3, "audio")
    assert stream["codec_name"] == "mp3" and int(stream["channels"]) == 1
    loudness = measure_loudness(mp3)
    assert -17.0 <= loudness.integrated_lufs <= -15.0, loudness
    assert loudness.true_peak_dbtp <= -1.5, loudness


def _check_poster(client: TestClient, lesson: dict[str, Any], tmp: Path) -> None:
    (poster,) = assets_of(lesson, "poster")
    assert poster["mime_type"] == "image/jpeg"
    jpeg = fetch(client, poster["url"], tmp / f"{lesson['id']}.jpg")
    pixels = gray_thumbnail(jpeg)
    assert max(pixels) > 40, "the poster is black"


def _check_original(client: TestClient, lesson: dict[str, Any], source: Path, tmp: Path) -> None:
    (original,) = assets_of(lesson, "original")
    assert _sha256(fetch(client, original["url"], tmp / f"{lesson['id']}.orig")) == _sha256(source)


def test_phone_and_office_files_become_playable(
    client: TestClient, worker: Any, stack_settings: Any, tmp_path: Path, hevc_mov: Path, vfr_clip: Path,
    mandarin_speech_wav: Path, mp3_with_cover: Path, two_audio_tracks: Path, wechat_voice_note: Path,
) -> None:
    sources = {"hevc": hevc_mov, "vfr": vfr_clip, "wav": mandarin_speech_wav, "mp3": mp3_with_cover,
               "tracks": two_audio_tracks, "wechat": wechat_voice_note}  # fmt: skip
    ids = {name: upload(client, path, title=f"测试 {name}")["id"] for name, path in sources.items()}
    results = wait_finished(client, list(ids.values()), worker)
    lessons = {name: results[lesson_id] for name, lesson_id in ids.items()}
    for name, lesson in lessons.items():
        assert lesson["status"] == "ready" and lesson["progress"] == 100, (name, lesson)
        _check_original(client, lesson, sources[name], tmp_path)
        _check_audio_edition(client, lesson, tmp_path)

    # An iPhone HEVC .mov: H.264/AAC renditions anyone's browser plays, a poster that is not black.
    hevc = lessons["hevc"]
    assert hevc["media_kind"] == "video"
    (rendition,) = assets_of(hevc, "rendition")  # 320x240: one rung at its own size, never upscaled
    video = _check_rendition(fetch(client, rendition["url"], tmp_path / "hevc.mp4"), hevc)
    assert (int(video["width"]), int(video["height"])) == (320, 240)
    _check_poster(client, hevc, tmp_path)

    # Variable frame rate in, constant frame rate out, sound still in step with the picture.
    vfr = lessons["vfr"]
    (rendition,) = assets_of(vfr, "rendition")
    mp4 = fetch(client, rendition["url"], tmp_path / "vfr.mp4")
    video = _check_rendition(mp4, vfr)
    assert Fraction(video["r_frame_rate"]) == Fraction(video["avg_frame_rate"]), video
    (sound,) = streams_of(mp4, "audio")
    assert abs(float(video["duration"]) - float(sound["duration"])) < 0.1, (video["duration"], sound["duration"])

    # Sound only: no renditions, no poster; the portable edition is the lesson.
    wav = lessons["wav"]
    assert wav["media_kind"] == "audio"
    assert sorted(a["kind"] for a in wav["assets"]) == ["audio_edition", "original"]

    # A WeChat voice note (SILK, named .amr), which ffmpeg cannot read: kept as it came, heard as any recording.
    wechat = lessons["wechat"]
    assert wechat["media_kind"] == "audio"
    assert sorted(a["kind"] for a in wechat["assets"]) == ["audio_edition", "original"]
    assert assets_of(wechat, "original")[0]["mime_type"] == "audio/silk"
    assert abs(wechat["duration_s"] - wav["duration_s"]) < 0.1, (wechat["duration_s"], wav["duration_s"])

    # An MP3 with a cover picture: still sound only, and the cover becomes the poster.
    mp3 = lessons["mp3"]
    assert mp3["media_kind"] == "audio"
    assert sorted(a["kind"] for a in mp3["assets"]) == ["audio_edition", "original", "poster"]
    _check_poster(client, mp3, tmp_path)

    # Two audio tracks: the default one (a tone; the first track is silent) is the rendition's only sound.
    tracks = lessons["tracks"]
    (rendition,) = assets_of(tracks, "rendition")
    mp4 = fetch(client, rendition["url"], tmp_path / "tracks.mp4")
    _check_rendition(mp4, tracks)
    assert len(streams_of(mp4, "audio")) == 1
    assert measure_loudness(mp4).integrated_lufs > -40, "the rendition carries the silent track"

    assert scratch_leftovers(stack_settings) == []


def test_hostile_files_are_refused_and_the_worker_lives(
    client: TestClient, worker: Any, stack_settings: Any, tmp_path: Path, zero_bytes_file: Path,
    silent_video: Path, request: pytest.FixtureRequest,
) -> None:
    empty = upload(client, zero_bytes_file, expect=400)
    assert empty["code"] == "empty_file" and any("\u4e00" <= ch <= "\u9fff" for ch in empty["message"])

    hostile = {code_fixture: request.getfixturevalue(code_fixture) for code_fixture, _ in HOSTILE}
    ids = {name: upload(client, path)["id"] for name, path in hostile.items()}
    # A good file after the bad ones: the worker must still be alive and working.
    good = upload(client, silent_video, title="坏文件之后的好文件")["id"]
    results = wait_finished(client, [*ids.values(), good], worker)

    for name, code in HOSTILE:
        lesson = results[ids[name]]
        assert lesson["status"] == "failed", (name, lesson)
        assert lesson["error"]["code"] == code, (name, lesson["error"])
        assert any("\u4e00" <= ch <= "\u9fff" for ch in lesson["error"]["message"])
        # Nothing half-written: the untouched original is the only file the lesson has.
        assert [a["kind"] for a in lesson["assets"]] == ["original"], (name, lesson["assets"])
        assert stored_keys(stack_settings, f"lessons/{ids[name]}/") == [], name
        _check_original(client, lesson, hostile[name], tmp_path)

    assert results[good]["status"] == "ready", results[good]
    assert worker.proc.poll() is None, worker.log_tail()
    assert scratch_leftovers(stack_settings) == []
    assert not [k for k in stored_keys(stack_settings, "lessons/") if k.startswith("(")]
