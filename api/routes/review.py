"""County review: decisions, the 精品 mark, the reasons, and each lesson's history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep
from api.presenters import history_entry_public, lesson_public
from api.routes.lessons import insider_lesson, visible_lesson
from api.schemas import (
    ErrorPublic,
    FeatureUpdate,
    LessonHistoryPublic,
    LessonPublic,
    ReviewCreate,
    ReviewReasonPublic,
)
from catalog.audit import TimedNote, lesson_history
from catalog.lifecycle import ReviewAction
from catalog.review import REVIEW_REASONS, feature_lesson, review_lesson

router = APIRouter(prefix="/api/v1", tags=["review"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}, 404: {"model": ErrorPublic},
    409: {"model": ErrorPublic, "description": "invalid_transition: the state does not allow it (unchanged)"},
    422: {"model": ErrorPublic}}  # fmt: skip


@router.get("/review-reasons", response_model=list[ReviewReasonPublic])
def review_reasons() -> list[ReviewReasonPublic]:
    """The reasons a reviewer can give, with their Chinese labels."""
    return [ReviewReasonPublic(code=code, label=label) for code, label in REVIEW_REASONS.items()]


@router.post("/lessons/{lesson_id}/review", response_model=LessonPublic, responses=ERRORS)
def review(lesson_id: str, body: ReviewCreate, session: SessionDep, viewer: CurrentUser) -> LessonPublic:
    """approve | reject | request_revision | withdraw | republish, with reasons (required to turn a lesson
    down), a comment and time-coded notes; written to the lesson's history."""
    lesson = visible_lesson(session, lesson_id, viewer)
    review_lesson(session, lesson, viewer, action=ReviewAction(body.action), reasons=body.reasons,
                  comment=body.comment, notes=[TimedNote(at_s=n.at_s, text=n.text.strip()) for n in body.notes])
    return lesson_public(session, lesson, viewer)


@router.post("/lessons/{lesson_id}/feature", response_model=LessonPublic, responses=ERRORS)
def feature(lesson_id: str, body: FeatureUpdate, session: SessionDep, viewer: CurrentUser) -> LessonPublic:
    """Mark a published lesson 精品 for the county film library, or take the mark away."""
    lesson = visible_lesson(session, lesson_id, viewer)
    feature_lesson(session, lesson, viewer, featured=body.featured)
    return lesson_public(session, lesson, viewer)


@router.get("/lessons/{lesson_id}/history", response_model=LessonHistoryPublic, responses=ERRORS)
def history(lesson_id: str, session: SessionDep, viewer: CurrentUser) -> LessonHistoryPublic:
    """Every review decision, feature change and caption edit of the lesson, oldest first (append-only). For the
    lesson's branch, its township and the county: reviewers' comments and earlier drafts stay inside."""
    lesson = insider_lesson(session, lesson_id, viewer, what="the history",
                            message="只有本支部、本乡镇和县里的账号可以查看这节课的审核记录")
    return LessonHistoryPublic(lesson_id=lesson.id,
                               entries=[history_entry_public(e) for e in lesson_history(session, lesson.id)])
