"""Copy detection for reviewers: the lessons like one lesson (catalog/similar_index.py), best first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep
from api.routes.lessons import visible_lesson
from api.schemas import ErrorPublic, NamedRef, SimilarLessonPublic, SimilarSignals, SimilarSpan
from catalog.errors import Forbidden
from catalog.lessons import lesson_facts
from catalog.lifecycle import can_see, may_see_similar
from catalog.models import Organisation
from catalog.similar_index import similar_lessons

router = APIRouter(prefix="/api/v1", tags=["review"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}, 404: {"model": ErrorPublic}}  # fmt: skip


@router.get("/lessons/{lesson_id}/similar", response_model=list[SimilarLessonPublic], responses=ERRORS)
def similar(lesson_id: str, session: SessionDep, viewer: CurrentUser) -> list[SimilarLessonPublic]:
    """Lessons like this one by what was said, the footage or the sound, best first, at or above the reporting
    threshold, with where the matching stretches lie in both. For reviewers, administrators and the organisers of
    the lesson's township; a lesson the caller may not see is left out."""
    lesson = visible_lesson(session, lesson_id, viewer)
    if not may_see_similar(viewer, lesson_facts(session, lesson)):
        raise Forbidden(f"{viewer.username} ({viewer.role}) may not see lessons like {lesson.id}",
                        message="只有县里的审核员、管理员和本乡镇的组织员可以查看相似课程")
    out = []
    for item in similar_lessons(session, lesson.id):
        if not can_see(viewer, lesson_facts(session, item.other)):
            continue
        branch = session.get(Organisation, item.other.branch_id) if item.other.branch_id else None
        out.append(SimilarLessonPublic(
            lesson_id=item.other.id, title=item.other.title,
            branch=NamedRef(id=branch.id or 0, name=branch.name) if branch else None,
            review_state=item.other.review_state, score=item.match.score,
            signals=SimilarSignals(transcript=item.match.transcript, footage=item.match.footage,
                                   sound=item.match.sound),
            spans=[SimilarSpan(**span) for span in item.spans]))
    return out
