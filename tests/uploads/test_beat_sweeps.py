"""Celery beat in a real worker process expires a stale upload and adopts one whose finishing request died."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.uploads.tus import create, head, patch, set_upload, sha256, staged_exists, upload_id_of, upload_row

pytestmark = pytest.mark.e2e


@pytest.fixture
def beat_worker(tus_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from tests.support.stacks import running_worker

    monkeypatch.setenv("WEIKE_UPLOAD_SWEEP_INTERVAL_S", "1")
    with running_worker(tus_settings, tmp_path / "worker.log") as proc:
        yield proc


def test_beat_expires_and_adopts_uploads(tus_client: TestClient, tus_settings: Any, beat_worker: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import workers.uploads
    from catalog.models import utcnow
    from ingest.errors import StorageUnavailable

    stale = create(tus_client, 1000)
    assert patch(tus_client, stale, 0, b"s" * 400).status_code == 204
    set_upload(tus_settings, upload_id_of(stale), expires_at=utcnow() - timedelta(seconds=1))

    def broken_admit(*args: Any, **kwargs: Any) -> Any:
        raise StorageUnavailable("the API lost its database right after the last byte")

    data = random.Random(21).randbytes(30_000)
    orphan = create(tus_client, len(data), title="等它自己完成")
    with monkeypatch.context() as m:
        m.setattr(workers.uploads, "admit_stored", broken_admit)
        assert patch(tus_client, orphan, 0, data).status_code == 503
    set_upload(tus_settings, upload_id_of(orphan), updated_at=utcnow() - timedelta(minutes=5))

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if upload_row(tus_settings, upload_id_of(stale)).state == "expired" and \
                upload_row(tus_settings, upload_id_of(orphan)).state == "complete":
            break
        time.sleep(0.5)
    assert upload_row(tus_settings, upload_id_of(stale)).state == "expired", beat_worker.log_tail()
    assert not staged_exists(tus_settings, upload_id_of(stale))
    assert upload_row(tus_settings, upload_id_of(orphan)).state == "complete", beat_worker.log_tail()
    lesson_id = head(tus_client, orphan).headers["Weike-Lesson-Id"]
    assert tus_client.get(f"/api/v1/lessons/{lesson_id}").json()["sha256"] == sha256(data)
