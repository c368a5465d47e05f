"""Audio packs built by a real Celery worker, on both deployment shapes (SQLite + folder store + embedded broker;
PostgreSQL + S3 + Redis): the API's pack turns ready with its progress on the way and downloads (from the object
store's presigned URL on S3); a build whose worker died (its lease ran out, no message left) is taken up by the beat
and finishes exactly once."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from catalog import packs
from catalog.db import unit_of_work
from catalog.lifecycle import Viewer
from catalog.models import AudioPackVersion, Role
from tests.support.accounts import bearer, make_account, token_for
from tests.support.lessons import stored_keys
from tests.support.packs import published_audio_lesson
from workers.packs import plan_version
from workers.wiring import context_for

pytestmark = pytest.mark.e2e


def _wait_ready(client: TestClient, pack_id: int, worker: Any, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = client.get(f"/api/v1/packs/{pack_id}").json()
        if got["status"] != "building":
            return got  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise AssertionError(f"pack {pack_id} still building; worker log:\n{worker.log_tail()}")


def _zip_bytes(client: TestClient, url: str) -> bytes:
    r = client.get(url, follow_redirects=False)
    if r.status_code == 307:  # S3: the object store serves it
        r = httpx.get(r.headers["location"])
    assert r.status_code == 200, r.text
    return r.content


def test_the_worker_builds_a_pack_and_takes_over_a_dead_build(stack_settings: Any, worker: Any,
                                                               anonymous: TestClient, audio_edition_mp3: Path) -> None:
    make_account(stack_settings, "wang", "reviewer")
    staff = bearer(token_for(anonymous, "wang"))
    ids = [published_audio_lesson(stack_settings, f"海上党课 第{i}讲", audio_edition_mp3, said=(f"第{i}讲开始。",))
           for i in range(1, 4)]
    created = anonymous.post("/api/v1/packs", headers=staff, json={
        "title": "海上党支部 随身听", "audience": "海上党支部", "lesson_ids": ids})
    assert created.status_code == 201, created.text
    pack = _wait_ready(anonymous, created.json()["id"], worker)
    assert pack["status"] == "ready" and pack["progress"] == 100, pack
    with zipfile.ZipFile(io.BytesIO(_zip_bytes(anonymous, pack["download_url"]))) as zf:
        assert zf.testzip() is None
        assert [n for n in zf.namelist() if n.endswith(".mp3")] == [t["filename"] for t in pack["tracks"]]

    # A build whose worker died mid-way: its lease ran out and no message is queued for it any more.
    ctx = context_for(stack_settings)
    with unit_of_work(ctx.engine) as s:
        second = packs.create_pack(s, Viewer(username="wang", role=Role.REVIEWER), title="第二个包", lesson_ids=ids[:2])
        version = plan_version(s, second)
        version_id, pack_id = version.id or 0, second.id or 0
    with unit_of_work(ctx.engine) as s:
        assert packs.claim_build(s, version_id, owner="dead-worker", lease_s=1.0) is not None
    rebuilt = _wait_ready(anonymous, pack_id, worker)
    assert rebuilt["status"] == "ready" and rebuilt["version"] == 1
    with unit_of_work(ctx.engine) as s:
        row = s.get(AudioPackVersion, version_id)
        assert row is not None and row.attempts == 2 and row.lease_owner is None
    assert stored_keys(stack_settings, f"packs/{pack_id}/") == [f"packs/{pack_id}/v1.zip"]
    time.sleep(3 * stack_settings.pack_sweep_interval_s)  # later sweeps leave a finished build alone
    with unit_of_work(ctx.engine) as s:
        row = s.get(AudioPackVersion, version_id)
        assert row is not None and row.attempts == 2 and row.status == "ready"
