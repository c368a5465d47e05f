"""Resumable uploads: their rows, the write lock, expiry and adoption queries.

A request that writes bytes first takes the upload's lock with one conditional UPDATE (free, or its holder's
time ran out); of two concurrent requests exactly one gets it. Progress is saved only by the lock's holder
(:func:`save_progress` checks it), so a request that lost its lock can never move the offset.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from catalog.models import Upload, UploadState, utcnow


def create_upload(session: Session, *, upload_id: str, length: int, metadata: dict[str, str],
                  filename: str | None, client_sha256: str | None, staging_key: str, expires_s: float,
                  multipart_upload_id: str | None = None, sha256_state: bytes | None = None,
                  account_id: int | None = None) -> Upload:
    now = utcnow()
    upload = Upload(id=upload_id, length=length, metadata_json=json.dumps(metadata, ensure_ascii=False),
                    filename=(filename or "")[:300] or None, client_sha256=client_sha256, staging_key=staging_key,
                    multipart_upload_id=multipart_upload_id, sha256_state=sha256_state, account_id=account_id,
                    created_at=now,
                    updated_at=now, expires_at=now + timedelta(seconds=expires_s))
    session.add(upload)
    session.flush()
    return upload


def get_upload(session: Session, upload_id: str) -> Upload | None:
    return session.get(Upload, upload_id)


def upload_metadata(upload: Upload) -> dict[str, str]:
    data: Any = json.loads(upload.metadata_json or "{}")
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def acquire_lock(session: Session, upload_id: str, *, owner: str, lock_s: float,
                 states: Sequence[str] = (UploadState.ACTIVE,)) -> bool:
    """Take the upload's write lock if it is free or expired (and the upload is in one of ``states``)."""
    now = utcnow()
    result = session.execute(
        update(Upload)
        .where(and_(col(Upload.id) == upload_id, col(Upload.state).in_(list(states)),
                    or_(col(Upload.lock_owner).is_(None), col(Upload.lock_expires_at) < now)))
        .values(lock_owner=owner, lock_expires_at=now + timedelta(seconds=lock_s))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0)) == 1


def renew_lock(session: Session, upload_id: str, *, owner: str, lock_s: float) -> bool:
    """Extend the lock; False when another request took it over (ours had run out)."""
    result = session.execute(
        update(Upload)
        .where(and_(col(Upload.id) == upload_id, col(Upload.lock_owner) == owner))
        .values(lock_expires_at=utcnow() + timedelta(seconds=lock_s))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0)) == 1


def release_lock(session: Session, upload_id: str, *, owner: str) -> None:
    session.execute(
        update(Upload)
        .where(and_(col(Upload.id) == upload_id, col(Upload.lock_owner) == owner))
        .values(lock_owner=None, lock_expires_at=None)
        .execution_options(synchronize_session=False)
    )


def save_progress(session: Session, upload_id: str, *, owner: str, offset: int, parts: list[list[Any]],
                  buffered_bytes: int, sha256_state: bytes | None, multipart_upload_id: str | None,
                  expires_s: float, lock_s: float) -> bool:
    """Record bytes received (and push the expiry on); only while ``owner`` holds the lock."""
    now = utcnow()
    result = session.execute(
        update(Upload)
        .where(and_(col(Upload.id) == upload_id, col(Upload.lock_owner) == owner,
                    col(Upload.state) == UploadState.ACTIVE))
        .values(offset=offset, parts_json=json.dumps(parts), buffered_bytes=buffered_bytes,
                sha256_state=sha256_state, multipart_upload_id=multipart_upload_id, updated_at=now,
                expires_at=now + timedelta(seconds=expires_s), lock_expires_at=now + timedelta(seconds=lock_s))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0)) == 1


def finish_upload(session: Session, upload_id: str, *, state: UploadState, lesson_id: str | None = None,
                  error_code: str | None = None, error_message: str | None = None) -> None:
    """Leave the active state for good (complete, failed, terminated, expired) and free the lock."""
    session.execute(
        update(Upload)
        .where(col(Upload.id) == upload_id)
        .values(state=state, lesson_id=lesson_id, error_code=error_code, error_message=error_message,
                lock_owner=None, lock_expires_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def list_expired(session: Session, *, now: datetime | None = None, limit: int = 100) -> list[Upload]:
    """Unfinished uploads past their expiry whose lock is free."""
    now = now or utcnow()
    stmt = (select(Upload)
            .where(col(Upload.state) == UploadState.ACTIVE, col(Upload.expires_at) < now,
                   or_(col(Upload.lock_owner).is_(None), col(Upload.lock_expires_at) < now))
            .order_by(col(Upload.expires_at)).limit(limit))
    return list(session.exec(stmt).all())


def list_adoptable(session: Session, *, idle_s: float, limit: int = 100) -> list[Upload]:
    """Uploads with every byte received that never became a lesson (the request that finished them died)."""
    now = utcnow()
    stmt = (select(Upload)
            .where(col(Upload.state) == UploadState.ACTIVE, col(Upload.offset) == col(Upload.length),
                   col(Upload.updated_at) < now - timedelta(seconds=idle_s),
                   or_(col(Upload.lock_owner).is_(None), col(Upload.lock_expires_at) < now))
            .order_by(col(Upload.updated_at)).limit(limit))
    return list(session.exec(stmt).all())


def active_uploads(session: Session, upload_ids: Sequence[str]) -> dict[str, str | None]:
    """Which of these uploads are still receiving bytes, with the multipart upload each has recorded."""
    if not upload_ids:
        return {}
    stmt = select(Upload.id, Upload.multipart_upload_id).where(
        col(Upload.id).in_(list(upload_ids)), col(Upload.state) == UploadState.ACTIVE)
    return {upload_id: mpu for upload_id, mpu in session.exec(stmt).all()}
