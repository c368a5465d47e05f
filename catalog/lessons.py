"""Lessons: creation from a stored original, lookup, listing with filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from catalog.errors import Forbidden, InvalidMetadata
from catalog.fields import plain_line
from catalog.lifecycle import SEES_EVERYTHING, LessonFacts, Viewer, may_upload_into, review_state_when_ready
from catalog.models import Language, Lesson, LessonStatus, Organisation, utcnow
from catalog.organisations import branch_for_name, category_id_for
from catalog.search import lessons_matching, reindex_lesson
from catalog.visibility import visible_clause

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


def lesson_facts(session: Session, lesson: Lesson) -> LessonFacts:
    branch = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
    return LessonFacts(review_state=lesson.review_state, status=lesson.status, branch_id=lesson.branch_id,
                       township_id=branch.parent_id if branch else None)


def upload_branch_id(session: Session, viewer: Viewer, named: str | None) -> int | None:
    """The branch an upload goes into: an uploader's own (naming another is Forbidden); for the county's staff,
    None (the branch named in the metadata, if any, is found or created with the lesson)."""
    if viewer.role in SEES_EVERYTHING:
        return None
    own = session.get(Organisation, viewer.org_id) if viewer.org_id else None
    named = (named or "").strip() or None
    if own is None or (named is not None and named != own.name) or not may_upload_into(viewer, own.id):
        raise Forbidden(f"{viewer.username} may not upload into {named!r}", message="只能上传到自己所在的支部")
    return own.id


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
    uploaded_by_id: int | None = None,
    branch_id: int | None = None,
) -> Lesson:
    # Control and format characters (NUL, escapes, direction overrides) never reach the database, ffmpeg's
    # metadata arguments or a report's cells, whichever way the file came.
    title = plain_line(fields.title)[:MAX_TITLE_CHARS]
    if not title:
        raise InvalidMetadata("empty title", message="课程标题不能为空")
    if fields.language not in {lang.value for lang in Language}:
        raise InvalidMetadata(f"language {fields.language!r}", message="语言只能是 zh、yue 或 other")
    category_id = category_id_for(session, fields.category)
    if branch_id is None and (branch := plain_line(fields.branch)):
        branch_id = branch_for_name(session, branch).id
    lesson = Lesson(
        title=title,
        speaker=plain_line(fields.speaker)[:100] or None,
        recorded_on=fields.recorded_on,
        language=fields.language,
        branch_id=branch_id,
        category_id=category_id,
        original_key=original_key,
        original_sha256=original_sha256,
        size_bytes=size_bytes,
        original_filename=(original_filename or "")[:300] or None,  # cleaned by workers/intake.py's display_name
        uploaded_by_id=uploaded_by_id,
    )
    session.add(lesson)
    session.flush()
    reindex_lesson(session, lesson)  # findable by its title at once (by those who may see it)
    return lesson


def list_lessons(
    session: Session,
    *,
    viewer: Viewer,
    uploaded_by_id: int | None = None,
    review_state: str | None = None,
    category_id: int | None = None,
    branch_id: int | None = None,
    status: str | None = None,
    language: str | None = None,
    query: str | None = None,
    order: tuple[Any, ...] = (),
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Lesson], int]:
    """A page of lessons, newest first (or in `order`: catalog/library.py's `lesson_order`), and the total matching
    count. `query`: words that must each be somewhere in the lesson (title, speaker, series, tags, description, what
    it says), found by the search index."""
    stmt = select(Lesson).where(visible_clause(viewer))
    if query is not None and query.strip():
        stmt = stmt.where(lessons_matching(session, query))
    if category_id is not None:
        stmt = stmt.where(Lesson.category_id == category_id)
    if branch_id is not None:
        stmt = stmt.where(Lesson.branch_id == branch_id)
    if status is not None:
        stmt = stmt.where(Lesson.status == status)
    if language is not None:
        stmt = stmt.where(Lesson.language == language)
    if uploaded_by_id is not None:
        stmt = stmt.where(Lesson.uploaded_by_id == uploaded_by_id)
    if review_state is not None:
        stmt = stmt.where(Lesson.review_state == review_state)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    page = session.exec(
        stmt.order_by(*(order or (col(Lesson.created_at).desc(), col(Lesson.id)))).offset(offset).limit(limit)
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
        lesson.review_state = review_state_when_ready(lesson.review_state)
    lesson.updated_at = utcnow()
    session.add(lesson)
    session.flush()
