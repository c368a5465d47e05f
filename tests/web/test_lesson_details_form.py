"""The desk's 课程信息 form in headless Chromium (1366x768): a reviewer retitles a lesson, describes it, adds its
speaker to the lecturer pool and a new series on the spot, numbers the episode and tags it, and saves; a taken
episode number is refused in Chinese. Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import Lesson, LessonStatus, ReviewState, Series, Speaker
from catalog.organisations import branch_for_name
from catalog.tags import tags_of
from ingest import keys
from tests.support.accounts import PASSWORD, make_account
from tests.support.live import ApiProcess, start_api_process

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"


@pytest.fixture
def desk_settings(tmp_path: Path) -> Any:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    make_account(settings, "wang", "reviewer")
    make_account(settings, "dongfeng", "uploader", "东风村党支部")
    return settings


@pytest.fixture
def api(desk_settings: Any, tmp_path: Path) -> Iterator[ApiProcess]:
    process = start_api_process(desk_settings, log_path=tmp_path / "api.log")
    try:
        yield process
    finally:
        process.kill()


def _lesson(settings: Any, title: str, *, speaker: str | None = None) -> str:
    from workers.wiring import context_for

    with unit_of_work(context_for(settings).engine) as session:
        digest = os.urandom(32).hex()
        lesson = create_lesson(session, fields=LessonFields(title=title, speaker=speaker),
                               original_key=keys.original(digest), original_sha256=digest, size_bytes=1000, original_filename=None,
                               branch_id=branch_for_name(session, "东风村党支部").id)
        lesson.status, lesson.progress, lesson.review_state = LessonStatus.READY, 100, ReviewState.AWAITING_REVIEW
        lesson.media_kind, lesson.duration_s = "video", 8.0
        session.add(lesson)
        return lesson.id


def _wait_for_text(page: Any, selector: str, wanted: str, timeout_s: float = 15) -> str:
    """Poll from Python: the pages' Content-Security-Policy forbids the eval behind page.wait_for_function."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = page.text_content(selector) or ""
        if wanted in text:
            return text
        assert time.monotonic() < deadline, f"{selector} says {text!r}, not {wanted!r}"
        page.wait_for_timeout(100)


def test_a_reviewer_fills_in_a_lessons_details_at_the_desk(desk_settings: Any, api: ApiProcess,
                                                           browser: Any) -> None:
    from workers.wiring import context_for

    base = api.server.url
    lesson_id = _lesson(desk_settings, "手机录的党课", speaker="李书记")
    other = _lesson(desk_settings, "第一讲")
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/review/{lesson_id}")
    page.wait_for_selector("#login-submit")
    page.fill("#username", "wang")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#details-form")

    page.fill("#details-title", "田间地头讲党课")
    page.fill("#details-description", "在稻田边讲合作社怎么带动增收。")
    page.click("#details-new-speaker")
    assert page.input_value("#new-speaker-name") == "李书记"  # offered from what the branch typed
    page.fill("#new-speaker-title", "东风村党支部书记")
    page.click("#new-speaker-save")
    _wait_for_text(page, "#details-status", "已添加")
    page.click("#details-new-series")
    page.fill("#new-series-title", "乡村振兴微党课")
    page.press("#new-series-title", "Enter")  # adds the series, does not save the form
    _wait_for_text(page, "#details-status", "已添加")
    assert page.is_hidden("#new-series")
    page.fill("#details-episode", "2")
    page.fill("#details-tags", "乡村振兴，合作社、 增收 ")
    page.click("#details-save")
    _wait_for_text(page, "#details-status", "已保存")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "desk-lesson-details.png"), full_page=True)

    with unit_of_work(context_for(desk_settings).engine) as session:
        lesson = session.get(Lesson, lesson_id)
        assert lesson is not None and lesson.speaker_id is not None and lesson.series_id is not None
        speaker, series = session.get(Speaker, lesson.speaker_id), session.get(Series, lesson.series_id)
        assert speaker is not None and series is not None
        assert (lesson.title, lesson.description, lesson.episode) == ("田间地头讲党课", "在稻田边讲合作社怎么带动增收。", 2)
        assert (speaker.name, speaker.title, lesson.speaker) == ("李书记", "东风村党支部书记", "李书记")
        assert series.title == "乡村振兴微党课"
        assert tags_of(session, lesson_id) == sorted(["乡村振兴", "合作社", "增收"])
        series_id = series.id

    # Episode 2 is taken: the other lesson is told so, in Chinese, and keeps its details.
    page.goto(f"{base}/review/{other}")
    page.wait_for_selector("#details-form")
    page.select_option("#details-series", str(series_id))
    page.fill("#details-episode", "2")
    page.click("#details-save")
    _wait_for_text(page, "#details-error", "第 2 集已经是《田间地头讲党课》")
    with unit_of_work(context_for(desk_settings).engine) as session:
        assert session.get(Lesson, other).series_id is None  # type: ignore[union-attr]
    assert not errors, errors
    context.close()
