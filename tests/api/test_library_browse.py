"""The library's browsing pages, server-rendered (no browser): a series in episode order with 第N集 and the lesson
page's previous/next episode, a speaker's page, a branch's and a township's pages, the search page with the moments
that say the words; published lessons only, hostile names and transcripts shown as text, 404s exactly like a
missing one's, sort links that work without JavaScript, and the pages' ETags. The browser side is
tests/web/test_library_browse_web.py."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from catalog import captions
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import CaptionSource, LessonStatus, Organisation, OrgKind, Series, Speaker, utcnow
from catalog.organisations import branch_for_name
from catalog.search import reindex_lesson
from ingest import keys
from tests.support.accounts import import_county, make_account, token_for
from workers.settings import Settings
from workers.wiring import context_for

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    import_county(settings)  # 东风镇: 东风村党支部, 渔港社区党支部; 西岭乡: 西岭村党支部, 海上党支部
    return settings  # type: ignore[no-any-return]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


def make_lesson(settings: Settings, title: str, *, state: str | None = "published", branch: str = "东风村党支部",
                series_id: int | None = None, episode: int | None = None, speaker_id: int | None = None,
                featured: bool = False, hours_ago: float = 1.0, said: tuple[str, ...] = (),
                description: str | None = None) -> str:
    """A processed lesson made in the catalog, its captions saying `said` (a sentence every 4 s), indexed."""
    sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    with unit_of_work(context_for(settings).engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title=title, category="skills", speaker="李书记"),
                               original_key=keys.original(sha), original_sha256=sha, size_bytes=10,
                               original_filename="手机录像.mp4", branch_id=branch_for_name(s, branch).id)
        lesson.status, lesson.review_state, lesson.featured = LessonStatus.READY, state, featured
        lesson.media_kind, lesson.duration_s = "video", 4.0 * max(1, len(said))
        lesson.series_id, lesson.episode, lesson.speaker_id = series_id, episode, speaker_id
        lesson.description = description
        lesson.created_at = utcnow() - timedelta(hours=hours_ago)
        lesson.published_at = lesson.created_at if state == "published" else None
        if said:
            captions.create_version(s, lesson.id, source=CaptionSource.AUTO, language="zh", segments=[
                captions.SegmentFacts(4.0 * i, 4.0 * i + 4.0, text) for i, text in enumerate(said)])
            lesson.caption_version = 1
        s.add(lesson)
        s.flush()
        reindex_lesson(s, lesson)
        return lesson.id


def make_series(settings: Settings, title: str, description: str | None = None) -> int:
    with unit_of_work(context_for(settings).engine) as s:
        series = Series(title=title, description=description)
        s.add(series)
        s.flush()
        assert series.id is not None
        return series.id


def make_speaker(settings: Settings, name: str, *, title: str | None = None, bio: str | None = None,
                 photo_key: str | None = None) -> int:
    with unit_of_work(context_for(settings).engine) as s:
        speaker = Speaker(name=name, title=title, bio=bio, photo_key=photo_key)
        s.add(speaker)
        s.flush()
        assert speaker.id is not None
        return speaker.id


def org_id(settings: Settings, name: str) -> int:
    with unit_of_work(context_for(settings).engine) as s:
        org = s.exec(select(Organisation).where(Organisation.name == name)).one()
        assert org.id is not None
        return org.id


def ids_in(html: str, list_id: str) -> list[str]:
    block = html.split(f'id="{list_id}"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'data-lesson-id="([0-9a-z]+)"', block)


def assert_escaped(html: str) -> None:
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html


def test_a_series_lists_its_published_episodes_in_order(client: TestClient, settings: Settings) -> None:
    series = make_series(settings, "乡村振兴十五讲", "一套讲给村干部听的系列课。")
    third = make_lesson(settings, "第三讲 产业", series_id=series, episode=3, hours_ago=9)
    first = make_lesson(settings, "第一讲 总论", series_id=series, episode=1, hours_ago=1)
    second = make_lesson(settings, "第二讲 人才", series_id=series, episode=2, hours_ago=5, featured=True)
    hidden = make_lesson(settings, "第四讲 还在审", series_id=series, episode=4, state="awaiting_review")
    make_lesson(settings, "别的课", hours_ago=0)
    r = client.get(f"/series/{series}")
    assert r.status_code == 200
    assert ids_in(r.text, "series-lessons") == [first, second, third]
    assert "第1集" in r.text and "第3集" in r.text and "共 3 集已发布" in r.text
    assert hidden not in r.text and "还在审" not in r.text
    assert "一套讲给村干部听的系列课。" in r.text
    # Sort links, plain links: the same series newest first, or 精品 first.
    assert 'href="?sort=newest"' in r.text and 'href="?sort=popular"' in r.text
    assert ids_in(client.get(f"/series/{series}?sort=newest").text, "series-lessons") == [first, second, third]
    assert ids_in(client.get(f"/series/{series}?sort=featured").text, "series-lessons") == [second, first, third]
    assert ids_in(client.get(f"/series/{series}?sort=bogus").text, "series-lessons") == [first, second, third]
    # The home shows the series with its count of published episodes.
    home = client.get("/")
    assert f'href="/series/{series}"' in home.text and "共 3 集" in home.text


def test_the_lesson_page_steps_through_its_series(client: TestClient, settings: Settings) -> None:
    series = make_series(settings, "党史小课堂")
    first = make_lesson(settings, "一、开天辟地", series_id=series, episode=1)
    second = make_lesson(settings, "二、星火燎原", series_id=series, episode=2)
    make_lesson(settings, "三、还没发布", series_id=series, episode=3, state="awaiting_review")
    third = make_lesson(settings, "四、万众一心", series_id=series, episode=4)
    r = client.get(f"/lessons/{second}")
    assert r.status_code == 200
    assert "第2集 / 共3集" in r.text  # among published episodes only
    assert re.search(rf'id="previous-episode" class="button small" href="/lessons/{first}"', r.text)
    assert re.search(rf'id="next-episode" class="button small" href="/lessons/{third}"', r.text)
    assert f'href="/series/{series}"' in r.text
    opening = client.get(f"/lessons/{first}")
    assert "第1集 / 共3集" in opening.text and "previous-episode" not in opening.text
    assert "next-episode" not in client.get(f"/lessons/{third}").text


def test_a_speaker_page_shows_the_lecturer_and_their_lessons(client: TestClient, settings: Settings) -> None:
    pictured = make_speaker(settings, "王老师", title="县委党校讲师", bio="讲了二十年党课。\n常下村。",
                            photo_key="speakers/1/photo.jpg")
    plain = make_speaker(settings, "张书记", title="东风村党支部书记")
    theirs = make_lesson(settings, "合作社带富路", speaker_id=pictured)
    make_lesson(settings, "还在审核", speaker_id=pictured, state="awaiting_review")
    r = client.get(f"/speakers/{pictured}")
    assert r.status_code == 200
    assert "王老师" in r.text and "县委党校讲师" in r.text and "讲了二十年党课。" in r.text
    assert f'src="/api/v1/speakers/{pictured}/photo"' in r.text
    assert ids_in(r.text, "speaker-lessons") == [theirs] and "还在审核" not in r.text
    lesson = client.get(f"/lessons/{theirs}")
    assert f'href="/speakers/{pictured}"' in lesson.text and "县委党校讲师" in lesson.text
    empty = client.get(f"/speakers/{plain}")
    assert empty.status_code == 200 and "这位主讲人还没有发布的课程" in empty.text
    assert "/photo" not in empty.text and "<img" not in empty.text.split("<main>", 1)[1]


def test_branch_and_township_pages_list_their_published_lessons(client: TestClient, settings: Settings) -> None:
    village = make_lesson(settings, "东风村的课", branch="东风村党支部", hours_ago=2)
    harbour = make_lesson(settings, "渔港的课", branch="渔港社区党支部", hours_ago=1)
    elsewhere = make_lesson(settings, "西岭的课", branch="西岭村党支部")
    make_lesson(settings, "东风村待审", branch="东风村党支部", state="awaiting_review")
    branch = client.get(f"/branches/{org_id(settings, '东风村党支部')}")
    assert branch.status_code == 200 and "东风村党支部" in branch.text
    assert ids_in(branch.text, "org-lessons") == [village] and "待审" not in branch.text
    assert f'href="/branches/{org_id(settings, "东风镇")}"' in branch.text  # up to its township
    township = client.get(f"/branches/{org_id(settings, '东风镇')}")
    assert township.status_code == 200
    assert ids_in(township.text, "org-lessons") == [harbour, village] and elsewhere not in township.text
    assert re.search(r'href="/branches/\d+">渔港社区党支部 <span class="count">1</span>', township.text)
    sea = client.get(f"/branches/{org_id(settings, '海上党支部')}")
    assert sea.status_code == 200 and "这个支部还没有发布的课程" in sea.text
    lesson = client.get(f"/lessons/{village}")
    assert f'href="/branches/{org_id(settings, "东风村党支部")}"' in lesson.text


def test_unknown_ids_are_404s_like_a_missing_one(client: TestClient, settings: Settings) -> None:
    with unit_of_work(context_for(settings).engine) as s:
        county = Organisation(name="连江县", kind=OrgKind.COUNTY)
        s.add(county)
        s.flush()
        county_id = county.id
    for kind, heading in (("series", "找不到这个系列"), ("speakers", "找不到这位主讲人"), ("branches", "找不到这个支部")):
        missing = client.get(f"/{kind}/999999")
        assert missing.status_code == 404 and heading in missing.text, kind
        for other in ("abc", "-1", "1.5", "99999999999999999999", "²", "１２"):
            r = client.get(f"/{kind}/{other}")
            assert (r.status_code, r.text) == (404, missing.text), (kind, other)
    county_page = client.get(f"/branches/{county_id}")
    assert (county_page.status_code, county_page.text) == (404, client.get("/branches/999999").text)


def test_hostile_names_and_words_are_shown_as_text(client: TestClient, settings: Settings) -> None:
    series = make_series(settings, HOSTILE, HOSTILE)
    speaker = make_speaker(settings, HOSTILE, title=HOSTILE, bio=HOSTILE)
    lesson_id = make_lesson(settings, HOSTILE + " 稻田", series_id=series, episode=1, speaker_id=speaker,
                            description=HOSTILE, said=("今天讲稻田灌溉 " + HOSTILE,))
    for path in (f"/series/{series}", f"/speakers/{speaker}", f"/lessons/{lesson_id}", "/",
                 f"/branches/{org_id(settings, '东风村党支部')}", "/search?q=稻田灌溉", f"/search?q={HOSTILE}"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert_escaped(r.text)
    found = client.get("/search?q=稻田灌溉")
    assert ids_in(found.text.replace("<ol", "<ul").replace("</ol>", "</ul>"), "search-results") == [lesson_id]
    assert "<mark>" in found.text  # the snippet's own markup is kept, and only that


def test_the_search_page_finds_what_was_said_and_links_to_the_moment(client: TestClient,
                                                                    settings: Settings) -> None:
    said = ("同志们好。", "今天讲讲合作社怎么带动大家增收。", "下面请大家谈一谈体会。")
    lesson_id = make_lesson(settings, "田间地头讲党课", said=said, featured=True)
    plain = make_lesson(settings, "另一节讲合作社增收的课", said=("合作社增收要靠大家。",))
    make_lesson(settings, "没发布的合作社增收", state="awaiting_review", said=("合作社增收。",))
    blank = client.get("/search")
    assert blank.status_code == 200 and 'id="search-form"' in blank.text and 'id="search-help"' in blank.text
    assert client.get("/search?q=%20%20").status_code == 200
    r = client.get("/search?q=合作社增收")
    assert r.status_code == 200
    assert "找到 2 节课" in r.text and "没发布" not in r.text
    hits = re.findall(rf'href="/lessons/{lesson_id}\?t=(\d+(?:\.\d+)?)"', r.text)
    assert hits == ["4"]  # the second sentence starts at 4 s
    assert re.search(r"<mark>合作社</mark>", r.text)
    only_featured = client.get("/search?q=合作社增收&featured=1")
    assert lesson_id in only_featured.text and plain not in only_featured.text
    assert 'name="featured" value="1" checked' in only_featured.text
    elsewhere = make_lesson(settings, "西岭村也讲合作社增收", branch="西岭村党支部", said=("合作社增收。",))
    in_dongfeng = client.get(f"/search?q=合作社增收&township={org_id(settings, '东风镇')}")
    assert lesson_id in in_dongfeng.text and plain in in_dongfeng.text and elsewhere not in in_dongfeng.text
    assert re.search(r'<option value="\d+" selected>东风镇</option>', in_dongfeng.text)
    year = (utcnow() - timedelta(hours=1)).year  # uploaded an hour ago, never recorded on a date
    this_year = client.get(f"/search?q=合作社增收&year={year}")
    assert elsewhere in this_year.text and f'<option value="{year}" selected>{year} 年</option>' in this_year.text
    assert elsewhere not in client.get(f"/search?q=合作社增收&year={year - 3}").text
    past_the_end = client.get("/search?q=合作社增收&page=9")
    assert past_the_end.status_code == 200 and "这一页没有结果了" in past_the_end.text
    nothing = client.get("/search?q=宇宙飞船")
    assert nothing.status_code == 200 and 'id="search-empty"' in nothing.text
    # Unknown filter values are ignored, not errors.
    assert client.get("/search?q=合作社&category=nope&township=x&year=abc&page=-3").status_code == 200
    # Every library page has the search box, a plain GET form.
    assert 'id="header-search" class="header-search" method="get" action="/search"' in client.get("/").text


def test_the_lesson_page_carries_the_play_beacon_for_published_lessons_only(client: TestClient,
                                                                           settings: Settings) -> None:
    published = make_lesson(settings, "已发布的课")
    unpublished = make_lesson(settings, "待审的课", state="awaiting_review")
    r = client.get(f"/lessons/{published}")
    assert f'"playsUrl": "/api/v1/lessons/{published}/plays"' in r.text and "popularity.js" in r.text
    make_account(settings, "dongfeng", "uploader", "东风村党支部")
    own = client.get(f"/lessons/{unpublished}", headers={"Authorization": f"Bearer {token_for(client, 'dongfeng')}"})
    assert own.status_code == 200 and '"playsUrl": null' in own.text


def test_browse_pages_send_validators_and_cache_headers(client: TestClient, settings: Settings) -> None:
    series = make_series(settings, "系列")
    make_lesson(settings, "一课", series_id=series, episode=1)
    speaker = make_speaker(settings, "讲师")
    for path in (f"/series/{series}", f"/speakers/{speaker}", f"/branches/{org_id(settings, '东风镇')}",
                 "/search?q=一课", "/categories/skills?sort=popular"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["etag"] and r.headers["cache-control"], path
        again = client.get(path, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304, path


def test_a_series_with_nothing_published_says_so(client: TestClient, settings: Settings) -> None:
    """Something with nothing published still has its page, saying so, and is not on the home."""
    series = make_series(settings, "还没开讲的系列")
    make_lesson(settings, "待审一集", series_id=series, episode=1, state="awaiting_review")
    r = client.get(f"/series/{series}")
    assert r.status_code == 200 and "这个系列还没有发布的课程" in r.text and "待审一集" not in r.text
    assert f'href="/series/{series}"' not in client.get("/").text
