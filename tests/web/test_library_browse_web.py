"""Browsing the public film library in headless Chromium on a phone (360x740), without logging in: the home shows a
series, the series page its episodes in order; a phrase SPOKEN in a lesson (not in its title) typed into the search
page finds it, and the hit opens the lesson with the player at that moment and the sentence lit; the first play
sends the popularity beacon. With JavaScript off, search results, the lesson's title and its transcript are all
still there.

Lessons are made directly in the catalog with real media made by ffmpeg (the fixture of
tests/web/test_library_pages.py). Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from catalog.assets import AssetFacts, record_asset
from catalog.captions import SegmentFacts, create_version
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import (
    AssetKind,
    CaptionSource,
    LessonDailyCount,
    LessonStatus,
    ReviewState,
    Series,
    Speaker,
    utcnow,
)
from catalog.organisations import branch_for_name
from catalog.search import reindex_lesson
from ingest import keys
from tests.support.accounts import import_county
from tests.support.live import ApiProcess, start_api_process
from tests.web.test_library_pages import CLIP_S, FILES, SEGMENTS, clips  # noqa: F401 (clips: a fixture)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
PHONE = {"width": 360, "height": 740}
SPOKEN = "带动了三十多户增收"  # said in SEGMENTS[1] (2.5 s to 5 s), in no title
TITLES = ["田间地头讲党课：合作社带富路", "渔港夜校：出海安全第一课", "银发宣讲团：讲讲老支书的故事"]


@pytest.fixture
def browse_settings(tmp_path: Path) -> Any:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    import_county(settings)
    return settings


@pytest.fixture
def api(browse_settings: Any, tmp_path: Path) -> Iterator[ApiProcess]:
    process = start_api_process(browse_settings, log_path=tmp_path / "api.log")
    try:
        yield process
    finally:
        process.kill()


def _series_of_lessons(settings: Any, clips: dict[str, Path]) -> tuple[int, list[str]]:  # noqa: F811
    """A published three-episode series by one speaker, each lesson with its files and published captions."""
    from workers.wiring import context_for

    ctx = context_for(settings)
    made: list[str] = []
    with unit_of_work(ctx.engine) as session:
        speaker = Speaker(name="王建国", title="县委党校讲师")
        series = Series(title="乡村振兴微党课", description="讲给村里党员听的三堂课。")
        session.add(speaker)
        session.add(series)
        session.flush()
        for episode, title in enumerate(TITLES, start=1):
            digest = os.urandom(32).hex()
            lesson = create_lesson(session, fields=LessonFields(title=title, category="skills", speaker="王建国"),
                                   original_key=keys.original(digest), original_sha256=digest, size_bytes=1000,
                                   original_filename="VID.mp4", branch_id=branch_for_name(session, "东风村党支部").id)
            lesson.status, lesson.progress, lesson.review_state = LessonStatus.READY, 100, ReviewState.PUBLISHED
            lesson.media_kind, lesson.duration_s, lesson.featured = "video", CLIP_S, episode == 1
            lesson.series_id, lesson.episode, lesson.speaker_id = series.id, episode, speaker.id
            lesson.created_at = utcnow() - timedelta(hours=episode)
            lesson.published_at = lesson.created_at
            for kind, label, name, mime, height in FILES:
                path = clips[name]
                stored = ctx.storage.put(keys.lesson_asset(lesson.id, path.name), path, content_type=mime)
                record_asset(session, lesson.id, kind, AssetFacts(
                    key=stored.key, mime_type=mime, size_bytes=stored.size_bytes, sha256=stored.sha256,
                    duration_s=CLIP_S if kind != AssetKind.POSTER else None,
                    width=height * 16 // 9 if height else None, height=height), label=label)
            segments = SEGMENTS if episode == 2 else [(0.0, 4.0, f"这是第{episode}集的开场白。"),
                                                      (4.0, 8.0, "请大家认真听讲。")]
            version = create_version(session, lesson.id, source=CaptionSource.AUTO, language="zh",
                                     engine="faster-whisper", model="small", review_reasons=[],
                                     segments=[SegmentFacts(start_s=s, end_s=e, text=t) for s, e, t in segments])
            lesson.caption_version = version.version
            session.add(lesson)
            session.flush()
            reindex_lesson(session, lesson)
            made.append(lesson.id)
        assert series.id is not None
        return series.id, made


def _context(browser: Any, **extra: Any) -> Any:
    return browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai", **extra)


def _shot(page: Any, name: str, *, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def _wait_until(page: Any, ready: Any, timeout_s: float = 15, what: str = "") -> None:
    """Poll from Python: the pages' Content-Security-Policy forbids the eval behind page.wait_for_function."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def _images_loaded(page: Any) -> bool:
    return bool(page.evaluate(
        "() => Array.prototype.every.call(document.images, function (i) { return i.complete; })"))


def _current_time(page: Any) -> float:
    return float(page.evaluate("() => document.getElementById('player').currentTime"))


def _lit(page: Any) -> list[str]:
    return [(li.text_content() or "").strip() for li in page.query_selector_all("#transcript li.now")]


def _plays(settings: Any, lesson_id: str) -> int:
    from workers.wiring import context_for

    with unit_of_work(context_for(settings).engine) as session:
        rows = session.exec(select(LessonDailyCount).where(LessonDailyCount.lesson_id == lesson_id)).all()
        return sum(row.plays for row in rows)


def test_a_visitor_finds_a_spoken_phrase_and_opens_the_lesson_at_that_moment(
        browse_settings: Any, api: ApiProcess, browser: Any, clips: dict[str, Path]) -> None:  # noqa: F811
    base = api.server.url
    series_id, (first, second, third) = _series_of_lessons(browse_settings, clips)
    context = _context(browser)
    page = context.new_page()

    # The home: 精品, newest, and the series.
    assert page.goto(base + "/").status == 200
    assert page.is_visible(f'#series a[href="/series/{series_id}"]')
    assert "共 3 集" in (page.text_content("#series") or "")
    _wait_until(page, lambda: _images_loaded(page), what="posters")
    _shot(page, "library-home-series-360x740.png", full_page=True)

    # The series page: episodes in order, 第N集 on each.
    page.click(f'#series a[href="/series/{series_id}"]')
    page.wait_for_selector("#series-lessons")
    assert [li.get_attribute("data-lesson-id") for li in page.query_selector_all("#series-lessons li.card")] == [
        first, second, third]
    assert [e.text_content() for e in page.query_selector_all("#series-lessons .episode")] == ["第1集", "第2集", "第3集"]
    _wait_until(page, lambda: _images_loaded(page), what="posters")
    _shot(page, "library-series-360x740.png")

    # Search for what was said (not a title's words) from the search page.
    page.goto(base + "/search")
    page.fill("#search-q", SPOKEN)
    with page.expect_navigation():
        page.click("#search-submit")
    page.wait_for_selector("#search-results")
    results = [li.get_attribute("data-lesson-id") for li in page.query_selector_all("#search-results li.result")]
    assert results == [second]
    hit = page.query_selector(f'#search-results a.hit[href^="/lessons/{second}?t="]')
    assert hit is not None
    assert hit.get_attribute("href") == f"/lessons/{second}?t=2.5"
    assert hit.query_selector("mark") is not None  # the words found, marked in the sentence
    _wait_until(page, lambda: _images_loaded(page), what="posters")
    _shot(page, "library-search-360x740.png")

    # The hit opens the lesson at that moment, the sentence lit.
    with page.expect_navigation():
        hit.click()
    page.wait_for_selector("#transcript")
    start_s = SEGMENTS[1][0]
    _wait_until(page, lambda: abs(_current_time(page) - start_s) <= 1.0, what=f"the player at {start_s} s")
    _wait_until(page, lambda: bool(_lit(page)) and SEGMENTS[1][2] in _lit(page)[0], what="the sentence lit")
    assert page.is_visible(f'#series-nav a[href="/lessons/{first}"]') and page.is_visible(
        f'#series-nav a[href="/lessons/{third}"]')
    assert "第2集 / 共3集" in (page.text_content("#episode-of") or "")
    assert page.get_attribute("#speaker", "href") == f"/speakers/{_speaker_id(browse_settings)}"
    _shot(page, "library-lesson-from-search-360x740.png")
    page.query_selector("#transcript li.now").scroll_into_view_if_needed()
    _shot(page, "library-lesson-transcript-lit-360x740.png")

    # The first play sends the popularity beacon; a second play on the same page does not.
    assert _plays(browse_settings, second) == 0
    page.evaluate("() => document.getElementById('player').play()")
    _wait_until(page, lambda: _plays(browse_settings, second) == 1, what="the play counted")
    page.evaluate("() => { var p = document.getElementById('player'); p.pause(); p.play(); }")
    page.wait_for_timeout(500)
    assert _plays(browse_settings, second) == 1

    # The speaker's page, from the lesson's.
    with page.expect_navigation():
        page.click("#speaker")
    assert "县委党校讲师" in (page.text_content("#speaker-title") or "")
    assert len(page.query_selector_all("#speaker-lessons li.card")) == 3
    _wait_until(page, lambda: _images_loaded(page), what="posters")
    _shot(page, "library-speaker-360x740.png")
    context.close()

    # Without JavaScript: the search page lists the hit, the lesson page its title and transcript.
    plain = _context(browser, java_script_enabled=False)
    page = plain.new_page()
    assert page.goto(f"{base}/search?q={SPOKEN}").status == 200
    assert page.query_selector(f'#search-results a.hit[href="/lessons/{second}?t=2.5"]') is not None
    assert page.goto(f"{base}/lessons/{second}").status == 200
    assert TITLES[1] in (page.text_content("#lesson-title") or "")
    assert [(li.text_content() or "").split(maxsplit=1)[1].strip()
            for li in page.query_selector_all("#transcript li")] == [t for _s, _e, t in SEGMENTS]
    assert page.is_visible(f'#series-nav a[href="/lessons/{third}"]')
    plain.close()


def _speaker_id(settings: Any) -> int:
    from workers.wiring import context_for

    with unit_of_work(context_for(settings).engine) as session:
        speaker = session.exec(select(Speaker).where(Speaker.name == "王建国")).one()
        assert speaker.id is not None
        return speaker.id
