"""County review: decisions on a lesson (approve, reject, ask for a revision, withdraw, republish) and the 精品
mark, each checked against catalog/lifecycle.py and written to the audit log in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from catalog.audit import TimedNote, record
from catalog.errors import Forbidden, InvalidMetadata, InvalidTransition, NotPublished, ReasonRequired
from catalog.lessons import lesson_facts
from catalog.lifecycle import NEEDS_REASONS, ReviewAction, Viewer, may_feature, may_review, next_review_state
from catalog.models import Lesson, ReviewState, utcnow
from catalog.packs import withdraw_from_packs
from catalog.search import reindex_lesson

# Reason codes (stable) and their Chinese labels, in the order the desk shows them.
REVIEW_REASONS: dict[str, str] = {
    "detached_from_practice": "理论脱离实际",
    "copied": "照搬照抄",
    "reused_script": "讲稿陈旧、一稿多用",
    "staged": "摆拍作秀",
    "poor_sound": "声音不清",
    "poor_picture": "画面不清",
    "wrong_category": "分类不符",
    "other": "其他",
}
REVIEW_ACTIONS = tuple(a.value for a in ReviewAction)
MAX_COMMENT_CHARS = 2000
MAX_NOTES = 100


def review_lesson(session: Session, lesson: Lesson, viewer: Viewer, *, action: ReviewAction,
                  reasons: Sequence[str] = (), comment: str | None = None,
                  notes: Sequence[TimedNote] = ()) -> Lesson:
    """Take a review decision. Forbidden for a role that may not review, InvalidTransition (state unchanged) when
    the lesson's state does not allow it, ReasonRequired when turning a lesson down without a reason."""
    if not may_review(viewer):
        raise Forbidden(f"{viewer.username} may not review")
    target = next_review_state(lesson_facts(session, lesson), action)
    if target is None:
        raise InvalidTransition(f"{action} from {lesson.review_state} (status {lesson.status})")
    unknown = [r for r in reasons if r not in REVIEW_REASONS]
    if unknown:
        raise InvalidMetadata(f"reasons {unknown}", message="审核原因代码无效：" + "、".join(unknown[:5]))
    if action in NEEDS_REASONS and not reasons:
        raise ReasonRequired(f"{action} without a reason")
    if duration := lesson.duration_s:
        if any(n.at_s < 0 or n.at_s > duration + 1 for n in notes):
            raise InvalidMetadata("note outside the lesson", message="批注的时间超出了课程时长")
    previous = lesson.review_state
    lesson.review_state = target
    lesson.updated_at = utcnow()
    if target == ReviewState.PUBLISHED:
        lesson.published_at = lesson.updated_at  # the library's "newest" is the newest published
    session.add(lesson)
    reindex_lesson(session, lesson)  # published: in the search index; withdrawn or turned down: out of it
    if previous == ReviewState.PUBLISHED and target != ReviewState.PUBLISHED:
        withdraw_from_packs(session, lesson.id)  # no version holding it is downloadable; the next is without it
    assert viewer.username is not None
    record(session, actor=viewer.username, action=action, lesson_id=lesson.id, from_state=previous, to_state=target,
           reasons=list(dict.fromkeys(reasons)), comment=(comment or "").strip()[:MAX_COMMENT_CHARS] or None,
           notes=notes)
    return lesson


def feature_lesson(session: Session, lesson: Lesson, viewer: Viewer, *, featured: bool) -> Lesson:
    """Mark (or unmark) a published lesson as 精品 for the county film library."""
    allowed = may_feature(viewer, lesson_facts(session, lesson), featured)
    if allowed is None:
        raise Forbidden(f"{viewer.username} may not feature")
    if not allowed:
        raise NotPublished(f"feature {lesson.id} in state {lesson.review_state}")
    if lesson.featured != featured:
        lesson.featured = featured
        lesson.updated_at = utcnow()
        session.add(lesson)
        reindex_lesson(session, lesson)  # 精品 is a search filter
        assert viewer.username is not None
        record(session, actor=viewer.username, action="feature" if featured else "unfeature", lesson_id=lesson.id,
               from_state=lesson.review_state, to_state=lesson.review_state)
    return lesson
