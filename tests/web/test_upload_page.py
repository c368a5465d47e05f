"""The branch upload page in headless Chromium at phone size: uploads survive a cut connection, going offline
and a page reload; 我的上传 shows the lesson. Screenshots at 360x740 go to test-artifacts/web/."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from catalog.db import unit_of_work
from catalog.models import Upload
from tests.support.accounts import PASSWORD, make_account
from tests.support.live import ApiProcess, start_api_process
from tests.support.proxy import CuttableProxy

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
PHONE = {"width": 360, "height": 740}
FILE_BYTES = 14 << 20  # three tus chunks of 5 MiB
SLOW_BYTES_S = 2.5e6  # a village uplink, so the test can cut the line mid-upload


@pytest.fixture
def page_settings(tmp_path: Path) -> Any:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var", upload_lock_s=3.0)
    make_account(settings, "dongfeng", "uploader", "东风村党支部")
    return settings


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


def _log_in(page: Any, base: str, *, password: str = PASSWORD, target: str = "/upload") -> None:
    """Open `target` and log in as the uploader of 东风村党支部 on the page it sends us to."""
    page.goto(base + target)
    page.wait_for_selector("#login-submit")
    page.fill("#username", "dongfeng")
    page.fill("#password", password)
    page.click("#login-submit")


def _fill_and_start(page: Any, video: Path) -> None:
    page.set_input_files("#file-pick", str(video))
    # Picking the file fills an empty title from its name; let that happen first, or the change event can land
    # between fill's clearing and its typing and the two titles run together.
    _wait_until(page, lambda: page.input_value("#title") == "村里的党课", what="the title from the file name")
    page.fill("#title", "田间地头讲党课")
    page.select_option("#category", "skills")
    assert page.input_value("#branch") == "东风村党支部"  # an uploader's own branch, not typed
    page.fill("#speaker", "李书记")
    page.check("input[name=language][value=yue]")
    page.click("#start")


def _percent(page: Any) -> int:
    return int(re.sub(r"\D", "", page.text_content("#percent") or "0") or 0)


def _wait_until(page: Any, ready: Any, timeout_s: float = 30, what: str = "") -> None:
    """Poll from Python: the pages' Content-Security-Policy forbids the eval behind page.wait_for_function."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def _wait_percent(page: Any, at_least: int, timeout_s: float = 60) -> None:
    _wait_until(page, lambda: _percent(page) >= at_least, timeout_s, f"{at_least}%")


def _wait_done(page: Any, timeout_s: float = 90) -> str:
    page.wait_for_selector("#done-box:not([hidden])", timeout=timeout_s * 1000)
    return page.get_attribute("#done-box", "data-lesson-id") or ""


def test_upload_cut_mid_way_completes_when_the_line_returns(page_settings: Any, proxy: CuttableProxy,
                                                            phone: Any, video: Path) -> None:
    page = phone.new_page()
    _log_in(page, proxy.url)
    page.wait_for_selector("#upload-form")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.get_attribute("#file-pick", "accept") == "video/*,audio/*"
    assert page.get_attribute("#file-video", "capture") is not None
    _shot(page, "upload-form-360x740.png")
    _fill_and_start(page, video)
    _wait_percent(page, 25)
    _shot(page, "upload-progress-360x740.png")
    proxy.stop()  # the signal drops
    _wait_until(page, lambda: "waiting" in (page.get_attribute("#state", "class") or ""), what="waiting")
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
    _log_in(page, proxy.url)
    _fill_and_start(page, video)
    _wait_percent(page, 20)
    phone.set_offline(True)
    _wait_until(page, lambda: "网络已断开" in (page.text_content("#state") or ""), what="offline notice")
    phone.set_offline(False)  # the 'online' event resumes the upload without a tap
    _wait_done(page)
    assert [u.state for u in _uploads(page_settings)] == ["complete"]


def test_upload_resumes_after_the_page_is_reloaded(page_settings: Any, proxy: CuttableProxy, phone: Any,
                                                    video: Path) -> None:
    page = phone.new_page()
    _log_in(page, proxy.url)
    _fill_and_start(page, video)
    _wait_percent(page, 40)
    page.reload()  # the phone's browser was closed and opened again
    page.wait_for_selector("#resume-banner:not([hidden])", timeout=10000)
    assert "没有传完" in (page.text_content("#resume-banner") or "")
    assert page.input_value("#title") == "田间地头讲党课"  # the form came back too
    page.set_input_files("#file-pick", str(video))
    page.click("#start")
    _wait_until(page, lambda: "断点" in (page.text_content("#state") or "")
                or page.get_attribute("#done-box", "hidden") is None, timeout_s=15, what="resume")
    _wait_done(page)
    uploads = _uploads(page_settings)
    assert len(uploads) == 1 and uploads[0].state == "complete"  # resumed, not uploaded again



def test_the_upload_page_asks_for_a_login_and_logging_out_ends_it(page_settings: Any, api: ApiProcess,
                                                                   phone: Any, tmp_path: Path) -> None:
    page = phone.new_page()
    _log_in(page, api.server.url, password="wrong-password")
    page.wait_for_selector("#login-error")
    assert "用户名或密码不正确" in (page.text_content("#login-error") or "")
    assert page.input_value("#username") == "dongfeng"
    _shot(page, "login-failed-360x740.png")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#upload-form")
    assert page.url.endswith("/upload")
    assert "dongfeng" in (page.text_content("#who") or "")
    clip = tmp_path / "短课.m4a"
    clip.write_bytes(os.urandom(300_000))
    page.set_input_files("#file-pick", str(clip))
    page.fill("#title", "登录后上传")
    page.click("#start")
    assert _wait_done(page, timeout_s=30)
    assert [u.state for u in _uploads(page_settings)] == ["complete"]
    page.click("#logout")
    page.wait_for_selector("#login-submit")
    page.goto(api.server.url + "/upload")
    assert "/login" in page.url  # the session ended: the page asks again
