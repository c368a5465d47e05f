"""Revisions: a lesson sent back for revision takes a new original from its branch and keeps its id. The earlier
revision's original, facts and archived files stay in `LessonRevision`; its jobs and asset rows go, and the lesson is
processed again from the new original (review_state_when_ready brings it back to awaiting_review)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from catalog.audit import record
from catalog.errors import AlreadyUploaded, Forbidden, InvalidTransition
from catalog.lessons import lesson_facts
from catalog.lifecycle import Viewer, may_upload_revision
from catalog.models import (
    Asset,
    AssetKind,
    Job,
    Lesson,
    LessonRevision,
    LessonStatus,
    ReviewState,
    utcnow,
)


@dataclass(frozen=True)
class ArchivedAsset:
    kind: str
    label: str
    key: str
    mime_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class NewOriginal:
    key: str
    sha256: str
    size_bytes: int
    filename: str | None


def check_revision_allowed(session: Session, lesson: Lesson, viewer: Viewer) -> None:
    """Forbidden for someone other than the lesson's branch (or the county), InvalidTransition unless the reviewers
    asked for a revision."""
    facts = lesson_facts(session, lesson)
    if not may_upload_revision(viewer, facts):
        raise Forbidden(f"{viewer.username} may not revise {lesson.id}", message="只有本支部可以上传修改后的版本")
    if lesson.review_state != ReviewState.REVISION_REQUESTED:
        raise InvalidTransition(f"revision of {lesson.id} in state {lesson.review_state}",
                                message="县里没有要求修改这节课，不能上传新版本")


def check_new_original(session: Session, sha256: str) -> None:
    """A revision must be a new file: not this or any lesson's current original, nor an earlier revision."""
    taken = session.exec(select(Lesson.id).where(Lesson.original_sha256 == sha256)).first()
    earlier = session.exec(select(LessonRevision.id).where(LessonRevision.original_sha256 == sha256)).first()
    if taken is not None or earlier is not None:
        raise AlreadyUploaded(f"revision bytes {sha256} were uploaded before",
                              message="这个文件以前上传过，请上传修改后的新文件")


def derived_assets(session: Session, lesson_id: str) -> list[Asset]:
    return list(session.exec(select(Asset).where(Asset.lesson_id == lesson_id,
                                                 Asset.kind != AssetKind.ORIGINAL)).all())


def replace_revision(session: Session, lesson: Lesson, viewer: Viewer, *, original: NewOriginal,
                     archived: list[ArchivedAsset], expected_revision: int) -> Lesson:
    """Make `original` the lesson's next revision. The caller copied the derived files to `archived` keys first;
    this records the earlier revision, drops its jobs and asset rows and queues the lesson again, in the caller's
    transaction. InvalidTransition when another revision won the race (the revision number moved on)."""
    check_revision_allowed(session, lesson, viewer)
    if lesson.revision != expected_revision:
        raise InvalidTransition(f"{lesson.id} is at revision {lesson.revision}, not {expected_revision}",
                                message="这节课刚刚已经上传了新版本")
    check_new_original(session, original.sha256)
    session.add(LessonRevision(
        lesson_id=lesson.id, number=lesson.revision, original_key=lesson.original_key,
        original_sha256=lesson.original_sha256, original_filename=lesson.original_filename,
        size_bytes=lesson.size_bytes, duration_s=lesson.duration_s, uploaded_by_id=lesson.uploaded_by_id,
        assets_json=json.dumps([asdict(a) for a in archived], ensure_ascii=False),
        created_at=_revision_started(session, lesson)))
    session.execute(delete(Asset).where(col(Asset.lesson_id) == lesson.id))
    session.execute(delete(Job).where(col(Job.lesson_id) == lesson.id))
    lesson.revision += 1
    lesson.original_key, lesson.original_sha256 = original.key, original.sha256
    lesson.size_bytes, lesson.original_filename = original.size_bytes, original.filename
    lesson.uploaded_by_id = viewer.account_id
    lesson.status, lesson.progress, lesson.error_code, lesson.error_message = LessonStatus.QUEUED, 0, None, None
    lesson.media_kind = lesson.duration_s = lesson.detected_language = lesson.language_probability = None
    lesson.caption_version = None
    lesson.updated_at = utcnow()
    session.add(lesson)
    session.flush()
    assert viewer.username is not None
    record(session, actor=viewer.username, action="revision_uploaded", lesson_id=lesson.id,
           from_state=f"r{lesson.revision - 1}", to_state=f"r{lesson.revision}")
    return lesson


def _revision_started(session: Session, lesson: Lesson) -> datetime:
    """When the current revision was uploaded: when the one before it was replaced, or the lesson's creation."""
    previous = session.exec(select(LessonRevision).where(LessonRevision.lesson_id == lesson.id)
                            .order_by(col(LessonRevision.number).desc())).first()
    return previous.replaced_at if previous is not None else lesson.created_at


def list_revisions(session: Session, lesson_id: str) -> list[LessonRevision]:
    return list(session.exec(select(LessonRevision).where(LessonRevision.lesson_id == lesson_id)
                             .order_by(col(LessonRevision.number))).all())


def archived_assets_of(revision: LessonRevision) -> list[ArchivedAsset]:
    data: Any = json.loads(revision.assets_json or "[]")
    return [ArchivedAsset(**item) for item in data] if isinstance(data, list) else []
