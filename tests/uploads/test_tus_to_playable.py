"""A phone clip sent with tus in small, interrupted pieces is processed by a real worker like any upload."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tusclient.client import TusClient

from tests.support.accounts import bearer, make_account, token_for
from tests.support.live import LiveServer, serve_in_thread

pytestmark = pytest.mark.e2e


@pytest.fixture
def tus_worker(tus_settings: Any, tmp_path: Path) -> Iterator[Any]:
    from tests.support.stacks import running_worker

    with running_worker(tus_settings, tmp_path / "worker.log") as proc:
        yield proc


def test_resumed_tus_upload_becomes_a_playable_lesson(tus_settings: Any, tus_worker: Any,
                                                      rotated_portrait_clip: Path) -> None:
    data = rotated_portrait_clip.read_bytes()
    make_account(tus_settings, "dongfeng", "uploader", "东风村党支部")
    with serve_in_thread(tus_settings) as server:
        with httpx.Client(base_url=server.url) as http:
            login = bearer(token_for(http, "dongfeng"))
        url = _upload_in_two_sittings(server, data, login)
        lesson_id = httpx.head(url, headers={"Tus-Resumable": "1.0.0"}).headers["Weike-Lesson-Id"]
        deadline = time.monotonic() + 240
        lesson: dict[str, Any] = {}
        while time.monotonic() < deadline:
            lesson = httpx.get(f"{server.url}/api/v1/lessons/{lesson_id}", headers=login).json()  # not public yet
            if lesson["status"] in ("ready", "failed"):
                break
            time.sleep(0.5)
    assert lesson["status"] == "ready", (lesson, tus_worker.log_tail())
    assert lesson["title"] == "村口讲党课" and lesson["media_kind"] == "video"
    kinds = {a["kind"] for a in lesson["assets"]}
    assert {"original", "rendition", "poster", "audio_edition"} <= kinds
    original = next(a for a in lesson["assets"] if a["kind"] == "original")
    assert original["sha256"] == hashlib.sha256(data).hexdigest()


def _upload_in_two_sittings(server: LiveServer, data: bytes, login: dict[str, str]) -> str:
    client = TusClient(f"{server.url}/api/v1/uploads/", headers=login)
    first = client.uploader(file_stream=io.BytesIO(data), chunk_size=40_000,
                            metadata={"title": "村口讲党课", "filename": "VID_0001.mp4", "language": "普通话",
                                      "sha256": hashlib.sha256(data).hexdigest()})
    first.upload(stop_at=len(data) // 2)
    second = client.uploader(file_stream=io.BytesIO(data), url=first.url, chunk_size=100_000)
    second.upload()
    return str(first.url)
