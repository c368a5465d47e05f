"""Popularity without personal data (catalog/popularity.py): a play beacon and followed download links count once a
day per client and lesson, into a counter per lesson per day that holds nothing about who; only published lessons
count; `sort=popular` orders by plays + downloads over the last 30 days, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from sqlmodel import select

from api.app import create_app
from catalog.assets import AssetFacts, list_assets, record_asset
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import AssetKind, LessonDailyCount, LessonStatus, utcnow
from catalog.organisations import branch_for_name
from catalog.popularity import RepeatGuard, count, daily_counts, today_utc
from ingest import keys
from tests.support.accounts import import_county
from workers.settings import Settings
from workers.wiring import context_for


@pytest.fixture
def settings(stack_settings: Settings) -> Settings:
    import_county(stack_settings)
    return stack_settings


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture
def phone(app: Any) -> Iterator[TestClient]:
    with TestClient(app, client=("203.0.113.7", 40001), follow_redirects=False) as c:
        yield c


def make_lesson(settings: Settings, title: str, *, state: str | None = "published", hours_ago: float = 1.0,
                files: bool = False) -> str:
    sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    ctx = context_for(settings)
    with unit_of_work(ctx.engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title=title, category="skills"), original_key=keys.original(sha),
                               original_sha256=sha, size_bytes=10, original_filename="手机录像.mp4",
                               branch_id=branch_for_name(s, "东风村党支部").id)
        lesson.status, lesson.review_state, lesson.media_kind = LessonStatus.READY, state, "audio"
        lesson.created_at = utcnow() - timedelta(hours=hours_ago)
        if files:
            data = f"ID3 audio of {title}".encode()
            stored = ctx.storage.put(keys.lesson_asset(lesson.id, "audio.mp3"), io.BytesIO(data))
            record_asset(s, lesson.id, AssetKind.AUDIO_EDITION, AssetFacts(
                key=stored.key, mime_type="audio/mpeg", size_bytes=stored.size_bytes, sha256=stored.sha256))
            stored = ctx.storage.put(keys.lesson_asset(lesson.id, "poster.jpg"), io.BytesIO(b"\xff\xd8 poster"))
            record_asset(s, lesson.id, AssetKind.POSTER, AssetFacts(
                key=stored.key, mime_type="image/jpeg", size_bytes=stored.size_bytes, sha256=stored.sha256))
        s.add(lesson)
        return lesson.id


def counts(settings: Settings, lesson_id: str) -> list[tuple[date, int, int]]:
    with unit_of_work(context_for(settings).engine) as s:
        return [(row.day, row.plays, row.downloads) for row in daily_counts(s, lesson_id)]


def asset_id(settings: Settings, lesson_id: str, kind: str) -> str:
    with unit_of_work(context_for(settings).engine) as s:
        return next(a.public_id for a in list_assets(s, lesson_id) if a.kind == kind)


def test_a_play_counts_once_per_client_per_day(settings: Settings, app: Any, phone: TestClient) -> None:
    lesson_id = make_lesson(settings, "合作社带富路")
    first = phone.post(f"/api/v1/lessons/{lesson_id}/plays")
    assert first.status_code == 204 and first.content == b""
    assert phone.post(f"/api/v1/lessons/{lesson_id}/plays").status_code == 204  # the same phone again: not counted
    assert counts(settings, lesson_id) == [(today_utc(), 1, 0)]
    with TestClient(app, client=("198.51.100.23", 51234)) as neighbour:  # another client counts
        assert neighbour.post(f"/api/v1/lessons/{lesson_id}/plays").status_code == 204
    assert counts(settings, lesson_id) == [(today_utc(), 2, 0)]


def test_a_followed_download_link_counts_and_playing_the_file_does_not(settings: Settings, app: Any,
                                                                      phone: TestClient) -> None:
    lesson_id = make_lesson(settings, "渔港夜校", files=True)
    audio = asset_id(settings, lesson_id, AssetKind.AUDIO_EDITION)
    poster = asset_id(settings, lesson_id, AssetKind.POSTER)
    served = (200, 307)  # the bytes from the folder store, a presigned URL from S3
    assert phone.get(f"/api/v1/assets/{audio}/content").status_code in served  # the player streaming it
    assert phone.get(f"/api/v1/assets/{poster}/content?download=1").status_code in served  # not a download
    assert counts(settings, lesson_id) == []
    for _ in range(3):  # a download resumed twice is still one download
        assert phone.get(f"/api/v1/assets/{audio}/content?download=1").status_code in served
    assert counts(settings, lesson_id) == [(today_utc(), 0, 1)]
    assert phone.post(f"/api/v1/lessons/{lesson_id}/plays").status_code == 204  # plays are counted on their own
    assert counts(settings, lesson_id) == [(today_utc(), 1, 1)]


def test_unpublished_or_missing_lessons_are_not_counted(settings: Settings, phone: TestClient) -> None:
    missing = phone.post(f"/api/v1/lessons/{uuid.uuid4().hex}/plays")
    assert missing.status_code == 404 and missing.json()["code"] == "lesson_not_found"
    for state in ("awaiting_review", "rejected", "revision_requested", "withdrawn", None):
        lesson_id = make_lesson(settings, f"未公开 {state}", state=state)
        r = phone.post(f"/api/v1/lessons/{lesson_id}/plays")
        assert (r.status_code, r.json()) == (404, missing.json()), state
        assert counts(settings, lesson_id) == []


def test_days_are_counted_apart_and_nothing_personal_is_stored(settings: Settings) -> None:
    lesson_id = make_lesson(settings, "三农政策解读")
    guard = RepeatGuard()
    yesterday, today = today_utc() - timedelta(days=1), today_utc()
    with unit_of_work(context_for(settings).engine) as s:
        assert count(s, lesson_id, "plays", client="192.0.2.1", guard=guard, day=yesterday)
        assert count(s, lesson_id, "plays", client="192.0.2.1", guard=guard, day=today)  # a new day counts again
        assert not count(s, lesson_id, "plays", client="192.0.2.1", guard=guard, day=today)
        assert count(s, lesson_id, "plays", client="192.0.2.2", guard=guard, day=today)
        assert count(s, lesson_id, "downloads", client="192.0.2.1", guard=guard, day=today)
    assert counts(settings, lesson_id) == [(yesterday, 1, 0), (today, 2, 1)]
    columns = {c["name"] for c in inspect(context_for(settings).engine).get_columns("lessondailycount")}
    assert columns == {"lesson_id", "day", "plays", "downloads"}  # no address, no cookie, no hash
    with unit_of_work(context_for(settings).engine) as s:
        rows = [repr(row.model_dump()) for row in s.exec(select(LessonDailyCount)).all()]
    assert not any("192.0.2" in row for row in rows)


def test_the_guard_stops_remembering_at_its_bound_rather_than_forgetting() -> None:
    guard = RepeatGuard(max_remembered=2)
    day = today_utc()
    assert guard.first_time("a", "l", "plays", day=day) and guard.first_time("b", "l", "plays", day=day)
    assert not guard.first_time("c", "l", "plays", day=day)  # full: no more counting today
    assert not guard.first_time("a", "l", "plays", day=day)  # and no repeats either
    assert guard.first_time("a", "l", "plays", day=day + timedelta(days=1))  # a new day, a new key, room again


def test_sort_popular_orders_by_the_last_30_days(settings: Settings, phone: TestClient) -> None:
    quiet = make_lesson(settings, "冷门课", hours_ago=0.1)  # the newest, never played
    loved = make_lesson(settings, "热门课", hours_ago=3)
    once = make_lesson(settings, "播过一次", hours_ago=2)
    old_fame = make_lesson(settings, "过气的课", hours_ago=5)
    guard = RepeatGuard()
    today = today_utc()
    with unit_of_work(context_for(settings).engine) as s:
        for n in range(3):
            count(s, loved, "plays", client=f"10.0.0.{n}", guard=guard, day=today - timedelta(days=n * 10))
        count(s, loved, "downloads", client="10.0.0.9", guard=guard, day=today)
        count(s, once, "plays", client="10.0.0.1", guard=guard, day=today)
        for n in range(9):  # popular once, more than 30 days ago
            count(s, old_fame, "plays", client=f"10.1.0.{n}", guard=guard, day=today - timedelta(days=31 + n))
    mine = {quiet, loved, once, old_fame}

    def ids(sort: str | None) -> list[str]:
        r = phone.get("/api/v1/lessons", params={"limit": 200, **({"sort": sort} if sort else {})})
        assert r.status_code == 200, r.text
        return [item["id"] for item in r.json()["items"] if item["id"] in mine]

    assert ids("popular") == [loved, once, quiet, old_fame]  # 4, 1, then no recent plays: newest first
    assert ids("newest") == ids(None) == [quiet, once, loved, old_fame]
    assert phone.get("/api/v1/lessons", params={"sort": "loudest"}).status_code == 422
    page = phone.get("/categories/skills?sort=popular")
    assert page.status_code == 200
    listed = [chunk.split('"', 1)[0] for chunk in page.text.split('data-lesson-id="')[1:]]
    assert [i for i in listed if i in mine] == [loved, once, quiet, old_fame]
