"""Driving lessons through the API in end-to-end tests: upload, wait, fetch, and look into storage."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient


def upload(client: TestClient, path: Path, *, expect: int = 201, **form: str) -> dict[str, Any]:
    with path.open("rb") as fh:
        r = client.post("/api/v1/lessons", files={"file": (path.name, fh, "application/octet-stream")}, data=form)
    assert r.status_code == expect, r.text
    return r.json()  # type: ignore[no-any-return]


def wait_finished(client: TestClient, ids: list[str], worker: Any, timeout_s: float = 240) -> dict[str, dict[str, Any]]:
    """Poll until every lesson is ready or failed; the worker's log tail explains a time-out."""
    deadline = time.monotonic() + timeout_s
    done: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(done) < len(ids):
        for lesson_id in ids:
            if lesson_id in done:
                continue
            body = client.get(f"/api/v1/lessons/{lesson_id}").json()
            if body["status"] in ("ready", "failed"):
                done[lesson_id] = body
        time.sleep(0.5)
    assert len(done) == len(ids), f"not finished: {set(ids) - set(done)}\n{worker.log_tail()}"
    return done


def fetch(client: TestClient, url: str, dest: Path) -> Path:
    """An asset's bytes, served directly (folder store) or through the presigned redirect (S3)."""
    r = client.get(url, follow_redirects=False)
    data = httpx.get(r.headers["location"]).content if r.status_code == 307 else r.content
    dest.write_bytes(data)
    return dest


def assets_of(lesson: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [a for a in lesson["assets"] if a["kind"] == kind]


def stored_keys(settings: Any, prefix: str) -> list[str]:
    """Every object under `prefix` in the stack's store, staging areas included (to see half-written files)."""
    from ingest.folder_store import FolderStore
    from ingest.s3_store import S3Store
    from ingest.storage import storage_from_url

    storage = storage_from_url(settings.storage_url, base_dir=settings.data_dir, scratch_dir=settings.scratch_dir)
    if isinstance(storage, FolderStore):
        keys = []
        for folder, _, files in os.walk(storage.root):
            for name in files:
                key = os.path.relpath(os.path.join(folder, name), storage.root)
                if key.startswith(prefix):
                    keys.append(key)
                elif Path(folder).is_relative_to(storage.staging):
                    keys.append(f"(staging) {key}")
        return sorted(keys)
    assert isinstance(storage, S3Store)
    client = storage._client  # test-only look behind the interface
    listed = [o.object_name for o in client.list_objects(storage.bucket, prefix=prefix, recursive=True)]
    unfinished = [u.object_name for u in client._list_multipart_uploads(storage.bucket, prefix=prefix).uploads]
    return sorted([str(k) for k in listed] + [f"(unfinished) {k}" for k in unfinished])


def scratch_leftovers(settings: Any) -> list[str]:
    scratch = Path(settings.scratch_dir)
    return sorted(p.name for p in scratch.iterdir()) if scratch.exists() else []
