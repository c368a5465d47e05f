"""The public film library (县级片库): published lessons only, whoever asks. These pages are the same for everybody,
so they filter on the review state explicitly rather than on a viewer (see catalog/lessons.py's `visible_clause`
for lists that depend on who asks).

Lists come in three orders (`LessonSort`): newest published first, most popular over the last 30 days
(catalog/popularity.py), and 精品 first; a series also in episode order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import exists, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from catalog.models import (
    Asset,
    AssetKind,
    Category,
    Lesson,
    Organisation,
    OrgKind,
    ReviewState,
    Series,
    Speaker,
)
from catalog.popularity import recent_popularity


class LessonSort(StrEnum):
    NEWEST = "newest"  # published_at, or (never published: an insider's list) created_at, latest first
    POPULAR = "popular"  # plays + downloads over the last 30 days, most first
    FEATURED = "featured"  # 精品 first, then newest
    EPISODE = "episode"  # a series' episode order (series pages only)


def _published() -> Any:
    return col(Lesson.review_state) == ReviewState.PUBLISHED


def audible() -> Any:
    """Published lessons that have an audio edition: what packs, the podcast feeds and the broadcast hold."""
    edition = aliased(Asset)  # not correlated with an Asset the enclosing query joins (catalog/broadcast.py)
    has_edition = exists().where(col(edition.lesson_id) == col(Lesson.id), col(edition.kind) == AssetKind.AUDIO_EDITION)
    return _published() & has_edition


def _newest_first() -> tuple[Any, Any]:
    return func.coalesce(col(Lesson.published_at), col(Lesson.created_at)).desc(), col(Lesson.id)


def lesson_order(sort: str | None, *, today: date | None = None) -> tuple[Any, ...]:
    """ORDER BY clauses for a `LessonSort` value (anything else: newest), ending on the id so pages are stable."""
    if sort == LessonSort.POPULAR:
        return recent_popularity(col(Lesson.id), today=today).desc(), *_newest_first()
    if sort == LessonSort.FEATURED:
        return col(Lesson.featured).desc(), *_newest_first()
    if sort == LessonSort.EPISODE:
        return col(Lesson.episode).is_(None), col(Lesson.episode), *_newest_first()
    return _newest_first()


def featured_lessons(session: Session, *, limit: int = 6) -> list[Lesson]:
    """Published lessons the county marked 精品, newest first."""
    stmt = select(Lesson).where(_published(), col(Lesson.featured).is_(True))
    return list(session.exec(stmt.order_by(*_newest_first()).limit(limit)).all())


def newest_lessons(session: Session, *, limit: int = 12, audible_only: bool = False) -> list[Lesson]:
    """The newest published lessons; with `audible_only`, only those with an audio edition (`audible`)."""
    stmt = select(Lesson).where(audible() if audible_only else _published())
    return list(session.exec(stmt.order_by(*_newest_first()).limit(limit)).all())


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


def _page(session: Session, stmt: Any, sort: str | None, offset: int, limit: int) -> tuple[list[Lesson], int]:
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    page = session.exec(stmt.order_by(*lesson_order(sort)).offset(offset).limit(limit)).all()
    return list(page), int(total)


def category_lessons(session: Session, category_id: int, *, sort: str | None = None, offset: int = 0,
                     limit: int = 20) -> tuple[list[Lesson], int]:
    """A page of the category's published lessons (newest first unless `sort` says otherwise), and how many there
    are in all."""
    return _page(session, select(Lesson).where(_published(), Lesson.category_id == category_id), sort, offset, limit)


@dataclass(frozen=True)
class SeriesCount:
    series: Series
    lessons: int  # published episodes


def series_with_counts(session: Session, *, limit: int = 12) -> list[SeriesCount]:
    """The series that have published episodes, the one published into most recently first."""
    latest = func.max(func.coalesce(col(Lesson.published_at), col(Lesson.created_at)))
    rows = session.exec(
        select(Series, func.count(col(Lesson.id))).join(Lesson, col(Lesson.series_id) == col(Series.id))
        .where(_published()).group_by(col(Series.id)).order_by(latest.desc(), col(Series.id)).limit(limit)
    ).all()
    return [SeriesCount(series=series, lessons=int(n)) for series, n in rows]


def series_lessons(session: Session, series_id: int, *, sort: str | None = LessonSort.EPISODE, offset: int = 0,
                   limit: int = 50) -> tuple[list[Lesson], int]:
    """A page of the series' published episodes, in episode order unless `sort` says otherwise."""
    return _page(session, select(Lesson).where(_published(), Lesson.series_id == series_id), sort, offset, limit)


@dataclass(frozen=True)
class EpisodePlace:
    """Where a lesson stands among its series' published episodes (`number` counts from 1)."""

    series: Series
    number: int
    total: int
    previous: Lesson | None
    next: Lesson | None


def episode_place(session: Session, lesson: Lesson) -> EpisodePlace | None:
    """The lesson's place in its series, among the published episodes in episode order; None outside a series
    (or when the lesson itself is not among them: an insider looking at an unpublished one)."""
    series = session.get(Series, lesson.series_id) if lesson.series_id is not None else None
    if series is None or series.id is None:
        return None
    ids = list(session.exec(select(Lesson.id).where(_published(), Lesson.series_id == series.id)
                            .order_by(*lesson_order(LessonSort.EPISODE))).all())
    if lesson.id not in ids:
        return None
    at = ids.index(lesson.id)
    return EpisodePlace(series=series, number=at + 1, total=len(ids),
                        previous=session.get(Lesson, ids[at - 1]) if at > 0 else None,
                        next=session.get(Lesson, ids[at + 1]) if at + 1 < len(ids) else None)


def speaker_lessons(session: Session, speaker_id: int, *, sort: str | None = None, offset: int = 0,
                    limit: int = 20) -> tuple[list[Lesson], int]:
    return _page(session, select(Lesson).where(_published(), Lesson.speaker_id == speaker_id), sort, offset, limit)


def get_speaker(session: Session, speaker_id: int) -> Speaker | None:
    return session.get(Speaker, speaker_id)


def get_series(session: Session, series_id: int) -> Series | None:
    return session.get(Series, series_id)


def library_org(session: Session, org_id: int) -> Organisation | None:
    """A branch or a township, for its library page; the county (and anything else) has none."""
    org = session.get(Organisation, org_id)
    return org if org is not None and org.kind in (OrgKind.BRANCH, OrgKind.TOWNSHIP) else None


def _org_clause(org: Organisation) -> Any:
    if org.kind == OrgKind.TOWNSHIP:
        return col(Lesson.branch_id).in_(select(Organisation.id).where(Organisation.parent_id == org.id))
    return col(Lesson.branch_id) == org.id


def org_lessons(session: Session, org: Organisation, *, sort: str | None = None, offset: int = 0,
                limit: int = 20) -> tuple[list[Lesson], int]:
    """A page of a branch's published lessons, or of all its branches' for a township."""
    return _page(session, select(Lesson).where(_published(), _org_clause(org)), sort, offset, limit)


@dataclass(frozen=True)
class BranchCount:
    branch: Organisation
    lessons: int  # published lessons


def township_branches(session: Session, township_id: int) -> list[BranchCount]:
    """A township's branches by name, with their published lessons' counts (0 too)."""
    counts = dict(session.exec(
        select(Lesson.branch_id, func.count(col(Lesson.id))).where(_published()).group_by(col(Lesson.branch_id))
    ).all())
    branches = session.exec(select(Organisation).where(Organisation.parent_id == township_id,
                                                       Organisation.kind == OrgKind.BRANCH)
                            .order_by(col(Organisation.name))).all()
    return [BranchCount(branch=b, lessons=int(counts.get(b.id, 0))) for b in branches]


def published_years(session: Session) -> list[int]:
    """The years published lessons were recorded in (or, without a recording date, uploaded in), latest first: the
    search page's year filter, as catalog/search.py's `SearchFilters.year` means it."""
    recorded = select(col(Lesson.recorded_on)).where(_published(), col(Lesson.recorded_on).is_not(None)).distinct()
    uploaded = select(Lesson.created_at).where(_published(), col(Lesson.recorded_on).is_(None))
    years = {d.year for d in session.exec(recorded).all() if d is not None}
    years |= {d.year for d in session.exec(uploaded).all()}
    return sorted(years, reverse=True)
