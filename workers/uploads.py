"""Resumable uploads end to end: create, append under a lock, complete into a lesson (the beat's sweeps that
expire and adopt them: :mod:`workers.upload_sweeps`).

The storage side is :mod:`ingest.resumable` (no database); the rows are :mod:`catalog.uploads`. A finished
upload becomes a lesson through :func:`workers.intake.admit_stored`, the same code as the multipart upload:

    all bytes received ──> assemble ──> SHA-256 (= the client's, when it gave one) ──> publish originals/<sha256>
        (create-only) ──> admit_stored (dedup, lesson, probe) ──> upload "complete" with its lesson id

A failed whole-file check marks the upload "failed" and drops its bytes: they never become an original. If the
request finishing an upload dies half-way, the upload stays "active" with every byte received and the
reconciler (:func:`workers.upload_sweeps.adopt_uploads`, run by beat) completes it; expired uploads' bytes
are dropped by the same module's sweep.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from catalog import uploads as rows
from catalog.accounts import get_account_by_id, viewer_of
from catalog.db import unit_of_work
from catalog.errors import (
    AlreadyUploaded,
    CatalogError,
    Forbidden,
    InvalidMetadata,
    UploadExpired,
    UploadFailed,
    UploadLocked,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTerminated,
)
from catalog.lessons import LessonFields, lesson_facts, upload_branch_id
from catalog.lifecycle import ANONYMOUS, Viewer, can_see
from catalog.models import Language, Upload, UploadState, utcnow
from catalog.organisations import category_id_for
from ingest import keys
from ingest.errors import ChecksumMismatch, EmptyUpload, IngestError, UploadTooLarge
from ingest.receive import format_size
from ingest.resumable import ChunkCheck, Part, Progress, ResumableStore, resumable_store_for
from workers.intake import admit_stored, display_name, title_from_filename
from workers.revisions import admit_revision, check_revision
from workers.wiring import Context

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"普通话": Language.MANDARIN, "粤语": Language.CANTONESE, "其他方言": Language.OTHER,
                  "方言": Language.OTHER}
_SHA256 = re.compile(r"[0-9a-f]{64}")
WHOLE_FILE_MISMATCH_MESSAGE = "整个文件的校验值与手机上的不一致，文件可能已损坏，请重新上传"


@dataclass(frozen=True)
class UploadView:
    """What the tus answers need to say about an upload."""

    id: str
    length: int
    offset: int
    state: str
    expires_at: datetime
    lesson_id: str | None
    metadata: dict[str, str]


def _view(upload: Upload) -> UploadView:
    return UploadView(id=upload.id, length=upload.length, offset=upload.offset, state=upload.state,
                      expires_at=upload.expires_at, lesson_id=upload.lesson_id,
                      metadata=rows.upload_metadata(upload))


_stores: dict[tuple[int, str], tuple[object, ResumableStore]] = {}


def resumable_store(ctx: Context) -> ResumableStore:
    """The resumable side of the context's storage (cached; the cache keeps the storage alive, so ids stay unique)."""
    buffer_dir = ctx.settings.data_dir / "upload-buffers"
    key = (id(ctx.storage), str(buffer_dir))
    cached = _stores.get(key)
    if cached is None:
        cached = (ctx.storage, resumable_store_for(ctx.storage, buffer_dir=buffer_dir))
        _stores[key] = cached
    return cached[1]


def fields_from_metadata(metadata: dict[str, str]) -> LessonFields:
    """The lesson's fields from tus Upload-Metadata; InvalidMetadata names what is wrong."""
    title = (metadata.get("title") or "").strip() or title_from_filename(metadata.get("filename"))
    if len(title) > 200:
        raise InvalidMetadata("title too long", message="课程标题不能超过 200 个字")
    language = (metadata.get("language") or "zh").strip()
    language = LANGUAGE_NAMES.get(language, language)
    if language not in {lang.value for lang in Language}:
        raise InvalidMetadata(f"language {language!r}", message="语言只能是普通话、粤语或其他方言")
    recorded_on = None
    if metadata.get("recorded_on"):
        try:
            recorded_on = date.fromisoformat(metadata["recorded_on"].strip())
        except ValueError as exc:
            raise InvalidMetadata(f"recorded_on {metadata['recorded_on']!r}", message="录制日期格式应为 2026-07-01") from exc
    for name, limit in (("branch", 200), ("speaker", 100), ("category", 64)):
        if len(metadata.get(name) or "") > limit:
            raise InvalidMetadata(f"{name} too long", message="课程信息填写有误：内容过长")
    return LessonFields(title=title, branch=(metadata.get("branch") or "").strip() or None,
                        category=(metadata.get("category") or "").strip() or None,
                        speaker=(metadata.get("speaker") or "").strip() or None, recorded_on=recorded_on,
                        language=language)


def create_upload(ctx: Context, *, length: int, metadata: dict[str, str], viewer: Viewer) -> UploadView:
    """Validate what the client says, prepare storage, record the upload. Nothing is stored on refusal."""
    s = ctx.settings
    if length <= 0:
        raise EmptyUpload("Upload-Length 0")
    if length > s.max_upload_bytes:
        raise UploadTooLarge(f"Upload-Length {length} over {s.max_upload_bytes}",
                             message=f"文件超过大小上限（{format_size(s.max_upload_bytes)}）")
    fields = fields_from_metadata(metadata)
    client_sha256 = (metadata.get("sha256") or "").strip().lower() or None
    if client_sha256 is not None and not _SHA256.fullmatch(client_sha256):
        raise InvalidMetadata("sha256 is not 64 hex digits", message="文件校验值格式有误")
    if metadata.get("revision_of"):
        check_revision(ctx, metadata["revision_of"].strip(), viewer)  # LessonNotFound, Forbidden, InvalidTransition
    with unit_of_work(ctx.engine) as session:
        upload_branch_id(session, viewer, fields.branch)
        category_id_for(session, fields.category)
    upload_id = uuid.uuid4().hex
    progress = resumable_store(ctx).begin(upload_id)
    with unit_of_work(ctx.engine) as session:
        upload = rows.create_upload(
            session, upload_id=upload_id, length=length, metadata=metadata,
            filename=display_name(metadata.get("filename")) or None, client_sha256=client_sha256,
            staging_key=keys.upload_staging(upload_id), expires_s=s.upload_expires_s,
            multipart_upload_id=progress.multipart_upload_id, sha256_state=progress.sha256_state,
            account_id=viewer.account_id)
        return _view(upload)


def describe(ctx: Context, upload_id: str) -> UploadView:
    """The upload as HEAD shows it; UploadNotFound, or a "gone" error once it cannot continue."""
    with unit_of_work(ctx.engine) as session:
        upload = rows.get_upload(session, upload_id)
        if upload is None:
            raise UploadNotFound(upload_id)
        _raise_if_gone(upload)
        return _view(upload)


def _raise_if_gone(upload: Upload) -> None:
    if upload.state == UploadState.TERMINATED:
        raise UploadTerminated(upload.id)
    if upload.state == UploadState.FAILED:
        raise UploadFailed(upload.id, message=upload.error_message or UploadFailed.message)
    if upload.state == UploadState.EXPIRED or (upload.state == UploadState.ACTIVE and upload.expires_at < utcnow()):
        raise UploadExpired(upload.id)


def progress_of(upload: Upload) -> Progress:
    parts = tuple(Part(number=int(n), etag=str(e), size_bytes=int(z)) for n, e, z in json.loads(upload.parts_json))
    return Progress(offset=upload.offset, parts=parts, buffered_bytes=upload.buffered_bytes,
                    multipart_upload_id=upload.multipart_upload_id, sha256_state=upload.sha256_state)


class UploadLock:
    """The upload's write lock, held by one request; renewed while bytes flow, saved with progress."""

    def __init__(self, ctx: Context, upload_id: str) -> None:
        self.ctx, self.upload_id, self.owner = ctx, upload_id, uuid.uuid4().hex
        self.lock_s = ctx.settings.upload_lock_s
        self._renewed = time.monotonic()

    def acquire(self, states: tuple[str, ...] = (UploadState.ACTIVE,)) -> bool:
        with unit_of_work(self.ctx.engine) as session:
            got = rows.acquire_lock(session, self.upload_id, owner=self.owner, lock_s=self.lock_s, states=states)
        self._renewed = time.monotonic()
        return got

    def keep(self) -> None:
        """Renew when a quarter of the lock time has passed; UploadLocked when another request took it."""
        if time.monotonic() - self._renewed < self.lock_s / 4:
            return
        with unit_of_work(self.ctx.engine) as session:
            held = rows.renew_lock(session, self.upload_id, owner=self.owner, lock_s=self.lock_s)
        if not held:
            raise UploadLocked(f"lost the lock on upload {self.upload_id}")
        self._renewed = time.monotonic()

    def save(self, progress: Progress) -> None:
        s = self.ctx.settings
        with unit_of_work(self.ctx.engine) as session:
            saved = rows.save_progress(
                session, self.upload_id, owner=self.owner, offset=progress.offset,
                parts=[[p.number, p.etag, p.size_bytes] for p in progress.parts],
                buffered_bytes=progress.buffered_bytes, sha256_state=progress.sha256_state,
                multipart_upload_id=progress.multipart_upload_id, expires_s=s.upload_expires_s, lock_s=self.lock_s)
        if not saved:
            raise UploadLocked(f"lost the lock on upload {self.upload_id} before saving")
        self._renewed = time.monotonic()

    def release(self) -> None:
        with unit_of_work(self.ctx.engine) as session:
            rows.release_lock(session, self.upload_id, owner=self.owner)

    def renewing(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.keep()  # before writing: a request that lost its lock writes nothing more
            yield chunk


def append(ctx: Context, upload_id: str, *, offset: int, chunks: Iterable[bytes], content_length: int | None,
           check: ChunkCheck | None = None) -> UploadView:
    """A PATCH: bytes at ``offset``; completes the upload when they are the last ones."""
    view = describe(ctx, upload_id)  # 404/410 before anything else
    if view.state == UploadState.COMPLETE:  # e.g. the last chunk again, its answer lost on the way
        if offset != view.length:
            raise UploadOffsetMismatch(f"Upload-Offset {offset}, upload {upload_id} is complete")
        return view
    lock = UploadLock(ctx, upload_id)
    if not lock.acquire():
        view = describe(ctx, upload_id)  # it may have just finished or expired
        if view.state == UploadState.COMPLETE:
            raise UploadOffsetMismatch(f"Upload-Offset {offset}, upload {upload_id} just completed")
        raise UploadLocked(f"upload {upload_id} is being written by another request")
    try:
        with unit_of_work(ctx.engine) as session:
            upload = rows.get_upload(session, upload_id)
            assert upload is not None
            refusal = _uploader_gone(session, upload)
        store = resumable_store(ctx)
        saved = progress_of(upload)
        if refusal is not None:
            _fail(ctx, store, upload, saved, refusal)
            raise refusal
        progress = store.check(upload_id, saved)
        if progress != saved:
            lock.save(progress)
        if offset != progress.offset:
            raise UploadOffsetMismatch(f"Upload-Offset {offset}, server has {progress.offset}")
        remaining = upload.length - progress.offset
        if content_length is not None and content_length > remaining:
            raise UploadTooLarge(f"{content_length} bytes at {offset} pass Upload-Length {upload.length}",
                                 message="发送的数据超过了文件长度")
        if remaining > 0:
            progress = store.append(upload_id, progress, lock.renewing(chunks), max_bytes=remaining, check=check,
                                    checkpoint=lock.save)
            lock.save(progress)
        if progress.offset == upload.length:
            lesson_id = complete_upload(ctx, upload, progress, lock)
            return UploadView(id=upload.id, length=upload.length, offset=upload.length,
                              state=UploadState.COMPLETE, expires_at=upload.expires_at, lesson_id=lesson_id,
                              metadata=rows.upload_metadata(upload))
    finally:
        lock.release()
    return describe(ctx, upload_id)


def complete_upload(ctx: Context, upload: Upload, progress: Progress, lock: UploadLock) -> str:
    """Every byte is in: check, publish, admit. Leaves the upload active (for the reconciler) only on errors
    worth retrying (storage unavailable)."""
    store = resumable_store(ctx)
    metadata = rows.upload_metadata(upload)
    try:
        with unit_of_work(ctx.engine) as session:  # before anything is stored (the reconciler's only check)
            if (refusal := _uploader_gone(session, upload)) is not None:
                raise refusal
        staged = store.assemble(upload.id, progress, length=upload.length)
        lock.keep()
        if upload.client_sha256 and staged.sha256 != upload.client_sha256:
            raise ChecksumMismatch(f"whole file {staged.sha256} != client's {upload.client_sha256}",
                                   message=WHOLE_FILE_MISMATCH_MESSAGE)
        original, _created = store.publish(upload.id, staged)
        lock.keep()
        fields = fields_from_metadata(metadata)
        with unit_of_work(ctx.engine) as session:
            account = get_account_by_id(session, upload.account_id) if upload.account_id else None
            viewer = viewer_of(account) if account else ANONYMOUS
            branch_id = upload_branch_id(session, viewer, fields.branch) if account else None
        revision_of = (metadata.get("revision_of") or "").strip()
        if revision_of:
            lesson_id = admit_revision(ctx, revision_of, original, filename=upload.filename, viewer=viewer)
            with unit_of_work(ctx.engine) as session:
                rows.finish_upload(session, upload.id, state=UploadState.COMPLETE, lesson_id=lesson_id)
            _discard_staged(store, upload, progress)
            return lesson_id
        admitted = admit_stored(ctx, original, filename=upload.filename, fields=fields,
                                uploaded_by_id=upload.account_id, branch_id=branch_id)
        if not admitted.created:
            with unit_of_work(ctx.engine) as session:
                if not can_see(viewer, lesson_facts(session, admitted.lesson)):
                    raise AlreadyUploaded(f"upload {upload.id} repeats lesson {admitted.lesson.id} of another branch")
    except (IngestError, CatalogError) as exc:
        if getattr(exc, "retryable", False):
            raise
        _fail(ctx, store, upload, progress, exc)
        raise
    with unit_of_work(ctx.engine) as session:
        rows.finish_upload(session, upload.id, state=UploadState.COMPLETE, lesson_id=admitted.lesson.id)
    _discard_staged(store, upload, progress)
    log.info("upload %s became lesson %s (%s)", upload.id, admitted.lesson.id, "new" if admitted.created else "dedup")
    return admitted.lesson.id


def _fail(ctx: Context, store: ResumableStore, upload: Upload, progress: Progress,
          exc: IngestError | CatalogError) -> None:
    """The upload cannot become a lesson: failed, with the reason its phone is told (HEAD answers 410 with it),
    and its bytes removed."""
    log.warning("upload %s failed: %s (%s)", upload.id, exc.code, exc)
    with unit_of_work(ctx.engine) as session:
        rows.finish_upload(session, upload.id, state=UploadState.FAILED, error_code=exc.code,
                           error_message=exc.message)
    try:
        store.discard(upload.id, progress)
    except IngestError:
        log.warning("could not remove the bytes of failed upload %s; the expiry sweep will", upload.id)


def _uploader_gone(session: Session, upload: Upload) -> Forbidden | None:
    """Refused when the account that made the upload was disabled or removed since: the upload URL must not
    outlive the account (a thief's uploads stop when the county disables it)."""
    if upload.account_id is None:
        return None
    account = get_account_by_id(session, upload.account_id)
    if account is not None and not account.disabled:
        return None
    return Forbidden(f"upload {upload.id}: account {upload.account_id} disabled or removed",
                     message="上传这个文件的账号已停用，上传已取消")


def _discard_staged(store: ResumableStore, upload: Upload, progress: Progress) -> None:
    try:
        store.discard(upload.id, progress)  # the original is published; the staging copy goes
    except IngestError:
        log.warning("could not remove the staged bytes of upload %s; the expiry sweep will", upload.id,
                    exc_info=True)


def terminate(ctx: Context, upload_id: str) -> None:
    """DELETE: drop the staged bytes; a finished upload is only forgotten (its lesson stays)."""
    describe(ctx, upload_id)
    lock = UploadLock(ctx, upload_id)
    if not lock.acquire(states=(UploadState.ACTIVE, UploadState.COMPLETE)):
        raise UploadLocked(f"upload {upload_id} is being written by another request")
    try:
        with unit_of_work(ctx.engine) as session:
            upload = rows.get_upload(session, upload_id)
        assert upload is not None
        if upload.state == UploadState.ACTIVE:
            resumable_store(ctx).discard(upload_id, progress_of(upload))
        with unit_of_work(ctx.engine) as session:
            rows.finish_upload(session, upload_id, state=UploadState.TERMINATED, lesson_id=upload.lesson_id)
    finally:
        lock.release()
