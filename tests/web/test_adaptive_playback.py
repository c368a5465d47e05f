"""A published lesson with an HLS presentation, in headless Chromium on a phone (360x740) on a first visit: hls.js
(loaded only then) plays the master playlist through Media Source Extensions (the video's source is a blob: URL and
its time advances), the Chinese subtitles show, and the page with its styles and scripts, hls.js included, stays
under 200 KB compressed before the video. Without JavaScript the plain MP4 is still the video's source.

The lesson's renditions are made by ffmpeg and its presentation by the real `hls` step. Screenshots go to
test-artifacts/web/."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog import jobs
from catalog.assets import AssetFacts, record_asset
from catalog.captions import SegmentFacts, create_version
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import AssetKind, CaptionSource, LessonStatus, ReviewState
from ingest import keys
from tests.support.live import ApiProcess, start_api_process
from tests.support.media import run_tool
from tests.support.services import require_tool

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
PHONE = {"width": 360, "height": 740}
CLIP_S = 12.0
PAGE_BUDGET_BYTES = 200_000
SEGMENTS = [(0.0, 4.0, "同志们好，今天讲一堂党课。"), (4.0, 8.0, "合作社带动三十多户增收。"),
            (8.0, 12.0, "请大家谈一谈体会。")]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Renditions as the ladder makes them (H.264 High, AAC, a keyframe every 4 s, moov first) and the WebVTT."""
    require_tool("ffmpeg")
    out = tmp_path_factory.mktemp("adaptive-media")
    for label, size in (("360p", "640x360"), ("720p", "1280x720")):
        run_tool("ffmpeg", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=25:d={CLIP_S}", "-f", "lavfi",
                 "-i", f"sine=f=330:d={CLIP_S}", "-c:v", "libx264", "-preset", "ultrafast", "-g", "100",
                 "-keyint_min", "100", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart",
                 out / f"{label}.mp4")  # fmt: skip
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=640x360:d=1", "-frames:v", "1", out / "poster.jpg")
    cue = "{n}\n00:00:{s:06.3f} --> 00:00:{e:06.3f}\n{text}\n"
    (out / "subtitles.vtt").write_text("WEBVTT\n\n" + "\n".join(
        cue.format(n=i + 1, s=s, e=e, text=t) for i, (s, e, t) in enumerate(SEGMENTS)), encoding="utf-8")
    return {p.name: p for p in out.iterdir()}


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    from tests.support.stacks import build_embedded

    return build_embedded(tmp_path / "var")


@pytest.fixture
def api(settings: Any, tmp_path: Path) -> Iterator[ApiProcess]:
    process = start_api_process(settings, log_path=tmp_path / "api.log")
    try:
        yield process
    finally:
        process.kill()


def _published_lesson_with_hls(settings: Any, clips: dict[str, Path]) -> str:
    from workers.pipeline import execute_step
    from workers.wiring import context_for

    ctx = context_for(settings)
    files = [(AssetKind.RENDITION, "360p", "360p.mp4", "video/mp4", 360),
             (AssetKind.RENDITION, "720p", "720p.mp4", "video/mp4", 720),
             (AssetKind.POSTER, "", "poster.jpg", "image/jpeg", 360),
             (AssetKind.SUBTITLES_VTT, "", "subtitles.vtt", "text/vtt", None)]
    with unit_of_work(ctx.engine) as session:
        digest = os.urandom(32).hex()
        lesson = create_lesson(session, fields=LessonFields(title="自适应播放：合作社带富路", speaker="李书记"),
                               original_key=keys.original(digest), original_sha256=digest, size_bytes=1_000_000,
                               original_filename="VID.mp4")
        lesson.status, lesson.progress, lesson.review_state = LessonStatus.READY, 100, ReviewState.PUBLISHED
        lesson.media_kind, lesson.duration_s = "video", CLIP_S
        for kind, label, name, mime, height in files:
            stored = ctx.storage.put(keys.lesson_asset(lesson.id, name), clips[name], content_type=mime)
            record_asset(session, lesson.id, kind, AssetFacts(
                key=stored.key, mime_type=mime, size_bytes=stored.size_bytes, sha256=stored.sha256,
                duration_s=CLIP_S, width=height * 16 // 9 if height else None, height=height), label=label)
        version = create_version(session, lesson.id, source=CaptionSource.AUTO, language="zh", review_reasons=[],
                                 segments=[SegmentFacts(start_s=s, end_s=e, text=t) for s, e, t in SEGMENTS])
        lesson.caption_version = version.version
        session.add(lesson)
        lesson_id = lesson.id
        jobs.ensure_jobs(session, lesson_id, {"hls": "media"})
    execute_step(ctx, lesson_id, "hls")  # the real step makes the presentation
    return lesson_id


def _wait_until(page: Any, ready: Any, timeout_s: float = 20, what: str = "") -> None:
    """Poll from Python: the pages' Content-Security-Policy forbids the eval behind page.wait_for_function."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def _video(page: Any, expression: str) -> Any:
    return page.evaluate(f"() => {{ var v = document.getElementById('player'); return {expression}; }}")


def test_a_phone_plays_the_lesson_through_hls_with_subtitles_within_the_page_budget(
        settings: Any, api: ApiProcess, browser: Any, clips: dict[str, Path]) -> None:
    base = api.server.url
    lesson_id = _published_lesson_with_hls(settings, clips)
    lesson = __import__("httpx").get(f"{base}/api/v1/lessons/{lesson_id}").json()
    [hls] = [a for a in lesson["assets"] if a["kind"] == "hls"]

    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    transferred: dict[str, int] = {}
    fetched: list[str] = []

    def count(response: Any) -> None:
        fetched.append(response.url)
        if response.status >= 400:
            errors.append(f"{response.status} {response.url}")
        if response.request.resource_type in ("document", "stylesheet", "script"):
            transferred[response.url] = response.request.sizes()["responseBodySize"]

    errors: list[str] = []
    page.on("requestfinished", lambda request: count(request.response()))
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text else None)  # /favicon.ico
    page.on("pageerror", lambda error: errors.append(str(error)))
    assert page.goto(f"{base}/lessons/{lesson_id}").status == 200
    _wait_until(page, lambda: _video(page, "v.currentSrc").startswith("blob:"), what="hls.js attached")
    assert any("hls.js-1.7.4.light.min.js" in url for url in transferred), transferred
    page_bytes = sum(transferred.values())
    print(f"\nlesson page before the video, compressed: {page_bytes} bytes "
          + ", ".join(f"{url.rsplit('/', 1)[-1].split('?')[0]}={n}" for url, n in transferred.items()))
    assert page_bytes < PAGE_BUDGET_BYTES, transferred
    assert page.is_hidden("#quality") and page.text_content("#quality-now") == "自动清晰度"

    _video(page, "v.play()")
    _wait_until(page, lambda: _video(page, "v.currentTime") > 1.5, what="playback through hls.js")
    assert _video(page, "v.currentSrc").startswith("blob:")
    assert any(url.startswith(base + hls["url"].rsplit("/", 1)[0]) and url.endswith(".m4s") for url in fetched)
    mp4s = {base + a["url"] for a in lesson["assets"] if a["kind"] == "rendition"}
    assert not [url for url in fetched if url.split("#")[0] in mp4s]  # the MP4 was never fetched
    # The subtitles: the page's own track, showing, with the cue of the moment.
    _wait_until(page, lambda: _video(page, "v.textTracks[0].mode") == "showing", what="subtitles showing")
    _wait_until(page, lambda: _video(page, "v.textTracks[0].activeCues && v.textTracks[0].activeCues.length > 0"),
                what="a subtitle cue")
    cue = _video(page, "v.textTracks[0].activeCues[0].text")
    assert cue in [t for _, _, t in SEGMENTS]
    # A click on a sentence of the transcript seeks the HLS stream there.
    page.click("#transcript li.segment:nth-child(3) .text")
    _wait_until(page, lambda: _video(page, "v.currentTime") >= 8.0 and _video(page, "!v.paused"),
                what="playing from the third sentence")
    _wait_until(page, lambda: _video(page, "v.textTracks[0].activeCues.length > 0 && "
                                           "v.textTracks[0].activeCues[0].text") == SEGMENTS[2][2],
                what="the third sentence's subtitle")
    _video(page, "v.pause()")
    assert errors == []  # hls.js runs within the page's CSP (no blob: worker, no eval)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "adaptive-playback-360x740.png"))
    context.close()

    # A shared moment starts the HLS stream there.
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/lessons/{lesson_id}?t=6")
    _wait_until(page, lambda: _video(page, "v.currentSrc").startswith("blob:"), what="hls.js attached")
    _wait_until(page, lambda: _video(page, "v.currentTime") >= 6, what="the player at t=6")
    context.close()

    # Without JavaScript the MP4 stays the source.
    plain = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = plain.new_page()
    page.goto(f"{base}/lessons/{lesson_id}")
    src = page.get_attribute("#player", "src") or ""
    assert src.startswith("/api/v1/assets/") and page.get_attribute("#player", "data-hls") == hls["url"]
    plain.close()
