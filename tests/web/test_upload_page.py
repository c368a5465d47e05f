"""The branch upload page in headless Chromium at phone size: uploads survive a cut connection, going offline
and a page reload; 我的上传 shows the lesson. Screenshots at 360x740 go to test-artifacts/web/."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from catalog.db import unit_of_work
from catalog.models import Upload
from tests.support.live import ApiProcess, start_api_process
from tests.support.proxy import CuttableProxy
from tests.support.services import missing

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 360, "height": 740}
FILE_BYTES = 14 << 20  # three tus chunks of 5 MiB
SLOW_BYTES_S = 2.5e6  # a village uplink, so the test can cut the line mid-upload


@pytest.fixture
def page_settings(tmp_path: Path) -> Any:
    from tests.support.stacks import build_embedded

    return build_embedded(tmp_path / "var", upload_lock_s=3.0)


@pytest.fixture
def api(page_settings: Any, tmp_path: Path) -> Iterator[ApiProcess]:
    process = start_api_process(page_settings, log_path=tmp_path / "api.log")
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def proxy(api: ApiProcess) -> Iterator[CuttableProxy]:
    line = CuttableProxy(api.server.port, upload_bytes_s=SLOW_BYTES_S)
    line.start()
    try:
        yield line
    finally:
        line.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        missing("chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="zh-CN")
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "村里的党课.mp4"
    path.write_bytes(os.urandom(FILE_BYTES))
    return path


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=False)


def _uploads(settings: Any) -> list[Upload]:
    from workers.wiring import context_for

    with unit_of_work(context_for(settings).engine) as session:
        return list(session.exec(select(Upload)).all())


def _stored_sha256(settings: Any, digest: str) -> str:
    from ingest import keys
    from workers.wiring import context_for

    with context_for(settings).storage.open(keys.original(digest)) as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _fill_and_start(page: Any, video: Path) -> None:
    page.set_input_files("#file-pick", str(video))
    page.fill("#title", "田间地头讲党课")
    page.select_option("#category", "skills")
    page.fill("#branch", "东风村党支部")
    page.fill("#speaker", "李书记")
    page.check("input[name=language][value=yue]")
    page.click("#start")


def _percent(page: Any) -> int:
    return int(re.sub(r"\D", "", page.text_content("#percent") or "0") or 0)


def _wait_percent(page: Any, at_least: int, timeout_s: float = 60) -> None:
    page.wait_for_function(f"parseInt(document.getElementById('percent').textContent) >= {at_least}",
                           timeout=timeout_s * 1000)


def _wait_done(page: Any, timeout_s: float = 90) -> str:
    page.wait_for_selector("#done-box:not([hidden])", timeout=timeout_s * 1000)
    return page.get_attribute("#done-box", "data-lesson-id") or ""


def test_upload_cut_mid_way_completes_when_the_line_returns(page_settings: Any, proxy: CuttableProxy,
                                                            phone: Any, video: Path) -> None:
    page = phone.new_page()
    page.goto(proxy.url + "/upload")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.get_attribute("#file-pick", "accept") == "video/*,audio/*"
    assert page.get_attribute("#file-video", "capture") is not None
    _shot(page, "upload-form-360x740.png")
    _fill_and_start(page, video)
    _wait_percent(page, 25)
    _shot(page, "upload-progress-360x740.png")
    proxy.stop()  # the signal drops
    page.wait_for_function("document.getElementById('state').className.indexOf('waiting') >= 0", timeout=30000)
    _shot(page, "upload-waiting-360x740.png")
    assert 25 <= _percent(page) < 100
    proxy.start()  # it comes back
    lesson_id = _wait_done(page)
    _shot(page, "upload-done-360x740.png")
    uploads = _uploads(page_settings)
    assert len(uploads) == 1 and uploads[0].state == "complete" and uploads[0].lesson_id == lesson_id
    digest = hashlib.sha256(video.read_bytes()).hexdigest()
    assert _stored_sha256(page_settings, digest) == digest

    page.goto(proxy.url + "/my-uploads")
    item = page.wait_for_selector(f"li[data-lesson-id='{lesson_id}'] .status.queued", timeout=15000)
    assert "排队" in (item.text_content() or "")
    assert "审核" in (page.text_content(f"li[data-lesson-id='{lesson_id}'] .review") or "")
    _shot(page, "my-uploads-360x740.png")


def test_upload_pauses_offline_and_resumes_by_itself_online(page_settings: Any, proxy: CuttableProxy,
                                                            phone: Any, video: Path) -> None:
    page = phone.new_page()
    page.goto(proxy.url + "/upload")
    _fill_and_start(page, video)
    _wait_percent(page, 20)
    phone.set_offline(True)
    page.wait_for_function("document.getElementById('state').textContent.indexOf('网络已断开') >= 0",
                           timeout=30000)
    phone.set_offline(False)  # the 'online' event resumes the upload without a tap
    _wait_done(page)
    assert [u.state for u in _uploads(page_settings)] == ["complete"]


def test_upload_resumes_after_the_page_is_reloaded(page_settings: Any, proxy: CuttableProxy, phone: Any,
                                                    video: Path) -> None:
    page = phone.new_page()
    page.goto(proxy.url + "/upload")
    _fill_and_start(page, video)
    _wait_percent(page, 40)
    page.reload()  # the phone's browser was closed and opened again
    page.wait_for_selector("#resume-banner:not([hidden])", timeout=10000)
    assert "没有传完" in (page.text_content("#resume-banner") or "")
    assert page.input_value("#title") == "田间地头讲党课"  # the form came back too
    page.set_input_files("#file-pick", str(video))
    page.click("#start")
    page.wait_for_function("document.getElementById('state').textContent.indexOf('断点') >= 0 || "
                           "!document.getElementById('done-box').hidden", timeout=15000)
    _wait_done(page)
    uploads = _uploads(page_settings)
    assert len(uploads) == 1 and uploads[0].state == "complete"  # resumed, not uploaded again



def test_the_page_asks_for_the_upload_token_when_one_is_set(tmp_path: Path, phone: Any) -> None:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "guarded", upload_token="village-2026")
    api = start_api_process(settings, log_path=tmp_path / "guarded-api.log")
    try:
        clip = tmp_path / "短课.m4a"
        clip.write_bytes(os.urandom(300_000))
        page = phone.new_page()
        page.goto(api.server.url + "/upload")
        page.set_input_files("#file-pick", str(clip))
        page.fill("#title", "口令测试")
        page.fill("#token", "wrong")
        page.click("#start")
        page.wait_for_selector("#form-error:not([hidden])", timeout=15000)
        assert "口令" in (page.text_content("#form-error") or "")
        assert _uploads(settings) == []
        page.fill("#token", "village-2026")
        page.click("#start")
        assert _wait_done(page, timeout_s=30)
        assert [u.state for u in _uploads(settings)] == ["complete"]
    finally:
        api.kill()
