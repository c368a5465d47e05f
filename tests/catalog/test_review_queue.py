"""The reviewers' queue (catalog/desk.py) on SQLite and PostgreSQL: longest waiting first, counted from the last
decision or revision, filters, neighbours and counts per state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from catalog.audit import record
from catalog.db import make_engine, unit_of_work
from catalog.desk import QueueFilters, count_by_review_state, queue_position, review_queue
from catalog.lessons import LessonFields, create_lesson
from catalog.migrate import upgrade
from catalog.models import utcnow
from catalog.organisations import OrgRow, find_category, import_organisations, list_organisations


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    url = (f"sqlite:///{tmp_path / 'q.sqlite3'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_database_url"))
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _lesson(session: Any, title: str, *, branch: str, days_ago: float, state: str = "awaiting_review",
            category: str | None = None) -> str:
    branch_id = next(o.id for o in list_organisations(session) if o.name == branch)
    lesson = create_lesson(session, fields=LessonFields(title=title, category=category), original_key="originals/x",
                           original_sha256=f"{abs(hash(title)):064x}"[:64], size_bytes=1, original_filename=None,
                           branch_id=branch_id)
    lesson.created_at = utcnow() - timedelta(days=days_ago)
    lesson.review_state, lesson.status = state, "ready"
    session.add(lesson)
    session.flush()
    return lesson.id


def test_the_queue_puts_the_longest_waiting_first_and_filters(engine: Any) -> None:
    with unit_of_work(engine) as s:
        import_organisations(s, [OrgRow("东风镇", "东风村党支部", "村"), OrgRow("西岭乡", "西岭村党支部", "村")])
        old = _lesson(s, "老课", branch="东风村党支部", days_ago=5, category="skills")
        new = _lesson(s, "新课", branch="西岭村党支部", days_ago=1)
        revised = _lesson(s, "改过的课", branch="东风村党支部", days_ago=9)
        # Sent back 8 days ago, its new file came 2 hours ago: it waits from then, not from its first upload.
        record(s, actor="wang", action="request_revision", lesson_id=revised, from_state="awaiting_review",
               to_state="revision_requested").at = utcnow() - timedelta(days=8)
        record(s, actor="dongfeng", action="revision_uploaded", lesson_id=revised, from_state="r1",
               to_state="r2").at = utcnow() - timedelta(hours=2)
        _lesson(s, "已发布", branch="东风村党支部", days_ago=20, state="published")
        township = next(o.id for o in list_organisations(s) if o.name == "东风镇")
        skills = find_category(s, "skills")
        assert skills is not None
    with unit_of_work(engine) as s:
        entries, total = review_queue(s, filters=QueueFilters())
        assert [e.lesson.title for e in entries] == ["老课", "新课", "改过的课"] and total == 3
        assert entries[0].township == "东风镇" and entries[0].branch == "东风村党支部"
        assert utcnow() - entries[2].waiting_since < timedelta(hours=3)
        in_township, _ = review_queue(s, filters=QueueFilters(township_id=township))
        assert [e.lesson.id for e in in_township] == [old, revised]
        by_category, _ = review_queue(s, filters=QueueFilters(category_id=skills.id))
        assert [e.lesson.id for e in by_category] == [old]
        position = queue_position(s, new, filters=QueueFilters())
        assert (position.previous_id, position.next_id, position.place, position.total) == (old, revised, 2, 3)
        outside = queue_position(s, new, filters=QueueFilters(state="published"))
        assert outside.place is None and outside.next_id is not None
        counts = count_by_review_state(s)
        assert counts == {"awaiting_review": 3, "published": 1, "rejected": 0, "revision_requested": 0,
                          "withdrawn": 0}
        assert count_by_review_state(s, filters=QueueFilters(township_id=township))["awaiting_review"] == 2
