"""The broadcast page (党课大家听) in headless Chromium on a phone (360x740), without logging in: today's programme
with a working player per lesson (the MP3 loads and knows its length), the playlist link and the next seven days,
nothing wider than the screen, and the same page with JavaScript off (it has none). The lessons' audio editions
are real MP3s made by ffmpeg (tests/api/test_feeds.py). The screenshot goes to test-artifacts/web/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from catalog.models import utcnow
from tests.api.test_feeds import OnAirMedia, make_on_air_lesson, on_air_media
from tests.support.accounts import import_county
from tests.support.live import ApiProcess, start_api_process

__all__ = ["on_air_media"]  # the fixture, from the feeds' tests

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    import_county(settings)
    return settings


@pytest.fixture
def api(settings: Any, tmp_path: Path) -> Iterator[ApiProcess]:
    process = start_api_process(settings, log_path=tmp_path / "api.log")
    try:
        yield process
    finally:
        process.kill()


def _wait_until(page: Any, ready: Any, timeout_s: float = 15, what: str = "") -> None:
    """Poll from Python: the pages' Content-Security-Policy forbids the eval behind page.wait_for_function."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def test_a_phone_shows_todays_programme_with_players_and_the_week(
        settings: Any, api: ApiProcess, browser: Any, on_air_media: OnAirMedia) -> None:
    titles = ["渔港夜校：出海安全要记牢，救生衣一定要穿好", "合作社带富路", "红色课堂：古田会议"]
    for n, title in enumerate(titles):
        make_on_air_lesson(settings, on_air_media, title, audio=n, featured=n == 2, branch="渔港社区党支部",
                           published_at=utcnow() - timedelta(days=2 + n))
    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    assert page.goto(api.server.url + "/broadcast").status == 200
    items = page.query_selector_all("#today-programme li.result")
    assert [(i.text_content() or "") for i in items] and len(items) == 3
    first = items[0].text_content() or ""
    assert "古田会议" in first and "新课" in first  # new lessons oldest first: none waits forever
    assert page.is_visible("#today-m3u") and len(page.query_selector_all("#week-programme > li")) == 7
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    page.evaluate("() => { var a = document.querySelector('#today-programme audio'); a.preload = 'metadata'; "
                  "a.load(); }")
    _wait_until(page, lambda: page.evaluate("() => document.querySelector('#today-programme audio').readyState") >= 1,
                what="the first lesson's MP3")
    duration = page.evaluate("() => document.querySelector('#today-programme audio').duration")
    assert abs(duration - on_air_media.durations[on_air_media.audio[2]]) < 0.5
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "broadcast-360x740.png"), full_page=True)
    context.close()

    plain = browser.new_context(viewport=PHONE, locale="zh-CN", java_script_enabled=False)
    page = plain.new_page()
    assert page.goto(api.server.url + "/broadcast").status == 200
    assert len(page.query_selector_all("#today-programme audio[controls]")) == 3
    plain.close()
