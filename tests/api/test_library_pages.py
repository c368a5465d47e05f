"""The public film library's pages, server-rendered (no browser): the home lists published lessons only, a
category page pages through its published lessons newest first, a lesson nobody may see is a Chinese 404 exactly
like a missing one, and a hostile title is shown as text. The browser side is tests/web/test_library_pages.py."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.library import CATEGORY_PAGE_SIZE
from catalog.assets import AssetFacts, record_asset
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import AssetKind, Lesson, LessonStatus, utcnow
from catalog.organisations import branch_for_name
from ingest import keys
from tests.support.accounts import import_county, make_account, token_for
from workers.settings import Settings
from workers.wiring import context_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    import_county(settings)  # 东风村党支部 in 东风镇
    return settings  # type: ignore[no-any-return]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


def make_lesson(settings: Settings, title: str, *, state: str | None = "published", category: str = "skills",
                featured: bool = False, hours_ago: float = 1.0) -> str:
    sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    with unit_of_work(context_for(settings).engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title=title, category=category, speaker="李书记"),
                               original_key=keys.original(sha), original_sha256=sha, size_bytes=10,
                               original_filename="手机录像.mp4", branch_id=branch_for_name(s, "东风村党支部").id)
        lesson.status, lesson.review_state, lesson.featured = LessonStatus.READY, state, featured
        lesson.media_kind, lesson.duration_s = "video", 65.0
        lesson.created_at = utcnow() - timedelta(hours=hours_ago)
        s.add(lesson)
        return lesson.id


def _lesson_ids(html: str, list_id: str) -> list[str]:
    block = html.split(f'id="{list_id}"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'data-lesson-id="([0-9a-z]+)"', block)


def test_the_home_is_public_and_lists_published_lessons_only(client: TestClient, settings: Settings) -> None:
    published = make_lesson(settings, "合作社带富路", featured=True)
    hidden = {state: make_lesson(settings, f"未公开 {state}", state=state)
              for state in ("awaiting_review", "rejected", "revision_requested", "withdrawn", None)}
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert _lesson_ids(r.text, "featured") == [published]
    assert _lesson_ids(r.text, "newest") == [published]
    assert f'href="/lessons/{published}"' in r.text
    assert not any(lesson_id in r.text for lesson_id in hidden.values())
    assert re.search(r'href="/categories/skills">技能培训 <span class="count">1</span>', r.text)
    assert re.search(r'href="/categories/theory">思想理论 <span class="count">0</span>', r.text)
    assert 'href="/login"' in r.text  # anonymous: 登录 in the nav


def test_a_category_pages_through_its_published_lessons_newest_first(client: TestClient,
                                                                      settings: Settings) -> None:
    ids = [make_lesson(settings, f"技能 {n}", hours_ago=n) for n in range(CATEGORY_PAGE_SIZE + 2)]  # 0: newest
    make_lesson(settings, "理论课", category="theory")
    make_lesson(settings, "待审的技能课", state="awaiting_review", hours_ago=0)
    first = client.get("/categories/skills")
    assert first.status_code == 200
    assert _lesson_ids(first.text, "category-lessons") == ids[:CATEGORY_PAGE_SIZE]
    assert f"共 {CATEGORY_PAGE_SIZE + 2} 节" in first.text and 'href="?page=2"' in first.text
    second = client.get("/categories/skills?page=2")
    assert _lesson_ids(second.text, "category-lessons") == ids[CATEGORY_PAGE_SIZE:]
    assert 'href="?page=1"' in second.text
    assert client.get("/categories/skills?page=x").status_code == 200  # a mangled page number: the first page
    missing = client.get("/categories/nothing-here")
    assert missing.status_code == 404 and "找不到这个分类" in missing.text


def test_a_lesson_nobody_may_see_is_a_404_like_a_missing_one(client: TestClient, settings: Settings) -> None:
    unpublished = make_lesson(settings, "待审的课", state="awaiting_review")
    r = client.get(f"/lessons/{unpublished}")
    assert r.status_code == 404
    assert "找不到这节课" in r.text and "待审的课" not in r.text
    assert r.text == client.get(f"/lessons/{uuid.uuid4().hex}").text
    make_account(settings, "dongfeng", "uploader", "东风村党支部")
    make_account(settings, "xiling", "uploader", "西岭村党支部")
    own = client.get(f"/lessons/{unpublished}", headers={"Authorization": f"Bearer {token_for(client, 'dongfeng')}"})
    assert own.status_code == 200 and "待审的课" in own.text and "未发布" in own.text
    other = client.get(f"/lessons/{unpublished}", headers={"Authorization": f"Bearer {token_for(client, 'xiling')}"})
    assert other.status_code == 404


def test_a_published_lesson_page_reads_without_media(client: TestClient, settings: Settings) -> None:
    lesson_id = make_lesson(settings, "合作社带富路")
    r = client.get(f"/lessons/{lesson_id}?t=nonsense")  # a mangled share link still opens the lesson
    assert r.status_code == 200
    assert "合作社带富路" in r.text and "李书记" in r.text and "东风村党支部" in r.text and "东风镇" in r.text
    assert '<meta property="og:type" content="video.other">' in r.text
    assert "这节课暂时不能播放" in r.text and "这节课没有文字稿" in r.text


def test_an_audio_lesson_plays_its_audio_edition_and_offers_it_for_the_lesson_radios(
        client: TestClient, settings: Settings) -> None:
    lesson_id = make_lesson(settings, "渔港夜校：方言党课")
    with unit_of_work(context_for(settings).engine) as s:
        lesson = s.get(Lesson, lesson_id)
        assert lesson is not None
        lesson.media_kind = "audio"
        s.add(lesson)
        record_asset(s, lesson_id, AssetKind.AUDIO_EDITION, AssetFacts(
            key=keys.lesson_asset(lesson_id, "audio.mp3"), mime_type="audio/mpeg", size_bytes=3 << 20, sha256="0" * 64))
    r = client.get(f"/lessons/{lesson_id}?t=12")
    assert r.status_code == 200
    assert re.search(r'<audio id="player" controls preload="metadata" src="/api/v1/assets/[0-9a-f]+/content#t=12"',
                     r.text)
    assert "<video" not in r.text
    assert re.search(r'href="/api/v1/assets/[0-9a-f]+/content\?download=1" download>随身听 MP3</a>\s*'
                     r'<span class="size">3.0 MB</span>', r.text)


def test_a_hostile_title_is_shown_as_text(client: TestClient, settings: Settings) -> None:
    title = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    lesson_id = make_lesson(settings, title, featured=True)
    for path in ("/", f"/lessons/{lesson_id}", "/categories/skills"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "<script>alert" not in r.text and "<img src=x" not in r.text, path
        assert "&lt;script&gt;alert(" in r.text, path
