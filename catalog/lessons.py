"""Lessons: creation from a stored original, lookup, listing with filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from catalog.captions import SearchTerm, published_segments_matching
from catalog.errors import InvalidMetadata, UnknownCategory
from catalog.models import Language, Lesson, LessonStatus, utcnow
from catalog.organisations import branch_for_name, find_category

MAX_TITLE_CHARS = 200


@dataclass(frozen=True)
class LessonFields:
    """What an uploader says about a lesson; everything but the title is optional."""

    title: str
    branch: str | None = None
    category: str | None = None
    speaker: str | None = None
    recorded_on: date | None = None
    language: str = Language.MANDARIN


def get_lesson(session: Session, lesson_id: str) -> Lesson | None:
    return session.get(Lesson, lesson_id)


def find_by_sha256(session: Session, sha256: str) -> Lesson | None:
    return session.exec(select(Lesson).where(Lesson.original_sha256 == sha256)).first()


def create_lesson(
    session: Session,
    *,
    fields: LessonFields,
    original_key: str,
    original_sha256: str,
    size_bytes: int,
    original_filename: str | None,
) -> Lesson:
    title = " ".join(fields.title.split())[:MAX_TITLE_CHARS]
    if not title:
        raise InvalidMetadata("empty title", message="课程标题不能为空")
    if fields.language not in {lang.value for lang in Language}:
        raise InvalidMetadata(f"language {fields.language!r}", message="语言只能是 zh、yue 或 other")
    category_id = None
    if fields.category:
        category = find_category(session, fields.category)
        if category is None:
            raise UnknownCategory(f"category {fields.category!r}")
        category_id = category.id
    branch_id = branch_for_name(session, fields.branch).id if fields.branch and fields.branch.strip() else None
    lesson = Lesson(
        title=title,
        speaker=(fields.speaker or "").strip()[:100] or None,
        recorded_on=fields.recorded_on,
        language=fields.language,
        branch_id=branch_id,
        category_id=category_id,
        original_key=original_key,
        original_sha256=original_sha256,
        size_bytes=size_bytes,
        original_filename=(original_filename or "")[:300] or None,
    )
    session.add(lesson)
    session.flush()
    return lesson


def list_lessons(
    session: Session,
    *,
    category_id: int | None = None,
    branch_id: int | None = None,
    status: str | None = None,
    language: str | None = None,
    terms: Sequence[SearchTerm] = (),
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Lesson], int]:
    """A page of lessons, newest first, and the total matching count. `terms`: each one in the title, the speaker
    or what the published captions say (anywhere in them)."""
    stmt = select(Lesson)
    for term in terms:
        spoken = published_segments_matching([term]).with_only_columns(col(Lesson.id))
        stmt = stmt.where(or_(term.matches(Lesson.title), term.matches(Lesson.speaker), col(Lesson.id).in_(spoken)))
    if category_id is not None:
        stmt = stmt.where(Lesson.category_id == category_id)
    if branch_id is not None:
        stmt = stmt.where(Lesson.branch_id == branch_id)
    if status is not None:
        stmt = stmt.where(Lesson.status == status)
    if language is not None:
        stmt = stmt.where(Lesson.language == language)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    page = session.exec(
        stmt.order_by(col(Lesson.created_at).desc(), col(Lesson.id)).offset(offset).limit(limit)
    ).all()
    return list(page), int(total)


def set_status(
    session: Session,
    lesson: Lesson,
    status: LessonStatus,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    lesson.status = status
    lesson.error_code = error_code
    lesson.error_message = error_message
    if status == LessonStatus.READY:
        lesson.progress = 100
    lesson.updated_at = utcnow()
    session.add(lesson)
    session.flush()
