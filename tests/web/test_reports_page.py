"""The organisers' pages in headless Chromium on a 360x740 phone, on the seeded county of
tests/catalog/test_reports_figures.py: a reviewer's county report for 2026Q1 (a bar per township with its share,
the tables, the idle branches, 七一 coverage), nothing wider than the screen, the Excel download through the
button (read back with openpyxl); an organiser's own township and its weekly reminder; a lesson's stars (ratings
on) sent by a tap under the pages' Content-Security-Policy. Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openpyxl
import pytest
from sqlmodel import select

from catalog.accounts import create_account
from catalog.db import unit_of_work
from catalog.models import Lesson
from tests.catalog.test_reports_figures import County, branch_name, seed_county
from tests.support.accounts import PASSWORD
from tests.support.live import LiveServer, serve_in_thread
from workers.wiring import context_for

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
PHONE = {"width": 360, "height": 740}


@dataclass
class Site:
    server: LiveServer
    county: County
    engine: Any


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The seeded county served on a socket (ratings on), with a reviewer and 东风镇's organiser."""
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var", ratings_enabled=True)
    engine = context_for(settings).engine
    county = seed_county(engine)
    with unit_of_work(engine) as s:
        create_account(s, username="county", role="reviewer", password=PASSWORD, actor="test")
        create_account(s, username="dongfeng", role="organiser", password=PASSWORD, org="东风镇", actor="test")
    with serve_in_thread(settings) as server:
        yield Site(server, county, engine)


def _log_in(page: Any, base: str, username: str, target: str) -> None:
    page.goto(base + target)
    page.wait_for_selector("#login-submit")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    # The click starts the form's navigation without waiting for it: wait until the page has left /login.
    _wait_until(page, lambda: urlsplit(page.url).path != "/login", what=f"{target} after logging in")
    page.wait_for_load_state()


def _wait_until(page: Any, ready: Any, timeout_s: float = 15, what: str = "") -> None:
    """Poll from Python: the pages' Content-Security-Policy forbids the eval behind page.wait_for_function."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def _fits(page: Any) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_reviewer_reads_the_county_report_on_a_phone(site: Site, browser: Any) -> None:
    server = site.server
    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai", accept_downloads=True)
    page = context.new_page()
    _log_in(page, server.url, "county", "/reports?period=2026Q1")
    assert page.url.endswith("/reports?period=2026Q1")
    assert "全县 · 2026年第1季度" in (page.text_content("#report-scope") or "")
    bars = page.query_selector_all("#share-chart g.bar")
    assert [b.get_attribute("data-share") for b in bars] == ["0.5", "1.0", "0.0", "1.0"]
    names = [b.query_selector(".bar-name").text_content() for b in bars]  # type: ignore[union-attr]
    assert names == ["东风镇", "西岭乡", "南湖镇", "未划分乡镇"]
    widths = page.evaluate("() => Array.from(document.querySelectorAll('#share-chart .bar-fill'))"
                           ".map(r => r.getBoundingClientRect().width)")
    track = page.evaluate("() => document.querySelector('#share-chart .bar-track').getBoundingClientRect().width")
    assert len(widths) == 3 and abs(widths[0] - track / 2) < 2 and abs(widths[1] - track) < 2
    assert len(page.query_selector_all("#branch-table tbody tr")) == 31
    assert (page.text_content("#sum-met"), page.text_content("#sum-uploaded")) == ("16", "21")
    assert branch_name(0, 6) in (page.text_content("#idle") or "")
    assert page.text_content("#themed-covered") == "4"
    _fits(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reports-county-360x740.png"), full_page=True)

    with page.expect_download() as info:
        page.click("#download-xlsx")
    download = info.value
    assert download.suggested_filename == "支部报表-2026Q1.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    rows = list(book["支部"].iter_rows(values_only=True))
    assert rows[0][0] == "支部" and len(rows) == 33 and rows[-1][0] == "合计"
    context.close()


def test_an_organiser_sees_their_township_and_the_weekly_reminder(site: Site, browser: Any) -> None:
    server, county = site.server, site.county
    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  java_script_enabled=False)  # the pages have no script of their own
    page = context.new_page()
    _log_in(page, server.url, "dongfeng", "/reports?period=2026Q2")
    assert "东风镇 · 2026年第2季度" in (page.text_content("#report-scope") or "")
    assert page.is_visible("#nav-reports") and not page.query_selector("select[name=township]")
    assert len(page.query_selector_all("#branch-table tbody tr")) == 10 and "西岭" not in page.content()
    _fits(page)
    page.screenshot(path=str(ARTIFACTS / "reports-township-360x740.png"), full_page=True)
    page.click("#to-reminder")
    page.wait_for_selector("textarea.wechat")
    text = page.input_value("textarea.wechat")
    assert text.startswith("【东风镇】截至") and branch_name(0, 0) in text
    _fits(page)
    page.screenshot(path=str(ARTIFACTS / "reminder-360x740.png"), full_page=True)
    assert page.goto(f"{server.url}/reports?township={county.townships[1]}").status == 404
    context.close()


def test_a_member_gives_a_lesson_stars_with_a_tap(site: Site, browser: Any) -> None:
    server = site.server
    with unit_of_work(site.engine) as s:  # 东风一村's first lesson, published in Q1 (the seed's 第0课)
        lesson_id = s.exec(select(Lesson.id).where(Lesson.title == "第0课")).one()
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    _log_in(page, server.url, "dongfeng", f"/login?next=/lessons/{lesson_id}")
    page.wait_for_selector("#rating-form")
    _wait_until(page, lambda: page.text_content("#rating-figure") == "还没有人评分", what="the rating's figures")
    assert not page.is_visible("#rating-submit")  # with JavaScript a tap is enough
    page.click("label[for=star-4]")
    _wait_until(page, lambda: "已评 4 星" in (page.text_content("#rating-status") or ""), what="the rating sent")
    assert page.text_content("#rating-figure") == "平均 4.0 星 · 1 人评分"
    _fits(page)
    page.screenshot(path=str(ARTIFACTS / "lesson-stars-360x740.png"))
    page.reload()
    _wait_until(page, lambda: page.is_checked("#star-4"), what="the member's own stars shown again")
    ranking = page.request.get(f"{server.url}/api/v1/ratings/ranking?period=2026Q1").json()
    assert [(i["lesson_id"], i["average"]) for i in ranking["items"]] == [(lesson_id, 4.0)]
    context.close()
