"""Planning the daily broadcast (catalog/broadcast.py): the pure planner's order and fill, then stored programmes
on both databases: no lesson twice within 30 days over 60 days asked in random order, every day within one
lesson of its length, and two first requests for a day at once making one programme."""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from catalog.broadcast import Candidate, Reason, county_today, day_start, plan_programme, programme_for
from catalog.db import unit_of_work
from catalog.models import BroadcastProgramme, utcnow
from tests.api.test_feeds import OnAirMedia, make_on_air_lesson, on_air_media
from tests.support.accounts import import_county
from workers.settings import Settings
from workers.wiring import context_for

__all__ = ["on_air_media"]  # the fixture, from the feeds' tests

DAY = date(2026, 7, 1)


def candidate(name: str, *, days_before: float, duration_s: float = 300, featured: bool = False,
              branch_id: int | None = 1) -> Candidate:
    return Candidate(lesson_id=name, published_at=day_start(DAY) - timedelta(days=days_before), featured=featured,
                     branch_id=branch_id, duration_s=duration_s)


def test_new_lessons_go_first_oldest_first_then_featured_then_the_least_recently_aired() -> None:
    lessons = [candidate("old-a", days_before=200), candidate("old-b", days_before=300),
               candidate("star", days_before=100, featured=True), candidate("new-2", days_before=1),
               candidate("new-1", days_before=5), candidate("republished", days_before=3)]
    # Republished 3 days ago, but aired before: not new. The rest: least recently aired first.
    aired = {"old-b": [DAY - timedelta(days=40)], "republished": [DAY - timedelta(days=35)],
             "old-a": [DAY - timedelta(days=80), DAY - timedelta(days=200)]}
    plan = plan_programme(lessons, day=DAY, target_s=1800, aired=aired)
    assert plan == [("new-1", Reason.NEW), ("new-2", Reason.NEW), ("star", Reason.FEATURED),
                    ("old-a", Reason.LIBRARY), ("old-b", Reason.LIBRARY), ("republished", Reason.LIBRARY)]
    # The same rows in another order give the same plan.
    assert plan_programme(list(reversed(lessons)), day=DAY, target_s=1800, aired=aired) == plan


def test_lessons_aired_within_29_days_either_side_or_published_on_the_day_are_left_out() -> None:
    lessons = [candidate("before", days_before=100), candidate("after", days_before=100),
               candidate("long-ago", days_before=100), candidate("today", days_before=-0.5),
               candidate("silent", days_before=100, duration_s=0)]
    aired = {"before": [DAY - timedelta(days=29)], "after": [DAY + timedelta(days=29)],
             "long-ago": [DAY - timedelta(days=30), DAY + timedelta(days=30)]}
    assert plan_programme(lessons, day=DAY, target_s=1200, aired=aired) == [("long-ago", Reason.LIBRARY)]


def _ids(lessons: list[Candidate], target_s: float = 1200) -> list[str]:
    return [lesson_id for lesson_id, _ in plan_programme(lessons, day=DAY, target_s=target_s, aired={})]


def test_the_fill_ends_within_one_lesson_of_the_target() -> None:
    lessons = [candidate(f"l{n}", days_before=100 + n, duration_s=d) for n, d in enumerate((500, 500, 900, 150))]
    # Oldest first: l3 (150 s) and l2 (900 s) fit; l1 would overshoot by 350 s, more than the 150 s still missing.
    assert _ids(lessons) == ["l3", "l2"]
    # One that overshoots by less than what is missing closes the programme; nothing comes after it.
    closing = [candidate("a", days_before=100, duration_s=1000), candidate("b", days_before=99, duration_s=350),
               candidate("c", days_before=98, duration_s=100)]
    assert _ids(closing) == ["a", "b"]
    # By as much as is missing: it waits, and a shorter one behind it fits.
    assert _ids([candidate("a", days_before=100, duration_s=1000), candidate("b", days_before=99, duration_s=400),
                 candidate("c", days_before=98, duration_s=150)]) == ["a", "c"]
    # An hour-long lesson never fills a 20-minute slot.
    assert _ids([candidate("long", days_before=100, duration_s=3600)]) == []


def test_a_townships_own_new_lessons_go_before_the_rest_of_the_county() -> None:
    lessons = [candidate("county-new", days_before=5, branch_id=9), candidate("own-new", days_before=1, branch_id=3)]
    plan = plan_programme(lessons, day=DAY, target_s=1200, aired={}, own_branches={3, 4})
    assert plan == [("own-new", Reason.NEW), ("county-new", Reason.NEW)]


# --- stored programmes, on both databases --------------------------------------------------------------------------


@pytest.fixture
def settings(stack_settings: Settings) -> Settings:
    import_county(stack_settings)
    return stack_settings


def test_no_lesson_repeats_within_30_days_over_60_days_asked_in_random_order(
        settings: Settings, on_air_media: OnAirMedia) -> None:
    """About two lessons a day (a 10-s programme of 4-7 s lessons); 130 lessons, enough that out-of-order planning
    never runs dry (a lesson blocks 59 days around the day it airs)."""
    target_s = 10
    for n in range(130):
        make_on_air_lesson(settings, on_air_media, f"课 {n}", audio=n % 4, featured=n % 7 == 0,
                           published_at=utcnow() - timedelta(days=200 + n))
    first = county_today() + timedelta(days=1)
    days = [first + timedelta(days=n) for n in range(60)]
    random.Random(16).shuffle(days)
    engine = context_for(settings).engine
    plans: dict[date, list[str]] = {}
    for day in days:
        with unit_of_work(engine) as s:
            programme = programme_for(s, day, target_s=target_s)
            durations = [slot.on_air.duration_s for slot in programme.slots]
            assert durations and abs(programme.duration_s - target_s) <= max(durations), (day, durations)
            plans[day] = [slot.on_air.lesson.id for slot in programme.slots]
    aired: dict[str, list[date]] = {}
    for day, ids in plans.items():
        assert len(set(ids)) == len(ids)
        for lesson_id in ids:
            aired.setdefault(lesson_id, []).append(day)
    for lesson_id, when in aired.items():
        when.sort()
        assert all((b - a).days >= 30 for a, b in zip(when, when[1:], strict=False)), (lesson_id, when)
    # Asked again, in another order: the same 60 programmes.
    with unit_of_work(engine) as s:
        for day in sorted(days):
            assert [slot.on_air.lesson.id for slot in programme_for(s, day, target_s=99).slots] == plans[day]


@pytest.mark.parametrize("lock", ["held", "skipped"])
def test_two_first_requests_for_a_day_make_one_programme(settings: Settings, on_air_media: OnAirMedia, lock: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """With the planning lock, and without it (the unique constraint then settles it: the loser reads)."""
    if lock == "skipped":
        monkeypatch.setattr("catalog.broadcast._hold_scope", lambda session, scope: None)
    for n in range(12):
        make_on_air_lesson(settings, on_air_media, f"课 {n}", audio=n % 4, published_at=utcnow() - timedelta(days=n))
    engine = context_for(settings).engine
    day = county_today() + timedelta(days=1)
    start = threading.Barrier(4)
    answers: list[list[str]] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            start.wait()
            with unit_of_work(engine) as s:
                answers.append([slot.on_air.lesson.id for slot in programme_for(s, day, target_s=20).slots])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(answers) == 4 and answers[0] and all(a == answers[0] for a in answers)
    with unit_of_work(engine) as s:
        count = s.exec(select(func.count()).select_from(BroadcastProgramme)
                       .where(BroadcastProgramme.day == day)).one()
    assert count == 1


def test_the_county_day_begins_at_midnight_china_time() -> None:
    assert county_today(datetime(2026, 6, 30, 16, 30, tzinfo=UTC)) == date(2026, 7, 1)
    assert county_today(datetime(2026, 6, 30, 15, 59, tzinfo=UTC)) == date(2026, 6, 30)
    assert day_start(DAY).astimezone(UTC) == datetime(2026, 6, 30, 16, 0, tzinfo=UTC)
