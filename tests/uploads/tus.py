"""Small tus helpers for the tests: raw requests through a TestClient or httpx, and checks on what was stored."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from sqlalchemy import update

from catalog.db import unit_of_work
from catalog.models import Upload
from ingest import keys

ENDPOINT = "/api/v1/uploads/"
V = {"Tus-Resumable": "1.0.0"}
OCTET = {"Content-Type": "application/offset+octet-stream"}


def metadata_header(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(client: Any, length: int, **metadata: str) -> str:
    """POST an upload; returns its path."""
    headers = {**V, "Upload-Length": str(length)}
    if metadata:
        headers["Upload-Metadata"] = metadata_header(**metadata)
    r = client.post(ENDPOINT, headers=headers)
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    return "/" + location.split("/", 3)[3] if location.startswith("http") else location


def patch(client: Any, path: str, offset: int, data: bytes, **headers: str) -> Any:
    return client.patch(path, content=data, headers={**V, **OCTET, "Upload-Offset": str(offset), **headers})


def head(client: Any, path: str) -> Any:
    return client.head(path, headers=V)


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def context(settings: Any) -> Any:
    from workers.wiring import context_for

    return context_for(settings)


def stored_original(settings: Any, digest: str) -> bytes:
    with context(settings).storage.open(keys.original(digest)) as fh:
        return fh.read()  # type: ignore[no-any-return]


def upload_row(settings: Any, upload_id: str) -> Upload:
    with unit_of_work(context(settings).engine) as session:
        row = session.get(Upload, upload_id)
        assert row is not None
        return row


def set_upload(settings: Any, upload_id: str, **values: Any) -> None:
    with unit_of_work(context(settings).engine) as session:
        session.execute(update(Upload).where(Upload.id == upload_id).values(**values))  # type: ignore[arg-type]


def upload_id_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def staged_exists(settings: Any, upload_id: str) -> bool:
    return context(settings).storage.stat(keys.upload_staging(upload_id)) is not None


def incomplete_multipart_keys(settings: Any) -> list[str]:
    """Keys of incomplete S3 multipart uploads under uploads/ (empty on the folder store)."""
    from ingest.s3_store import S3Store

    store = context(settings).storage
    if not isinstance(store, S3Store):
        return []
    result = store._client._list_multipart_uploads(store.bucket, prefix="uploads/")
    return [u.object_name for u in result.uploads]
