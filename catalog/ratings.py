"""Members' star ratings for the "top ten lessons" contests (十佳党课), optional (WEIKE_RATINGS_ENABLED).

- Who: any logged-in account, one rating (1 to 5 stars) per lesson; rating again replaces the earlier one.
- What: published lessons only (catalog/lifecycle.py's `may_rate`); a rating stays if the lesson is withdrawn
  later, but only published lessons are ranked.
- A lesson's figure: the mean of its ratings (two decimals) and how many there are.
- The ranking of a period (catalog/reports.py's periods, and its rule that a lesson belongs to the period it was
  uploaded in): the published lessons of the period, and of one township if asked, with at least `min_ratings`
  ratings, by mean (highest first), then by number of ratings (more first), then by publication (earlier first);
  lessons with the same mean and number share a rank (1, 2, 2, 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import func
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from catalog.errors import Forbidden, InvalidRating, RatingNotAllowed
from catalog.lessons import lesson_facts
from catalog.lifecycle import Viewer, may_rate
from catalog.models import Lesson, LessonRating, Organisation, ReviewState, utcnow
from catalog.periods import Period

MIN_STARS, MAX_STARS = 1, 5


@dataclass(frozen=True)
class RatingSummary:
    average: float | None  # None: no ratings yet
    count: int


def rate_lesson(session: Session, lesson: Lesson, viewer: Viewer, *, stars: int) -> RatingSummary:
    """Record (or replace) the viewer's stars for the lesson. The caller checked that the viewer sees it."""
    if isinstance(stars, bool) or not isinstance(stars, int) or not MIN_STARS <= stars <= MAX_STARS:
        raise InvalidRating(f"stars {stars!r}")
    allowed = may_rate(viewer, lesson_facts(session, lesson))
    if allowed is None or viewer.account_id is None:
        raise Forbidden(f"{viewer.username} may not rate")
    if not allowed:
        raise RatingNotAllowed(f"lesson {lesson.id} is {lesson.review_state}")
    row = session.get(LessonRating, (lesson.id, viewer.account_id))
    if row is None:
        row = LessonRating(lesson_id=lesson.id, account_id=viewer.account_id, stars=stars)
    else:
        row.stars, row.updated_at = stars, utcnow()
    session.add(row)
    session.flush()
    return rating_summary(session, lesson.id)


def rating_summary(session: Session, lesson_id: str) -> RatingSummary:
    return ratings_by_lesson(session, [lesson_id]).get(lesson_id, RatingSummary(None, 0))


def ratings_by_lesson(session: Session, lesson_ids: Sequence[str]) -> dict[str, RatingSummary]:
    """Several lessons' figures in one query; lessons without ratings are left out."""
    if not lesson_ids:
        return {}
    rows = session.exec(select(LessonRating.lesson_id, func.avg(col(LessonRating.stars)), func.count())
                        .where(col(LessonRating.lesson_id).in_(list(lesson_ids)))
                        .group_by(col(LessonRating.lesson_id))).all()
    return {lesson_id: RatingSummary(round(float(avg), 2), int(n)) for lesson_id, avg, n in rows}


def my_rating(session: Session, lesson_id: str, account_id: int | None) -> int | None:
    if account_id is None:
        return None
    row = session.get(LessonRating, (lesson_id, account_id))
    return row.stars if row is not None else None


@dataclass(frozen=True)
class RankedLesson:
    rank: int
    lesson_id: str
    title: str
    branch: str | None
    average: float
    count: int


def ranking(session: Session, *, period: Period, township_id: int | None = None, limit: int = 10,
            min_ratings: int = 1) -> list[RankedLesson]:
    """The period's best-rated published lessons (see the module's docstring), at most `limit`."""
    average, count = func.avg(col(LessonRating.stars)), func.count()
    stmt = (select_columns(col(Lesson.id), col(Lesson.title), col(Organisation.name), average, count)
            .join(LessonRating, col(LessonRating.lesson_id) == col(Lesson.id))
            .outerjoin(Organisation, col(Organisation.id) == col(Lesson.branch_id))
            .where(col(Lesson.review_state) == ReviewState.PUBLISHED,
                   col(Lesson.created_at) >= period.start.astimezone(UTC),
                   col(Lesson.created_at) < period.end.astimezone(UTC)))
    if township_id is not None:
        stmt = stmt.where(col(Organisation.parent_id) == township_id)
    stmt = (stmt.group_by(col(Lesson.id), col(Lesson.title), col(Organisation.name), col(Lesson.published_at))
            .having(count >= max(1, min_ratings))
            .order_by(average.desc(), count.desc(), col(Lesson.published_at), col(Lesson.id)).limit(limit))
    ranked: list[RankedLesson] = []
    for lesson_id, title, branch, avg, n in session.execute(stmt).all():
        mean = round(float(avg), 2)
        tied = bool(ranked) and (ranked[-1].average, ranked[-1].count) == (mean, int(n))
        ranked.append(RankedLesson(rank=ranked[-1].rank if tied else len(ranked) + 1, lesson_id=lesson_id,
                                   title=title, branch=branch, average=mean, count=int(n)))
    return ranked
