"""Series: an ordered set of episodes (a 15-episode audio series, 党史故事 in twelve parts). A lesson joins one with
`Lesson.series_id` and `Lesson.episode` (catalog/lesson_details.py keeps episode numbers unique within a series).

Reviewers and administrators create and change them, each change with an audit row; a new title goes into the
search documents of the series' lessons in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from catalog.audit import record
from catalog.errors import Forbidden, InvalidDetails, SeriesNotFound
from catalog.fields import Change, describe_changes, free_text, one_line
from catalog.lifecycle import Viewer, may_manage_library
from catalog.models import Lesson, ReviewState, Series, utcnow
from catalog.search import reindex_lesson

MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 5000
EDITABLE = ("title", "description")


def _require_manager(viewer: Viewer) -> str:
    if not may_manage_library(viewer) or viewer.username is None:
        raise Forbidden(f"{viewer.username} ({viewer.role}) may not manage series",
                        message="只有县审核员和管理员可以管理系列")
    return viewer.username


def _subject(series: Series) -> str:
    return f"series:{series.id} {series.title}"[:200]


def get_series(session: Session, series_id: int) -> Series:
    series = session.get(Series, series_id)
    if series is None:
        raise SeriesNotFound(f"series {series_id}")
    return series


def list_series(session: Session, *, offset: int = 0, limit: int = 50) -> tuple[list[Series], int]:
    """Series, newest first, a page of them, and how many there are."""
    total = session.exec(select(func.count()).select_from(Series)).one()
    page = session.exec(select(Series).order_by(col(Series.created_at).desc(), col(Series.id).desc())
                        .offset(offset).limit(limit)).all()
    return list(page), int(total)


def episode_counts(session: Session, series_ids: list[int]) -> dict[int, int]:
    """Published episodes per series."""
    if not series_ids:
        return {}
    rows = session.exec(
        select(Lesson.series_id, func.count(col(Lesson.id)))
        .where(col(Lesson.series_id).in_(series_ids), col(Lesson.review_state) == ReviewState.PUBLISHED)
        .group_by(col(Lesson.series_id))
    ).all()
    return {int(series_id): int(count) for series_id, count in rows if series_id is not None}


def published_episodes(session: Session, series_id: int) -> list[Lesson]:
    """The series' published lessons in order: by episode number, those without one last (oldest first)."""
    return list(session.exec(
        select(Lesson).where(Lesson.series_id == series_id, col(Lesson.review_state) == ReviewState.PUBLISHED)
        .order_by(col(Lesson.episode).is_(None), col(Lesson.episode), col(Lesson.created_at), col(Lesson.id))
    ).all())


def _cleaned(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidDetails(f"unknown series fields {sorted(unknown)}")
    cleaned: dict[str, Any] = {}
    if "title" in changes:
        cleaned["title"] = one_line(changes["title"], max_chars=MAX_TITLE_CHARS, what="系列名称")
    if "description" in changes:
        cleaned["description"] = free_text(changes["description"], max_chars=MAX_DESCRIPTION_CHARS, what="系列简介")
    return cleaned


def create_series(session: Session, viewer: Viewer, *, title: str, description: str | None = None) -> Series:
    actor = _require_manager(viewer)
    series = Series(**_cleaned({"title": title, "description": description}))
    session.add(series)
    session.flush()
    record(session, actor=actor, action="series_create", subject=_subject(series),
           comment=describe_changes({k: (None, getattr(series, k)) for k in EDITABLE if getattr(series, k)}))
    return series


def update_series(session: Session, series: Series, viewer: Viewer, *, changes: Mapping[str, Any]) -> Series:
    """Change the given fields (title, description); no audit row when nothing changes."""
    actor = _require_manager(viewer)
    diff: dict[str, Change] = {}
    for field, value in _cleaned(changes).items():
        if getattr(series, field) != value:
            diff[field] = (getattr(series, field), value)
            setattr(series, field, value)
    if not diff:
        return series
    series.updated_at = utcnow()
    session.add(series)
    session.flush()
    if "title" in diff:  # every lesson has a search document (reviewers search unpublished ones too)
        for lesson in session.exec(select(Lesson).where(Lesson.series_id == series.id)).all():
            reindex_lesson(session, lesson)
    record(session, actor=actor, action="series_update", subject=_subject(series), comment=describe_changes(diff))
    return series
