"""Who may see which lessons, as SQL: catalog/lifecycle.py's `can_see` for lists and searches."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, true
from sqlmodel import col, select

from catalog.lifecycle import SEES_EVERYTHING, Viewer
from catalog.models import Lesson, Organisation, ReviewState, Role

__all__ = ["sees_only_published", "visible_clause"]


def sees_only_published(viewer: Viewer | None) -> bool:
    """True when `visible_clause(viewer)` is "published" and nothing more (the public, members)."""
    if viewer is None:
        return True
    if viewer.role in SEES_EVERYTHING:
        return False
    return viewer.org_id is None or viewer.role not in (Role.UPLOADER, Role.ORGANISER)


def visible_clause(viewer: Viewer) -> Any:
    """SQL for catalog/lifecycle.py's `can_see`, to filter lists and searches (kept in step by
    tests/api/test_permissions.py, which checks every listed lesson against `can_see`)."""
    if viewer.role in SEES_EVERYTHING:
        return true()
    published = col(Lesson.review_state) == ReviewState.PUBLISHED
    if viewer.org_id is None:
        return published
    if viewer.role == Role.UPLOADER:
        return or_(published, col(Lesson.branch_id) == viewer.org_id)
    if viewer.role == Role.ORGANISER:
        branches = select(Organisation.id).where(Organisation.parent_id == viewer.org_id)
        return or_(published, col(Lesson.branch_id).in_(branches))
    return published
