"""The audio packs' pages (党课随身听) in headless Chromium: the list and a pack's page on a phone (360x740) and a desk
PC, nothing wider than the screen and the download button with its size in view; a pack being built whose progress
bar follows the build (packs.js polling the JSON API) and turns into the download button when it is done; the form
made on a phone, lessons ticked in an order the pack keeps. No console errors and no Content-Security-Policy
violations anywhere. The API runs in its own process; builds run in the test process (workers.packs.build_version,
the task's body), sharing its SQLite database. Screenshots go to the test's tmp dir."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from catalog import packs as catalog_packs
from catalog.db import unit_of_work
from catalog.models import Lesson
from tests.api.test_pack_pages import build, make_pack, newest
from tests.support.accounts import PASSWORD, import_county, make_account
from tests.support.live import ApiProcess, start_api_process
from tests.support.packs import published_audio_lesson
from workers.settings import Settings
from workers.wiring import context_for, worker_name

PHONE = {"width": 360, "height": 740}
DESK = {"width": 1280, "height": 800}
TITLES = ["渔港夜校：出海安全要记牢，救生衣一定要穿好，遇到大风大浪及时回港避风", "秸秆还田的好处", "红色课堂：古田会议"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    import_county(settings)
    return settings  # type: ignore[no-any-return]


@pytest.fixture
def api(settings: Settings, tmp_path: Path) -> Iterator[ApiProcess]:
    process = start_api_process(settings, log_path=tmp_path / "api.log")
    try:
        yield process
    finally:
        process.kill()


def _wait_until(page: Any, ready: Any, timeout_s: float = 15, what: str = "") -> None:
    """Poll from Python: the pages' Content-Security-Policy forbids the eval behind page.wait_for_function. A
    question asked while the page reloads (packs.js reloads it when a build ends) is asked again."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ready():
                return
        except PlaywrightError as exc:
            if "context was destroyed" not in str(exc) and "navigat" not in str(exc):
                raise
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def _watched(context: Any) -> tuple[Any, list[str]]:
    """A page whose console errors (CSP violations among them), uncaught exceptions and failed requests are
    collected; the browser's own /favicon.ico (the site has none) excepted."""
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text else None)
    page.on("response", lambda response: problems.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems


def _fits(page: Any, width: int) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width


def _set_progress(settings: Settings, version_id: int, percent: int) -> None:
    """What a worker reports while it builds (this process owns the build's lease)."""
    with unit_of_work(context_for(settings).engine) as s:
        assert catalog_packs.record_build_progress(s, version_id, owner=worker_name(), progress=percent,
                                                   lease_s=600)


def test_the_list_and_a_packs_page_on_a_phone_and_a_desk_pc(
        settings: Settings, api: ApiProcess, browser: Any, audio_edition_mp3: Path, tmp_path: Path) -> None:
    ids = [published_audio_lesson(settings, t, audio_edition_mp3, speaker="王建国") for t in TITLES]
    doomed = published_audio_lesson(settings, "会被删掉的课", audio_edition_mp3)
    failed = make_pack(settings, "会失败的包", [doomed])
    with unit_of_work(context_for(settings).engine) as s:
        s.delete(s.get(Lesson, doomed))
    build(settings, failed)
    ready = make_pack(settings, "2026年第3季度 党课随身听", ids, audience="老年党员")
    built = build(settings, ready)
    building = make_pack(settings, "海上党支部 渔船随身听（出海前请在港口下载好）", ids[1:], audience="海上党支部")
    version_id = newest(settings, building).id or 0
    with unit_of_work(context_for(settings).engine) as s:
        catalog_packs.claim_build(s, version_id, owner=worker_name(), lease_s=600)
    _set_progress(settings, version_id, 35)

    for name, viewport in (("360x740", PHONE), ("1280x800", DESK)):
        context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
        page, problems = _watched(context)
        assert page.goto(api.server.url + "/packs").status == 200
        assert len(page.query_selector_all("#packs > li.pack")) == 3
        button = page.query_selector(f"#pack-{ready} a.download")
        assert button is not None and button.is_visible()
        assert "下载（" in (button.text_content() or "") and "MB）" in (button.text_content() or "")
        assert page.evaluate(f"() => document.querySelector('#pack-{building} progress').value") == 35
        assert "生成失败" in (page.text_content(f"#pack-{failed}") or "")
        _fits(page, viewport["width"])
        page.screenshot(path=str(tmp_path / f"packs-{name}.png"), full_page=True)

        assert page.goto(api.server.url + f"/packs/{ready}").status == 200
        assert [li.get_attribute("data-lesson-id") for li in page.query_selector_all("#tracks li")] == ids
        assert page.is_visible("a.download") and page.is_visible("#subscribe") and page.is_visible(".help-box")
        _fits(page, viewport["width"])
        page.screenshot(path=str(tmp_path / f"pack-{name}.png"), full_page=True)
        head = page.request.head(api.server.url + f"/api/v1/packs/{ready}/download")
        assert int(head.headers["content-length"]) == built.size_bytes
        assert problems == []
        context.close()

    # The county's reviewer, on a phone: the nav with every link, and the failed pack's 重新生成 button.
    make_account(settings, "xianli", "reviewer")
    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    page, problems = _watched(context)
    _log_in(page, api, "xianli", f"/packs/{failed}")
    assert "生成失败" in (page.text_content(".pack-state") or "") and page.is_visible("#rebuild button")
    assert page.is_visible("#nav-packs") and page.is_visible("#nav-review")
    _fits(page, PHONE["width"])
    page.screenshot(path=str(tmp_path / "pack-failed-staff-360x740.png"), full_page=True)
    page.click("#rebuild button")  # nothing left to put in it: the page says so
    _wait_until(page, lambda: "现在不能重新生成" in (page.text_content("h1") or ""), what="the refusal")
    assert problems == [f"409 {api.server.url}/packs/{failed}/rebuild"]
    context.close()


def _log_in(page: Any, api: ApiProcess, username: str, target: str) -> None:
    page.goto(api.server.url + "/login?next=" + target)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    # The login page's own URL (/login?next=TARGET) ends with the target too: wait until it is left.
    _wait_until(page, lambda: urlsplit(page.url).path != "/login" and page.url.endswith(target),
                what=f"{target} after logging in")
    page.wait_for_load_state()


def test_the_progress_bar_follows_the_build_and_turns_into_the_download_button(
        settings: Settings, api: ApiProcess, browser: Any, audio_edition_mp3: Path, tmp_path: Path) -> None:
    ids = [published_audio_lesson(settings, t, audio_edition_mp3) for t in TITLES]
    pack_id = make_pack(settings, "正在生成的包", ids)
    version_id = newest(settings, pack_id).id or 0
    with unit_of_work(context_for(settings).engine) as s:
        catalog_packs.claim_build(s, version_id, owner=worker_name(), lease_s=600)

    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    page, problems = _watched(context)
    assert page.goto(api.server.url + f"/packs/{pack_id}").status == 200
    assert page.is_visible("progress") and not page.query_selector("a.download")

    def shown() -> tuple[int, str]:
        return (page.evaluate("() => document.querySelector('progress').value"),
                page.text_content("[data-pack-percent]") or "")

    for percent in (30, 70):
        _set_progress(settings, version_id, percent)
        _wait_until(page, lambda p=percent: shown() == (p, str(p)), what=f"the bar at {percent}%")  # type: ignore[misc]
    page.screenshot(path=str(tmp_path / "pack-building-360x740.png"), full_page=True)

    build(settings, pack_id)  # the worker finishes: the page reloads itself with the download button
    _wait_until(page, lambda: page.query_selector("a.download") is not None, what="the download button")
    assert "可下载" in (page.text_content(".pack-state") or "")
    assert page.query_selector("progress") is None
    page.screenshot(path=str(tmp_path / "pack-ready-360x740.png"), full_page=True)
    assert problems == []
    context.close()

    plain = browser.new_context(viewport=PHONE, locale="zh-CN", java_script_enabled=False)
    page = plain.new_page()
    assert page.goto(api.server.url + f"/packs/{pack_id}").status == 200
    assert page.is_visible("a.download") and len(page.query_selector_all("#tracks li")) == 3
    plain.close()


def test_a_pack_is_made_on_a_phone_with_lessons_in_the_order_they_were_ticked(
        settings: Settings, api: ApiProcess, browser: Any, audio_edition_mp3: Path, tmp_path: Path) -> None:
    ids = [published_audio_lesson(settings, t, audio_edition_mp3) for t in TITLES]
    make_account(settings, "zuzhiyuan", "organiser", "东风镇")
    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    page, problems = _watched(context)
    page.goto(api.server.url + "/packs/new")
    assert "/login?next=/packs/new" in page.url  # the form asks who you are first
    _log_in(page, api, "zuzhiyuan", "/packs/new")
    assert page.input_value("#pack-title").endswith("季度 党课随身听")
    assert page.is_checked("input[name=source][value=quarter]")
    assert page.is_disabled("input[name=order][value=manual]")  # 按勾选顺序: only for ticked lessons

    page.fill("#pack-audience", "海上党支部")
    page.fill("#pick-filter", "古田")
    _wait_until(page, lambda: len([li for li in page.query_selector_all("#pick-list li") if li.is_visible()]) == 1,
                what="the filter")
    page.check(f"input[name=lesson_ids][value='{ids[2]}']")
    page.fill("#pick-filter", "")
    page.check(f"input[name=lesson_ids][value='{ids[0]}']")
    assert page.is_checked("input[name=source][value=picked]") and page.is_enabled("input[name=order][value=manual]")
    marks = {i: page.text_content(f"#pick-list li:has(input[value='{i}']) .pick-n") for i in ids}
    assert marks == {ids[2]: "第1节", ids[0]: "第2节", ids[1]: ""}
    page.uncheck("#pack-intros")
    _fits(page, PHONE["width"])
    page.screenshot(path=str(tmp_path / "pack-new-360x740.png"), full_page=True)
    page.click("#pack-submit")
    _wait_until(page, lambda: "/packs/new" not in page.url, what="the new pack's page")
    assert [li.get_attribute("data-lesson-id") for li in page.query_selector_all("#tracks li")] == [ids[2], ids[0]]
    assert "海上党支部" in (page.text_content(".pack-meta") or "") and page.is_visible("progress")
    page.screenshot(path=str(tmp_path / "pack-made-360x740.png"), full_page=True)
    assert problems == []
    context.close()
