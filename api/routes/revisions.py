"""Revisions: the branch answers a request for revision with a new file; the lesson keeps its id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from api.deps import ContextDep, CurrentUser, SessionDep
from api.presenters import lesson_public
from api.routes.lessons import ERRORS, insider_lesson
from api.schemas import LessonPublic, RevisionCreate, RevisionHistoryPublic, RevisionPublic
from catalog.lessons import get_lesson
from catalog.revisions import list_revisions
from workers.revisions import revise_from_stream

router = APIRouter(prefix="/api/v1", tags=["review"])


@router.post("/lessons/{lesson_id}/revisions", status_code=201, response_model=LessonPublic, responses=ERRORS)
def upload_revision(lesson_id: str, ctx: ContextDep, session: SessionDep, viewer: CurrentUser,
                    form: Annotated[RevisionCreate, Form()]) -> LessonPublic:
    """A new file for a lesson in `revision_requested` (its branch, or the county); it is processed like an upload
    and goes back to awaiting_review when ready. 409 when no revision was asked for or the file is not new."""
    revise_from_stream(ctx, lesson_id, form.file.file, filename=form.file.filename, viewer=viewer)
    session.expire_all()
    lesson = get_lesson(session, lesson_id)
    assert lesson is not None
    return lesson_public(session, lesson, viewer)


@router.get("/lessons/{lesson_id}/revisions", response_model=RevisionHistoryPublic, responses=ERRORS)
def revision_history(lesson_id: str, session: SessionDep, viewer: CurrentUser) -> RevisionHistoryPublic:
    """Every revision of the lesson, oldest first (the lesson's branch, its township and the county)."""
    lesson = insider_lesson(session, lesson_id, viewer, what="revisions")
    earlier = list_revisions(session, lesson.id)
    rows = [RevisionPublic(number=r.number, uploaded_at=r.created_at, replaced_at=r.replaced_at,
                           size_bytes=r.size_bytes, duration_s=r.duration_s, original_filename=r.original_filename,
                           sha256=r.original_sha256) for r in earlier]
    rows.append(RevisionPublic(number=lesson.revision,
                               uploaded_at=earlier[-1].replaced_at if earlier else lesson.created_at,
                               size_bytes=lesson.size_bytes, duration_s=lesson.duration_s,
                               original_filename=lesson.original_filename, sha256=lesson.original_sha256))
    return RevisionHistoryPublic(lesson_id=lesson.id, current=lesson.revision, revisions=rows)
