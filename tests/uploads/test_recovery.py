"""Uploads survive the API process dying, and the beat tasks finish or clean what requests left behind."""

from __future__ import annotations

import io
import random
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from tusclient.client import TusClient

from tests.support.accounts import bearer, make_account, token_for
from tests.support.live import start_api_process
from tests.uploads.tus import (
    OCTET,
    V,
    context,
    create,
    head,
    patch,
    set_upload,
    sha256,
    stored_original,
    upload_id_of,
    upload_row,
)


def test_an_upload_resumes_after_the_api_process_is_killed(tus_settings: Any, tmp_path: Path) -> None:
    data = random.Random(11).randbytes(7_000_000)
    make_account(tus_settings, "uploader", "uploader", "东风村党支部")
    api = start_api_process(tus_settings, log_path=tmp_path / "api.log")
    try:
        endpoint = f"{api.server.url}/api/v1/uploads/"
        with httpx.Client(base_url=api.server.url) as http:
            login = bearer(token_for(http, "uploader"))
        uploader = TusClient(endpoint, headers=login).uploader(file_stream=io.BytesIO(data), chunk_size=1_000_000,
                                                metadata={"title": "重启前后", "filename": "restart.mp4"})
        uploader.upload(stop_at=2_000_000)
        url = uploader.url

        # A PATCH is streaming when the process dies: what it received but never saved is not counted.
        def slow_body() -> Any:
            for i in range(2_000_000, 4_000_000, 100_000):
                time.sleep(0.05)
                yield data[i:i + 100_000]

        def doomed() -> None:
            try:
                httpx.patch(url, content=slow_body(), timeout=30, headers={
                    **V, **OCTET, "Upload-Offset": "2000000", "Content-Length": "2000000"})
            except httpx.HTTPError:
                pass

        streaming = threading.Thread(target=doomed)
        streaming.start()
        time.sleep(0.6)
        api.kill()
        streaming.join(timeout=30)
        api = start_api_process(tus_settings, port=api.server.port, log_path=tmp_path / "api.log")
        offset = int(httpx.head(url, headers=V).headers["Upload-Offset"])
        assert offset == 2_000_000
        resumed = TusClient(endpoint, headers=login).uploader(file_stream=io.BytesIO(data), url=url, chunk_size=1_500_000,
                                               retries=10, retry_delay=1)  # the dead request's lock runs out
        resumed.upload()
        final = httpx.head(url, headers=V)
        assert final.headers["Upload-Offset"] == str(len(data)) and final.headers["Weike-Lesson-Id"]
    finally:
        api.kill()
    assert stored_original(tus_settings, sha256(data)) == data


def test_the_reconciler_adopts_an_upload_whose_finishing_request_died(tus_client: TestClient, tus_settings: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import workers.upload_sweeps
    import workers.uploads
    from catalog.models import utcnow
    from ingest.errors import StorageUnavailable

    real_admit = workers.uploads.admit_stored

    def broken_admit(*args: Any, **kwargs: Any) -> Any:
        raise StorageUnavailable("the database went away between storing and admitting")  # cannot be caused here

    data = random.Random(12).randbytes(50_000)
    path = create(tus_client, len(data), title="半路断了")
    monkeypatch.setattr(workers.uploads, "admit_stored", broken_admit)
    r = patch(tus_client, path, 0, data)
    assert r.status_code == 503 and r.json()["code"] == "storage_unavailable"
    monkeypatch.setattr(workers.uploads, "admit_stored", real_admit)
    status = head(tus_client, path)
    assert status.headers["Upload-Offset"] == str(len(data)) and "Weike-Lesson-Id" not in status.headers
    upload_id = upload_id_of(path)
    assert workers.upload_sweeps.adopt_uploads(context(tus_settings)) == []  # too recent: its request may be alive
    set_upload(tus_settings, upload_id, updated_at=utcnow() - timedelta(minutes=5))
    adopted = workers.upload_sweeps.adopt_uploads(context(tus_settings))
    assert len(adopted) == 1
    assert head(tus_client, path).headers["Weike-Lesson-Id"] == adopted[0]
    assert upload_row(tus_settings, upload_id).state == "complete"
    lesson = tus_client.get(f"/api/v1/lessons/{adopted[0]}").json()
    assert lesson["title"] == "半路断了" and lesson["sha256"] == sha256(data)


@pytest.mark.parametrize("tus_settings", ["services"], indirect=True)  # multipart uploads exist only on S3
def test_expiry_also_removes_multipart_uploads_nobody_owns(tus_client: TestClient, tus_settings: Any) -> None:
    from ingest import keys
    from ingest.s3_store import S3Store
    from workers.upload_sweeps import expire_uploads

    store = context(tus_settings).storage
    assert isinstance(store, S3Store)

    def incomplete() -> set[tuple[str, str]]:
        listed = store._client._list_multipart_uploads(store.bucket, prefix="uploads/")
        return {(u.object_name, u.upload_id) for u in listed.uploads}

    orphan = "f" * 32  # the API died between starting a multipart upload and recording the upload
    store._client._create_multipart_upload(store.bucket, keys.upload_staging(orphan), {})
    data = random.Random(13).randbytes(6 << 20)
    live = create(tus_client, len(data))
    assert patch(tus_client, live, 0, data[:5 << 20]).status_code == 204  # one part: a recorded multipart upload
    live_key = keys.upload_staging(upload_id_of(live))
    recorded = upload_row(tus_settings, upload_id_of(live)).multipart_upload_id
    stray = store._client._create_multipart_upload(store.bucket, live_key, {})  # a request that died unsaved
    assert {m for _, m in incomplete()} >= {recorded, stray}
    time.sleep(1.1)  # S3 records when a multipart upload began to the second
    impatient = context(tus_settings).__class__(
        settings=tus_settings.model_copy(update={"upload_lock_s": 0.0}), engine=context(tus_settings).engine,
        storage=store)
    assert expire_uploads(impatient) == 0
    assert incomplete() == {(live_key, recorded)}
    assert patch(tus_client, live, 5 << 20, data[5 << 20:]).headers["Weike-Lesson-Id"]
    assert incomplete() == set()
    assert stored_original(tus_settings, sha256(data)) == data


@pytest.mark.parametrize("tus_settings", ["services"], indirect=True)  # a finished staging object exists only on S3
def test_expiry_removes_finished_staging_objects_of_uploads_no_longer_live(tus_client: TestClient,
                                                                          tus_settings: Any) -> None:
    from ingest import keys
    from ingest.s3_store import S3Store
    from workers.upload_sweeps import expire_uploads

    store = context(tus_settings).storage
    assert isinstance(store, S3Store)
    data = random.Random(17).randbytes(6 << 20)
    # An upload that became a lesson, but whose staging object survived (its clean-up failed: S3 was down).
    done = create(tus_client, len(data))
    assert patch(tus_client, done, 0, data).headers["Weike-Lesson-Id"]
    done_key = keys.upload_staging(upload_id_of(done))
    store.put(done_key, io.BytesIO(data))
    orphan_key = keys.upload_staging("e" * 32)  # no upload row at all
    store.put(orphan_key, io.BytesIO(b"orphan"))
    live = create(tus_client, len(data))
    assert patch(tus_client, live, 0, data[:5 << 20]).status_code == 204
    time.sleep(1.1)  # S3 records modification times to the second
    impatient = context(tus_settings).__class__(
        settings=tus_settings.model_copy(update={"upload_lock_s": 0.0}), engine=context(tus_settings).engine,
        storage=store)
    assert expire_uploads(impatient) == 0
    assert store.stat(done_key) is None and store.stat(orphan_key) is None
    assert stored_original(tus_settings, sha256(data)) == data  # the original itself is untouched
    assert patch(tus_client, live, 5 << 20, data[5 << 20:]).headers["Weike-Lesson-Id"]  # the live one goes on


def test_beat_runs_the_upload_tasks_on_the_maintenance_queue(tus_settings: Any) -> None:
    from workers.app import app, celery_config

    schedule = celery_config(tus_settings)["beat_schedule"]
    assert schedule["expire-uploads"]["task"] == "maintenance.expire_uploads"
    assert schedule["adopt-uploads"]["task"] == "maintenance.adopt_uploads"
    import workers.tasks.uploads  # noqa: F401  (registers the tasks)

    assert {"maintenance.expire_uploads", "maintenance.adopt_uploads"} <= set(app.tasks)
    route = celery_config(tus_settings)["task_routes"]["maintenance.*"]
    assert route == {"queue": "maintenance"}


@pytest.mark.parametrize("tus_settings", ["services"], indirect=True)  # PostgreSQL cannot store a NUL
def test_the_reconciler_records_an_upload_it_cannot_store_and_goes_on(tus_client: TestClient, tus_settings: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An upload whose lesson row the database refuses is marked failed once, and the sweep adopts the ones
    behind it, among them one from before control characters were refused at creation (a NUL in its title),
    which the catalog now cleans. No input makes a row the database refuses any more (that NUL did): the refusal
    is caused here by raising what the driver raised for it."""
    import json

    from sqlalchemy.exc import DataError

    import workers.upload_sweeps
    import workers.uploads
    from catalog.models import utcnow
    from ingest.errors import StorageUnavailable

    real_admit = workers.uploads.admit_stored

    def broken_admit(*args: Any, **kwargs: Any) -> Any:
        raise StorageUnavailable("the database went away between storing and admitting")

    monkeypatch.setattr(workers.uploads, "admit_stored", broken_admit)
    paths = []
    for n, title in enumerate(["坏的", "好的", "旧的"]):
        data = random.Random(30 + n).randbytes(40_000)
        path = create(tus_client, len(data), title=title)
        assert patch(tus_client, path, 0, data).status_code == 503
        paths.append(path)

    def refused_row(*args: Any, **kwargs: Any) -> Any:
        if kwargs["fields"].title == "坏的":
            raise DataError("INSERT INTO lesson ...", {}, ValueError("invalid byte sequence"))
        return real_admit(*args, **kwargs)

    monkeypatch.setattr(workers.uploads, "admit_stored", refused_row)
    bad, good, old = (upload_id_of(p) for p in paths)
    set_upload(tus_settings, old, metadata_json=json.dumps({"title": "旧的\x00课"}))
    for upload_id in (bad, good, old):
        set_upload(tus_settings, upload_id, updated_at=utcnow() - timedelta(minutes=5))
    adopted = workers.upload_sweeps.adopt_uploads(context(tus_settings))
    assert sorted(adopted) == sorted([upload_row(tus_settings, good).lesson_id, upload_row(tus_settings, old).lesson_id])
    assert tus_client.get(f"/api/v1/lessons/{upload_row(tus_settings, old).lesson_id}").json()["title"] == "旧的课"
    row = upload_row(tus_settings, bad)
    assert (row.state, row.error_code) == ("failed", "upload_unadoptable") and row.error_message
    assert workers.upload_sweeps.adopt_uploads(context(tus_settings)) == []  # not tried again on every run
    gone = head(tus_client, paths[0])
    assert gone.status_code == 410  # the phone is told to start again
