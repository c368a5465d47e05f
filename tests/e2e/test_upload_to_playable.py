"""Upload to playable lesson through a real Celery worker process, on both deployment shapes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.lessons import fetch, upload, wait_finished
from tests.support.media import ffprobe_json, streams_of, top_level_atoms

pytestmark = pytest.mark.e2e


def test_phone_clip_voice_note_and_bad_file(client: TestClient, worker: Any, tmp_path: Path,
                                            rotated_portrait_clip: Path, amr_voice_note: Path,
                                            silent_video: Path) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["workers"]
    bad = tmp_path / "notes.mp4"
    bad.write_text("这不是视频文件，只是一段文字。\n" * 20, encoding="utf-8")
    phone = upload(client, rotated_portrait_clip, title="田间地头讲党课", speaker="李书记", branch="东风村党支部")
    voice = upload(client, amr_voice_note, title="方言党课", language="other")
    mute = upload(client, silent_video)
    text = upload(client, bad)
    results = wait_finished(client, [phone["id"], voice["id"], mute["id"], text["id"]], worker)

    lesson = results[phone["id"]]
    assert lesson["status"] == "ready" and lesson["progress"] == 100, lesson
    kinds = sorted(a["kind"] for a in lesson["assets"])
    # A 360x640 portrait source: one rendition at its own size, never upscaled to 720p.
    assert kinds == ["audio_edition", "hls", "original", "poster", "rendition"]
    assert [a["label"] for a in lesson["assets"] if a["kind"] == "rendition"] == ["360p"]
    for asset in lesson["assets"]:
        if asset["kind"] == "rendition":
            mp4 = fetch(client, asset["url"], tmp_path / f"{asset['label']}.mp4")
            video = streams_of(mp4, "video")[0]
            assert video["codec_name"] == "h264"
            assert int(video["height"]) > int(video["width"])  # portrait stays upright
            assert top_level_atoms(mp4).index("moov") < top_level_atoms(mp4).index("mdat")
            duration = float(ffprobe_json(mp4)["format"]["duration"])
            assert abs(duration - lesson["duration_s"]) < 0.1
        if asset["kind"] == "original":
            original = fetch(client, asset["url"], tmp_path / "original")
            assert hashlib.sha256(original.read_bytes()).hexdigest() == hashlib.sha256(
                rotated_portrait_clip.read_bytes()).hexdigest()

    voice_lesson = results[voice["id"]]
    assert voice_lesson["status"] == "ready", voice_lesson
    assert voice_lesson["media_kind"] == "audio"
    assert sorted(a["kind"] for a in voice_lesson["assets"]) == ["audio_edition", "original"]

    mute_lesson = results[mute["id"]]
    assert mute_lesson["status"] == "ready", mute_lesson
    assert "audio_edition" not in {a["kind"] for a in mute_lesson["assets"]}

    refused = results[text["id"]]
    assert refused["status"] == "failed"
    assert refused["error"]["code"] == "not_media"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused["error"]["message"])
    assert [a["kind"] for a in refused["assets"]] == ["original"]
