"""The reviewers' desk: the review queue, oldest first, with how long each lesson has waited, its neighbours in the
queue, and how many lessons each review state holds. For reviewers and administrators, who see every lesson (the
routes check `may_review` first), so no visibility clause applies here.

How long a lesson has waited: since its latest review decision or revision upload (the moments a lesson changes
review state, besides processing becoming ready), otherwise since it was uploaded. A lesson sent back and revised
therefore waits from when its new file arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from catalog.lifecycle import ReviewAction
from catalog.models import AuditEntry, Category, Lesson, Organisation, OrgKind, ReviewState

# Audit actions after which a lesson sits in a (new) review state; catalog/revisions.py writes "revision_uploaded".
STATE_CHANGING_ACTIONS = (*(a.value for a in ReviewAction), "revision_uploaded")
QUEUE_ID_LIMIT = 5000  # neighbours are looked up among this many queue entries


@dataclass(frozen=True)
class QueueFilters:
    """Which part of the queue: one review state, narrowed by township, branch, category and language."""

    state: str = ReviewState.AWAITING_REVIEW
    township_id: int | None = None
    branch_id: int | None = None
    category_id: int | None = None
    language: str | None = None


@dataclass(frozen=True)
class QueueEntry:
    lesson: Lesson
    waiting_since: datetime
    branch: str | None
    township: str | None
    category: str | None


@dataclass(frozen=True)
class QueuePosition:
    """Where a lesson stands in its queue: the lessons before and after it, its 1-based place and the total."""

    previous_id: str | None
    next_id: str | None
    place: int | None  # None: the lesson is not in this queue (then next_id is the queue's first lesson)
    total: int


def _waiting_since() -> Any:
    last_change = (select(func.max(AuditEntry.at))
                   .where(col(AuditEntry.lesson_id) == col(Lesson.id),
                          col(AuditEntry.action).in_(STATE_CHANGING_ACTIONS))
                   .correlate(Lesson).scalar_subquery())
    return func.coalesce(last_change, col(Lesson.created_at))


def _narrowed(stmt: Any, filters: QueueFilters, *, with_state: bool = True) -> Any:
    if with_state:
        stmt = stmt.where(col(Lesson.review_state) == filters.state)
    if filters.township_id is not None:
        branches = select(Organisation.id).where(Organisation.parent_id == filters.township_id)
        stmt = stmt.where(col(Lesson.branch_id).in_(branches))
    if filters.branch_id is not None:
        stmt = stmt.where(col(Lesson.branch_id) == filters.branch_id)
    if filters.category_id is not None:
        stmt = stmt.where(col(Lesson.category_id) == filters.category_id)
    if filters.language is not None:
        stmt = stmt.where(col(Lesson.language) == filters.language)
    return stmt


def review_queue(session: Session, *, filters: QueueFilters, offset: int = 0, limit: int = 50
                 ) -> tuple[list[QueueEntry], int]:
    """A page of the queue, the longest-waiting lesson first, and how many lessons the queue holds."""
    since = _waiting_since().label("waiting_since")
    stmt = _narrowed(select(Lesson, since), filters)
    total = session.exec(_narrowed(select(func.count()).select_from(Lesson), filters)).one()
    rows = session.exec(stmt.order_by(since, col(Lesson.id)).offset(offset).limit(limit)).all()
    entries = []
    for lesson, waiting_since in rows:
        branch = session.get(Organisation, lesson.branch_id) if lesson.branch_id else None
        township = session.get(Organisation, branch.parent_id) if branch and branch.parent_id else None
        category = session.get(Category, lesson.category_id) if lesson.category_id else None
        entries.append(QueueEntry(
            lesson=lesson, waiting_since=waiting_since, branch=branch.name if branch else None,
            township=township.name if township and township.kind == OrgKind.TOWNSHIP else None,
            category=category.name if category else None))
    return entries, int(total)


def queue_position(session: Session, lesson_id: str, *, filters: QueueFilters) -> QueuePosition:
    """The lesson's neighbours in the queue, in the order `review_queue` lists it."""
    since = _waiting_since()
    stmt = _narrowed(select(Lesson.id), filters).order_by(since, col(Lesson.id)).limit(QUEUE_ID_LIMIT)
    ids = list(session.exec(stmt).all())
    if lesson_id not in ids:
        return QueuePosition(previous_id=None, next_id=ids[0] if ids else None, place=None, total=len(ids))
    at = ids.index(lesson_id)
    return QueuePosition(previous_id=ids[at - 1] if at > 0 else None,
                         next_id=ids[at + 1] if at + 1 < len(ids) else None, place=at + 1, total=len(ids))


def waiting_since(session: Session, lesson_id: str) -> datetime | None:
    """When the lesson entered its review state (as the queue counts it)."""
    found: datetime | None = session.exec(select(_waiting_since()).where(col(Lesson.id) == lesson_id)).first()
    return found


def count_by_review_state(session: Session, *, filters: QueueFilters | None = None) -> dict[str, int]:
    """How many lessons each review state holds (every state present, zeros included), within the filters other
    than the state."""
    stmt = select(Lesson.review_state, func.count()).where(col(Lesson.review_state).is_not(None))
    if filters is not None:
        stmt = _narrowed(stmt, filters, with_state=False)
    counts = {state.value: 0 for state in ReviewState}
    for state, count in session.exec(stmt.group_by(col(Lesson.review_state))).all():
        if state is not None:
            counts[state] = int(count)
    return counts
