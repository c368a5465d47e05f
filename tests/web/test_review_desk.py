"""The county reviewers' desk and 我的上传 in headless Chromium: a reviewer works through the queue at a desk PC
(1366x768) with the keyboard, rejecting one lesson with a reason and a note taken at a moment of the player,
approving one and sending one back for revision; the branch's uploader sees the results in Chinese on a phone
(360x740) and opens the upload of a revised version; the public sees only the approved lesson.

Lessons are made directly in the catalog, ready for review, with real media made by ffmpeg (renditions, poster,
audio edition) and a transcript with a low-confidence sentence. Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import json
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
    Account,
    AssetKind,
    CaptionSource,
    Lesson,
    LessonStatus,
    ReviewState,
    Upload,
    utcnow,
)
from catalog.organisations import branch_for_name
from ingest import keys
from tests.support.accounts import PASSWORD, make_account
from tests.support.live import ApiProcess, start_api_process
from tests.support.media import run_tool
from tests.support.services import require_tool

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
DESK = {"width": 1366, "height": 768}
PHONE = {"width": 360, "height": 740}
TABLET = {"width": 1024, "height": 768}
CLIP_S = 8.0
SEGMENTS = [  # (start, end, text, low confidence)
    (0.0, 2.5, "同志们好，今天我们在田间地头讲一堂党课。", False),
    (2.5, 5.0, "村里的合作社去年带动了三十多户增收。", True),
    (5.0, 8.0, "下面请大家结合自己的工作谈一谈体会。", False),
]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A lesson's derived files as the pipeline makes them: 360p and 720p renditions, a poster, an audio edition."""
    require_tool("ffmpeg")
    out = tmp_path_factory.mktemp("desk-media")
    for label, size in (("360p", "640x360"), ("720p", "1280x720")):
        run_tool("ffmpeg", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=25:d={CLIP_S}", "-f", "lavfi",
                 "-i", f"sine=f=330:d={CLIP_S}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                 "-c:a", "aac", "-movflags", "+faststart", out / f"{label}.mp4")  # fmt: skip
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=640x360:d=1", "-frames:v", "1", out / "poster.jpg")
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"sine=f=220:d={CLIP_S}", "-ac", "1", "-c:a", "libmp3lame",
             "-b:a", "48k", out / "audio.mp3")
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"sine=f=440:d={CLIP_S}", "-ac", "1", "-c:a", "libmp3lame",
             "-b:a", "48k", out / "修改后的方言党课.mp3")
    cues = "".join(f"\n{i + 1}\n00:00:{s:06.3f} --> 00:00:{e:06.3f}\n{text}\n"
                   for i, (s, e, text, _low) in enumerate(SEGMENTS))
    (out / "subtitles.vtt").write_text("WEBVTT\n" + cues, encoding="utf-8")
    return {p.stem: p for p in out.iterdir()}


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




def _context(browser: Any, viewport: dict[str, int], **extra: Any) -> Any:
    return browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai", **extra)


def _ready_lesson(settings: Any, clips: dict[str, Path], *, title: str, speaker: str, days_ago: float,
                  audio_only: bool = False) -> str:
    """A lesson of 东风村党支部 uploaded by dongfeng, processed and waiting for review."""
    from workers.wiring import context_for

    ctx = context_for(settings)
    with unit_of_work(ctx.engine) as session:
        branch = branch_for_name(session, "东风村党支部")
        uploader = session.exec(select(Account).where(Account.username == "dongfeng")).one()
        digest = os.urandom(32).hex()
        lesson = create_lesson(session, fields=LessonFields(title=title, category="skills", speaker=speaker),
                               original_key=keys.original(digest), original_sha256=digest, size_bytes=23_456_789,
                               original_filename="VID_20260701.mp4", uploaded_by_id=uploader.id, branch_id=branch.id)
        lesson.status, lesson.progress, lesson.review_state = LessonStatus.READY, 100, ReviewState.AWAITING_REVIEW
        lesson.media_kind, lesson.duration_s = ("audio" if audio_only else "video"), CLIP_S
        lesson.detected_language, lesson.language_probability = "zh", 0.93
        lesson.created_at = utcnow() - timedelta(days=days_ago)
        files: list[tuple[AssetKind, str, str, str, int | None]] = [
            (AssetKind.AUDIO_EDITION, "", "audio", "audio/mpeg", None)]
        if not audio_only:
            files += [(AssetKind.RENDITION, "360p", "360p", "video/mp4", 360),
                      (AssetKind.RENDITION, "720p", "720p", "video/mp4", 720),
                      (AssetKind.POSTER, "", "poster", "image/jpeg", 360),
                      (AssetKind.SUBTITLES_VTT, "", "subtitles", "text/vtt", None)]
        for kind, label, stem, mime, height in files:
            path = clips[stem]
            stored = ctx.storage.put(keys.lesson_asset(lesson.id, path.name), path, content_type=mime)
            record_asset(session, lesson.id, kind, AssetFacts(
                key=stored.key, mime_type=mime, size_bytes=stored.size_bytes, sha256=stored.sha256,
                duration_s=CLIP_S if kind != AssetKind.POSTER else None,
                width=height * 16 // 9 if height else None, height=height), label=label)
        version = create_version(session, lesson.id, source=CaptionSource.AUTO, language="zh",
                                 engine="faster-whisper", model="small", review_reasons=["low_confidence"],
                                 segments=[SegmentFacts(start_s=s, end_s=e, text=t, avg_logprob=-1.4 if low else -0.1,
                                                        low_confidence=low) for s, e, t, low in SEGMENTS])
        lesson.caption_version = version.version
        session.add(lesson)
        return lesson.id


def _lesson(settings: Any, lesson_id: str) -> Lesson:
    from workers.wiring import context_for

    with unit_of_work(context_for(settings).engine) as session:
        lesson = session.get(Lesson, lesson_id)
        assert lesson is not None
        session.expunge(lesson)
        return lesson


def _shot(page: Any, name: str, *, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def _log_in(page: Any, base: str, username: str, target: str) -> None:
    page.goto(base + target)
    page.wait_for_selector("#login-submit")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")


def _wait_until(page: Any, ready: Any, timeout_s: float = 15, what: str = "") -> None:
    """Poll from Python: the pages' Content-Security-Policy forbids the eval behind page.wait_for_function."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def _text(page: Any, selector: str) -> str:
    return page.text_content(selector) or ""


def test_a_reviewer_works_through_the_queue_and_the_branch_sees_why(
        desk_settings: Any, api: ApiProcess, browser: Any, clips: dict[str, Path]) -> None:
    base = api.server.url
    copied = _ready_lesson(desk_settings, clips, title="田间地头讲党课", speaker="李书记", days_ago=3.2)
    approved = _ready_lesson(desk_settings, clips, title="合作社带富路", speaker="王主任", days_ago=2.1)
    dialect = _ready_lesson(desk_settings, clips, title="渔港夜校：方言党课", speaker="陈阿公", days_ago=0.3,
                            audio_only=True)

    # --- the reviewer, at a desk PC -----------------------------------------------------------------------------
    desk = _context(browser, DESK)
    page = desk.new_page()
    _log_in(page, base, "wang", "/review")
    page.wait_for_selector("#queue")
    assert page.url.startswith(base + "/review")
    assert "3" in _text(page, "#tab-awaiting_review .count")
    rows = page.query_selector_all("#queue tbody tr")
    assert [r.get_attribute("data-lesson-id") for r in rows] == [copied, approved, dialect]  # oldest first
    assert "等待 3 天" in (rows[0].text_content() or "")
    assert "东风镇" in (rows[0].text_content() or "")
    assert page.is_visible("#nav-review")
    _shot(page, "review-queue-1366x768.png")

    page.keyboard.press("j")  # the first row, then Enter opens it
    page.keyboard.press("Enter")
    page.wait_for_selector("li.segment")
    assert f"/review/{copied}" in page.url
    assets = {(a["kind"], a["label"]): a["url"]
              for a in page.request.get(f"{base}/api/v1/lessons/{copied}").json()["assets"]}
    assert page.get_attribute("#player", "src") == assets[("rendition", "360p")]  # the light one first
    assert page.get_attribute("#subtitles", "src") == assets[("subtitles_vtt", None)]
    assert page.evaluate("() => document.getElementById('player').textTracks[0].mode") == "showing"
    assert len(page.query_selector_all("li.segment")) == 3
    assert len(page.query_selector_all("li.segment.low")) == 1
    assert "待核对" in _text(page, "li.segment.low")
    report = _text(page, "#report")
    assert "360p" in report and "720p" in report and "普通话" in report and "第 1 版" in report

    page.click("#quality")
    _wait_until(page, lambda: "720p" in _text(page, "#quality-now"), what="720p")

    # Correct the doubtful sentence in place: a new caption version, based on the one shown.
    page.click("li.segment.low .text")
    page.fill("li.segment.editing textarea", "村里的合作社去年带动了三十几户增收。")
    page.keyboard.press("Enter")
    _wait_until(page, lambda: "第 2 版" in _text(page, "#transcript-version"), what="caption version 2")
    assert "三十几户" in _text(page, "#segments")
    # Somebody else saves a version meanwhile: this page's next edit is refused, and says so in Chinese.
    other = [{"start_s": st, "end_s": en, "text": t} for st, en, t, _low in SEGMENTS]
    r = page.request.post(f"{base}/api/v1/lessons/{copied}/captions", data={"segments": other, "base_version": 2},
                          headers={"X-CSRF-Token": page.get_attribute("meta[name=csrf-token]", "content") or ""})
    assert r.status == 201, r.text()
    page.click("li.segment[data-index='2'] .text")
    page.fill("li.segment.editing textarea", "下面请大家结合自己的工作谈谈体会。")
    page.click("li.segment.editing .edit-tools .primary")
    page.wait_for_selector("#transcript-error:not([hidden])")
    assert "字幕已有更新的版本" in _text(page, "#transcript-error")
    page.click("li.segment.editing .edit-tools .button:not(.primary)")  # cancel: the newest version is loaded
    _wait_until(page, lambda: "第 3 版" in _text(page, "#transcript-version"), what="caption version 3")
    assert "第 3 版" in _text(page, "#report-captions")

    # A note at a moment of the player: jump to the second sentence, let it play, then N.
    page.click("li.segment[data-index='1'] .at")
    page.wait_for_timeout(600)
    page.keyboard.press("n")
    page.wait_for_selector("#notes .note-text")
    page.fill("#notes .note-text", "声音突然变小")
    page.keyboard.press("Escape")
    note_time = _text(page, "#notes .at")
    assert note_time.startswith("00:0") and note_time != "00:00", note_time
    page.fill("#comment", "讲稿和去年的一样，请结合今年的新变化重讲。")
    page.keyboard.press("Escape")
    page.check("input[name=reason][value=reused_script]")  # the checkbox keeps the focus: R still works
    _shot(page, "review-lesson-1366x768.png")

    page.keyboard.press("r")  # reject; the next lesson of the queue opens
    page.wait_for_url(f"**/review/{approved}?**")
    page.wait_for_selector("li.segment")
    assert "第 1 / 2 节" in _text(page, "#queue-place")
    page.keyboard.press("a")  # approve
    page.wait_for_url(f"**/review/{dialect}?**")
    page.wait_for_selector("audio#player")
    page.click("#request-revision")  # no reason yet: the API says why, in Chinese
    page.wait_for_selector("#action-error:not([hidden])")
    assert "至少选择一个原因" in _text(page, "#action-error")
    page.check("input[name=reason][value=poor_sound]")
    page.fill("#comment", "录音里海浪声太大，请在屋里重录。")
    page.click("#request-revision")
    page.wait_for_selector("#queue-empty")  # the queue is done
    assert "1" in _text(page, "#tab-published .count")
    assert "1" in _text(page, "#tab-rejected .count")
    assert "1" in _text(page, "#tab-revision_requested .count")
    states = {i: _lesson(desk_settings, i).review_state for i in (copied, approved, dialect)}
    assert states == {copied: "rejected", approved: "published", dialect: "revision_requested"}
    page.goto(f"{base}/review/{copied}?state=rejected")
    assert "声音突然变小" in _text(page, "#history") and "讲稿陈旧、一稿多用" in _text(page, "#history")

    # Among the published lessons: the best is marked 精品 for the county film library (F), on a tablet.
    page.set_viewport_size(TABLET)
    page.click("#back-to-queue")
    page.click("#tab-published")
    page.click(f"#queue tr[data-lesson-id='{approved}'] a")
    page.wait_for_selector("#feature")
    page.keyboard.press("f")
    _wait_until(page, lambda: "已评为精品" in _text(page, "#action-status"), what="featured")
    assert _lesson(desk_settings, approved).featured
    _shot(page, "review-lesson-1024x768.png")
    desk.close()

    # --- the branch's uploader, on a phone ----------------------------------------------------------------------
    phone = _context(browser, PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = phone.new_page()
    _log_in(page, base, "dongfeng", "/my-uploads")
    rejected = f"li[data-lesson-id='{copied}']"
    page.wait_for_selector(f"{rejected} .notes li")
    assert "未通过" in _text(page, f"{rejected} .review")
    assert "讲稿陈旧、一稿多用" in _text(page, f"{rejected} .reasons")
    assert "请结合今年的新变化重讲" in _text(page, f"{rejected} .comment")
    assert "声音突然变小" in _text(page, f"{rejected} .notes") and note_time in _text(page, f"{rejected} .notes")
    assert "已发布" in _text(page, f"li[data-lesson-id='{approved}'] .review")
    sent_back = f"li[data-lesson-id='{dialect}']"
    page.wait_for_selector(f"{sent_back} a.revise")
    assert "需要修改" in _text(page, f"{sent_back} .review") and "声音不清" in _text(page, f"{sent_back} .reasons")
    assert not page.is_visible(f"{rejected} a.revise")
    assert not page.is_visible("#nav-review")
    _shot(page, "my-uploads-review-360x740.png", full_page=True)

    # The revised version goes up through the same resumable upload, naming the lesson it revises.
    page.click(f"{sent_back} a.revise")
    page.wait_for_selector("#revision-box")
    assert dialect in page.url and "渔港夜校：方言党课" in _text(page, "#revision-title")
    assert page.input_value("#title") == "渔港夜校：方言党课"
    assert "海浪声太大" in _text(page, "#revision-box")
    _shot(page, "upload-revision-360x740.png")
    page.set_input_files("#file-pick", str(clips["修改后的方言党课"]))
    page.click("#start")
    page.wait_for_selector("#done-box:not([hidden])", timeout=30000)
    from workers.wiring import context_for

    with unit_of_work(context_for(desk_settings).engine) as session:
        sent = session.exec(select(Upload)).all()
    assert [json.loads(u.metadata_json).get("revision_of") for u in sent] == [dialect]
    assert _lesson(desk_settings, dialect).revision == 2

    page.goto(base + "/review")
    assert "没有审核权限" in _text(page, "h1")
    phone.close()

    # --- anybody: only the approved lesson exists -----------------------------------------------------------------
    public = _context(browser, PHONE)
    page = public.new_page()
    assert page.goto(f"{base}/api/v1/lessons/{approved}").status == 200
    assert page.goto(f"{base}/api/v1/lessons/{copied}").status == 404
    assert page.goto(f"{base}/api/v1/lessons/{dialect}").status == 404
    public.close()
