"""The public film library (县级片库): published lessons only, whoever asks. These pages are the same for everybody,
so they filter on the review state explicitly rather than on a viewer (see catalog/lessons.py's `visible_clause`
for lists that depend on who asks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from catalog.models import Category, Lesson, ReviewState


def _published() -> Any:
    return col(Lesson.review_state) == ReviewState.PUBLISHED


def _newest_first() -> tuple[Any, Any]:
    return col(Lesson.created_at).desc(), col(Lesson.id)


def featured_lessons(session: Session, *, limit: int = 6) -> list[Lesson]:
    """Published lessons the county marked 精品, newest first."""
    stmt = select(Lesson).where(_published(), col(Lesson.featured).is_(True))
    return list(session.exec(stmt.order_by(*_newest_first()).limit(limit)).all())


def newest_lessons(session: Session, *, limit: int = 12) -> list[Lesson]:
    return list(session.exec(select(Lesson).where(_published()).order_by(*_newest_first()).limit(limit)).all())


@dataclass(frozen=True)
class CategoryCount:
    category: Category
    lessons: int  # published lessons in the category


def categories_with_counts(session: Session) -> list[CategoryCount]:
    """Every category in its sort order, with how many published lessons it holds (empty ones too: 0)."""
    counts = dict(session.exec(
        select(Lesson.category_id, func.count(col(Lesson.id))).where(_published()).group_by(col(Lesson.category_id))
    ).all())
    categories = session.exec(select(Category).order_by(col(Category.sort_order), col(Category.id))).all()
    return [CategoryCount(category=c, lessons=int(counts.get(c.id, 0))) for c in categories]


def category_by_slug(session: Session, slug: str) -> Category | None:
    return session.exec(select(Category).where(Category.slug == slug)).first()


def category_lessons(session: Session, category_id: int, *, offset: int = 0, limit: int = 20
                     ) -> tuple[list[Lesson], int]:
    """A page of the category's published lessons, newest first, and how many there are in all."""
    stmt = select(Lesson).where(_published(), Lesson.category_id == category_id)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    page = session.exec(stmt.order_by(*_newest_first()).offset(offset).limit(limit)).all()
    return list(page), int(total)
