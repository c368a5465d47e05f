"""The public film library in headless Chromium on a phone (360x740), without logging in: the home shows a
published lesson (and nothing unpublished), its page plays from a shared moment (?t=), lights the sentence being
spoken, seeks when a sentence is clicked, shows subtitles, and carries absolute Open Graph tags for a WeChat card;
with JavaScript off the title and the transcript are still there. An unpublished lesson's page is a 404 for the
public and opens for its branch's logged-in uploader.

Lessons are made directly in the catalog with real media made by ffmpeg. Screenshots go to test-artifacts/web/."""

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
from catalog.models import Account, AssetKind, CaptionSource, LessonStatus, ReviewState, utcnow
from catalog.organisations import branch_for_name
from ingest import keys
from tests.support.accounts import PASSWORD, make_account
from tests.support.live import ApiProcess, start_api_process
from tests.support.media import run_tool
from tests.support.services import require_tool

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
PHONE = {"width": 360, "height": 740}
CLIP_S = 8.0
SEGMENTS = [
    (0.0, 2.5, "同志们好，今天我们在田间地头讲一堂党课。"),
    (2.5, 5.0, "村里的合作社去年带动了三十多户增收。"),
    (5.0, 8.0, "下面请大家结合自己的工作谈一谈体会。"),
]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A lesson's derived files as the pipeline makes them."""
    require_tool("ffmpeg")
    out = tmp_path_factory.mktemp("library-media")
    for label, size in (("360p", "640x360"), ("720p", "1280x720")):
        run_tool("ffmpeg", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=25:d={CLIP_S}", "-f", "lavfi",
                 "-i", f"sine=f=330:d={CLIP_S}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                 "-c:a", "aac", "-movflags", "+faststart", out / f"{label}.mp4")  # fmt: skip
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=640x360:d=1", "-frames:v", "1", out / "poster.jpg")
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"sine=f=220:d={CLIP_S}", "-ac", "1", "-c:a", "libmp3lame",
             "-b:a", "48k", out / "audio.mp3")
    cue = "{n}\n00:00:{s:06.3f} --> 00:00:{e:06.3f}\n{text}\n"
    (out / "subtitles.vtt").write_text("WEBVTT\n\n" + "\n".join(
        cue.format(n=i + 1, s=s, e=e, text=t) for i, (s, e, t) in enumerate(SEGMENTS)), encoding="utf-8")
    (out / "subtitles.srt").write_text("\n".join(
        cue.format(n=i + 1, s=s, e=e, text=t).replace(".", ",", 2) for i, (s, e, t) in enumerate(SEGMENTS)),
        encoding="utf-8")
    return {p.stem + p.suffix.replace(".", "_"): p for p in out.iterdir()}


@pytest.fixture
def library_settings(tmp_path: Path) -> Any:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    make_account(settings, "dongfeng", "uploader", "东风村党支部")
    return settings


@pytest.fixture
def api(library_settings: Any, tmp_path: Path) -> Iterator[ApiProcess]:
    process = start_api_process(library_settings, log_path=tmp_path / "api.log")
    try:
        yield process
    finally:
        process.kill()


FILES: list[tuple[AssetKind, str, str, str, int | None]] = [
    (AssetKind.RENDITION, "360p", "360p_mp4", "video/mp4", 360),
    (AssetKind.RENDITION, "720p", "720p_mp4", "video/mp4", 720),
    (AssetKind.POSTER, "", "poster_jpg", "image/jpeg", 360),
    (AssetKind.AUDIO_EDITION, "", "audio_mp3", "audio/mpeg", None),
    (AssetKind.SUBTITLES_VTT, "", "subtitles_vtt", "text/vtt", None),
    (AssetKind.SUBTITLES_SRT, "", "subtitles_srt", "application/x-subrip", None),
]


def _lesson(settings: Any, clips: dict[str, Path], *, title: str, state: str, featured: bool = False,
            hours_ago: float = 1.0) -> str:
    """A processed lesson of 东风村党支部 in review state `state`, with its files and a published transcript."""
    from workers.wiring import context_for

    ctx = context_for(settings)
    with unit_of_work(ctx.engine) as session:
        uploader = session.exec(select(Account).where(Account.username == "dongfeng")).one()
        digest = os.urandom(32).hex()
        lesson = create_lesson(session, fields=LessonFields(title=title, category="skills", speaker="李书记"),
                               original_key=keys.original(digest), original_sha256=digest, size_bytes=23_456_789,
                               original_filename="VID_20260701.mp4", uploaded_by_id=uploader.id,
                               branch_id=branch_for_name(session, "东风村党支部").id)
        lesson.status, lesson.progress, lesson.review_state = LessonStatus.READY, 100, state
        lesson.media_kind, lesson.duration_s, lesson.featured = "video", CLIP_S, featured
        lesson.created_at = utcnow() - timedelta(hours=hours_ago)
        for kind, label, name, mime, height in FILES:
            path = clips[name]
            stored = ctx.storage.put(keys.lesson_asset(lesson.id, path.name), path, content_type=mime)
            record_asset(session, lesson.id, kind, AssetFacts(
                key=stored.key, mime_type=mime, size_bytes=stored.size_bytes, sha256=stored.sha256,
                duration_s=CLIP_S if kind != AssetKind.POSTER else None,
                width=height * 16 // 9 if height else None, height=height), label=label)
        version = create_version(session, lesson.id, source=CaptionSource.AUTO, language="zh",
                                 engine="faster-whisper", model="small", review_reasons=[],
                                 segments=[SegmentFacts(start_s=s, end_s=e, text=t, avg_logprob=-0.1,
                                                        low_confidence=False) for s, e, t in SEGMENTS])
        lesson.caption_version = version.version
        session.add(lesson)
        return lesson.id


def _context(browser: Any, **extra: Any) -> Any:
    return browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai", **extra)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def _wait_until(page: Any, ready: Any, timeout_s: float = 15, what: str = "") -> None:
    """Poll from Python: the pages' Content-Security-Policy forbids the eval behind page.wait_for_function."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def _current_time(page: Any) -> float:
    return float(page.evaluate("() => document.getElementById('player').currentTime"))


def _lit(page: Any) -> list[str]:
    return [(li.text_content() or "").strip() for li in page.query_selector_all("#transcript li.now")]


def test_a_visitor_opens_a_published_lesson_from_the_home_at_a_shared_moment(
        library_settings: Any, api: ApiProcess, browser: Any, clips: dict[str, Path]) -> None:
    base = api.server.url
    lesson_id = _lesson(library_settings, clips, title="田间地头讲党课：合作社带富路", state=ReviewState.PUBLISHED,
                        featured=True)
    newer = _lesson(library_settings, clips, title="渔港夜校：出海安全", state=ReviewState.PUBLISHED,
                    hours_ago=0.5)
    _lesson(library_settings, clips, title="还在审核的课", state=ReviewState.AWAITING_REVIEW)

    context = _context(browser)
    page = context.new_page()
    assert page.goto(base + "/").status == 200
    page.wait_for_selector("#newest")
    assert "还在审核的课" not in page.content()
    newest = [li.get_attribute("data-lesson-id") for li in page.query_selector_all("#newest li.card")]
    assert newest == [newer, lesson_id]  # newest first
    assert [li.get_attribute("data-lesson-id") for li in page.query_selector_all("#featured li.card")] == [lesson_id]
    assert page.is_visible('.top nav a[href="/login"]')
    _wait_until(page, lambda: page.evaluate(
        "() => Array.prototype.every.call(document.images, function (i) { return i.complete; })"), what="posters")
    _shot(page, "library-home-360x740.png")

    page.click(f'#newest a[href="/lessons/{lesson_id}"]')
    page.wait_for_selector("#transcript")
    assert "田间地头讲党课：合作社带富路" in (page.text_content("#lesson-title") or "")
    assert page.get_attribute("#subtitles", "src")
    _wait_until(page, lambda: page.evaluate(
        "() => document.getElementById('player').textTracks[0].mode") == "showing", what="subtitles showing")
    track_mode = "() => document.getElementById('player').textTracks[0].mode"
    page.click("#subtitles-toggle")  # off, and the button offers them back
    assert page.evaluate(track_mode) == "hidden" and page.text_content("#subtitles-toggle") == "打开字幕"
    page.click("#subtitles-toggle")
    assert page.evaluate(track_mode) == "showing" and page.text_content("#subtitles-toggle") == "关闭字幕"
    og = {name: page.get_attribute(f'meta[property="og:{name}"]', "content") for name in ("title", "type", "image", "url")}
    assert og["title"] == "田间地头讲党课：合作社带富路" and og["type"] == "video.other"
    assert (og["image"] or "").startswith(base + "/api/v1/assets/") and og["url"] == f"{base}/lessons/{lesson_id}"
    downloads = [a.get_attribute("href") or "" for a in page.query_selector_all("#downloads a")]
    assert len(downloads) == 4 and all(href.endswith("?download=1") for href in downloads)
    assert "随身听 MP3" in (page.text_content("#downloads") or "")

    # A shared link: the player starts at t, and the sentence spoken there is lit.
    page.goto(f"{base}/lessons/{lesson_id}?t=6")
    page.wait_for_selector("#transcript")
    _wait_until(page, lambda: _current_time(page) >= 6, what="the player at t=6")
    _wait_until(page, lambda: _lit(page) and SEGMENTS[2][2] in _lit(page)[0], what="the third sentence lit")
    assert page.input_value("#share-link") == f"{base}/lessons/{lesson_id}?t=6"
    _shot(page, "library-lesson-360x740.png")

    # A click on a sentence plays from there and lights it.
    page.click("#transcript li.segment:nth-child(1) .text")
    _wait_until(page, lambda: _current_time(page) < 2.5 and _lit(page) and SEGMENTS[0][2] in _lit(page)[0],
                what="the first sentence playing and lit")
    context.close()

    # Without JavaScript the page still reads: the title and the transcript, its times as links to the moment.
    plain = _context(browser, java_script_enabled=False)
    page = plain.new_page()
    assert page.goto(f"{base}/lessons/{lesson_id}").status == 200
    assert "田间地头讲党课" in (page.text_content("h1") or "")
    assert [(li.text_content() or "").split(maxsplit=1)[1].strip()
            for li in page.query_selector_all("#transcript li")] == [t for _s, _e, t in SEGMENTS]
    assert page.get_attribute("#transcript li:nth-child(2) a.at", "href") == "?t=2.5"
    plain.close()


def test_an_unpublished_lesson_is_a_404_for_the_public_and_opens_for_its_branch(
        library_settings: Any, api: ApiProcess, browser: Any, clips: dict[str, Path]) -> None:
    base = api.server.url
    lesson_id = _lesson(library_settings, clips, title="还在审核的课", state=ReviewState.AWAITING_REVIEW)
    context = _context(browser)
    page = context.new_page()
    missing = page.goto(f"{base}/lessons/{lesson_id}")
    assert missing.status == 404
    assert "找不到这节课" in page.content() and "还在审核的课" not in page.content()

    page.goto(f"{base}/login?next=/lessons/{lesson_id}")
    page.fill("#username", "dongfeng")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-submit")
    assert page.url == f"{base}/lessons/{lesson_id}"
    assert "还在审核的课" in (page.text_content("#lesson-title") or "")
    assert "未发布" in (page.text_content("#not-public") or "")
    assert page.reload().status == 200
    assert page.is_visible('.top nav a[href$="/upload"]')  # the uploader's nav is still there
    context.close()
