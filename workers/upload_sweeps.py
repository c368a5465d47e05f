"""The beat's sweeps over resumable uploads (workers/uploads.py): unfinished ones past their expiry lose their bytes;
ones whose every byte arrived but whose finishing request died are completed into lessons (adopted), or, when
their lesson can never be stored, marked failed once so the sweep does not stop at them on every run."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from catalog import uploads as rows
from catalog.db import unit_of_work
from catalog.errors import CatalogError
from catalog.models import UploadState
from ingest.errors import IngestError
from workers.uploads import UploadLock, complete_upload, progress_of, resumable_store
from workers.wiring import Context

log = logging.getLogger(__name__)


def expire_uploads(ctx: Context, *, limit: int = 100) -> int:
    """Drop unfinished uploads past their expiry, then staged bytes (incomplete S3 multipart uploads, local
    buffers) that no live upload owns. Returns how many uploads expired."""
    store = resumable_store(ctx)
    with unit_of_work(ctx.engine) as session:
        expired = rows.list_expired(session, limit=limit)
    count = 0
    for upload in expired:
        lock = UploadLock(ctx, upload.id)
        if not lock.acquire():
            continue
        try:
            store.discard(upload.id, progress_of(upload))
            with unit_of_work(ctx.engine) as session:
                rows.finish_upload(session, upload.id, state=UploadState.EXPIRED)
            count += 1
        except IngestError:
            log.warning("could not clean expired upload %s; next sweep retries", upload.id, exc_info=True)
            lock.release()
    leftovers = store.leftovers(older_than_s=ctx.settings.upload_lock_s * 2)
    with unit_of_work(ctx.engine) as session:
        live = rows.active_uploads(session, [item.upload_id for item in leftovers])
    for item in leftovers:
        # Gone uploads' bytes, and multipart uploads a live upload never recorded (its request died first).
        if item.upload_id not in live or (item.multipart_upload_id and item.multipart_upload_id != live[item.upload_id]):
            try:
                store.remove_leftover(item)
            except IngestError:
                log.warning("could not remove leftover of upload %s", item.upload_id, exc_info=True)
    if count:
        log.info("expired %d unfinished uploads", count)
    return count


def adopt_uploads(ctx: Context, *, limit: int = 20) -> list[str]:
    """Complete uploads whose bytes all arrived but never became a lesson; returns their lesson ids."""
    with unit_of_work(ctx.engine) as session:
        candidates = rows.list_adoptable(session, idle_s=ctx.settings.upload_lock_s, limit=limit)
    lessons: list[str] = []
    for upload in candidates:
        lock = UploadLock(ctx, upload.id)
        if not lock.acquire():
            continue
        try:
            with unit_of_work(ctx.engine) as session:
                fresh = rows.get_upload(session, upload.id)
            if fresh is None or fresh.offset != fresh.length:
                continue
            lessons.append(complete_upload(ctx, fresh, progress_of(fresh), lock))
            log.warning("adopted upload %s: its finishing request had died", upload.id)
        except (IngestError, CatalogError) as exc:
            log.warning("could not adopt upload %s: %s", upload.id, exc)
        except DBAPIError as exc:
            if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
                log.warning("could not adopt upload %s, database unavailable; next sweep retries", upload.id)
                continue
            _give_up(ctx, upload.id, exc)  # the row itself cannot be stored: retrying would fail forever
        except ValueError as exc:  # refused by the driver before it reached the database
            _give_up(ctx, upload.id, exc)
        finally:
            lock.release()
    return lessons


UNADOPTABLE_MESSAGE = "上传的文件信息无法保存，请重新上传"


def _give_up(ctx: Context, upload_id: str, exc: Exception) -> None:
    """One bad upload must not stop the sweep at itself on every run: record it as failed and go on."""
    log.error("upload %s cannot become a lesson; marked failed: %s", upload_id, exc, exc_info=True)
    with unit_of_work(ctx.engine) as session:
        rows.finish_upload(session, upload_id, state=UploadState.FAILED, error_code="upload_unadoptable",
                           error_message=UNADOPTABLE_MESSAGE)

