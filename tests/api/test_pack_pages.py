"""The audio packs' pages (党课随身听), server-rendered (no browser): the list and a pack's page with the size on the
download button before anyone downloads, the progress of a build, older versions with their expiry date, the help
for the elderly's helpers; the form that makes a pack, for the county's staff and the townships' organisers only,
refusing a forged post, keeping the user's input when the catalog refuses it, and keeping the order of hand-picked
lessons; the rebuild button; hostile titles shown as text. Packs are built in-process with real MP3s
(workers.packs.build_version, the task's body). The browser side is tests/web/test_pack_pages_web.py."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.routes.pack_pages import hours_minutes, size_label
from catalog import packs as catalog_packs
from catalog.db import unit_of_work
from catalog.models import AudioPack, AudioPackVersion, Lesson
from tests.support.accounts import PASSWORD, form_login, import_county, make_account
from tests.support.packs import published_audio_lesson
from workers import packs as pack_worker
from workers.settings import Settings
from workers.wiring import context_for

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_ATTRIBUTE = '"><img src=x onerror=alert(1)>'


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    import_county(settings)  # 东风镇: 东风村党支部, 渔港社区党支部; 西岭乡: 西岭村党支部, 海上党支部
    return settings  # type: ignore[no-any-return]


def _client(settings: Settings) -> TestClient:
    from api.app import create_app

    return TestClient(create_app(settings), follow_redirects=False)


@pytest.fixture
def public(settings: Settings) -> Iterator[TestClient]:
    with _client(settings) as c:
        yield c


def log_in(client: TestClient, settings: Settings, username: str, role: str, org: str | None = None) -> str:
    """An account, logged in through the form (a cookie session, as a browser); its CSRF token."""
    make_account(settings, username, role, org)
    r = form_login(client, username, PASSWORD, "/packs")
    assert r.status_code == 303, r.text
    page = client.get("/packs")
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def organiser(settings: Settings) -> Iterator[tuple[TestClient, str]]:
    with _client(settings) as c:
        yield c, log_in(c, settings, "zuzhiyuan", "organiser", "东风镇")


@pytest.fixture
def reviewer(settings: Settings) -> Iterator[tuple[TestClient, str]]:
    with _client(settings) as c:
        yield c, log_in(c, settings, "xianli", "reviewer")


def make_pack(settings: Settings, title: str, lesson_ids: list[str], *, audience: str | None = "老年党员") -> int:
    """A pack made as an administrator would, its first version planned (building; no worker runs here)."""
    from catalog.lifecycle import Viewer
    from catalog.models import Role

    pack, _ = pack_worker.make_pack(context_for(settings), Viewer(username="admin", role=Role.ADMIN), title=title,
                                    audience=audience, lesson_ids=lesson_ids)
    return pack.id or 0


def newest(settings: Settings, pack_id: int) -> AudioPackVersion:
    with unit_of_work(context_for(settings).engine) as s:
        pack = s.get(AudioPack, pack_id)
        assert pack is not None
        version = catalog_packs.newest_version(s, pack)
        assert version is not None
        s.expunge(version)
        return version


def build(settings: Settings, pack_id: int) -> AudioPackVersion:
    """Build the pack's newest version in-process, as the `media.pack` task would."""
    pack_worker.build_version(context_for(settings), newest(settings, pack_id).id or 0)
    return newest(settings, pack_id)


def lessons(settings: Settings, edition: Path, titles: list[str], **kw: Any) -> list[str]:
    return [published_audio_lesson(settings, t, edition, **kw) for t in titles]


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags out, entities decoded, spaces squeezed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_sizes_and_durations_read_plainly() -> None:
    assert size_label(58 * 1048576 + 300_000) == "58 MB"
    assert size_label(4_400_000) == "4.2 MB" and size_label(300_000) == "0.3 MB"
    assert hours_minutes(65 * 60 + 10) == "1小时05分" and hours_minutes(45 * 60) == "45分钟"
    assert hours_minutes(6) == "1分钟" and hours_minutes(0) == "0分钟"


def test_the_list_shows_every_pack_with_its_size_before_the_download(
        settings: Settings, public: TestClient, audio_edition_mp3: Path) -> None:
    ids = lessons(settings, audio_edition_mp3, ["秸秆还田", "渔船安全", "红色课堂"])
    ready = make_pack(settings, "2026年第3季度 党课随身听", ids, audience="海上党支部")
    built = build(settings, ready)
    building = make_pack(settings, "正在做的包", ids[:1])
    with unit_of_work(context_for(settings).engine) as s:
        version = s.get(AudioPackVersion, newest(settings, building).id)
        assert version is not None
        version.progress = 40
    doomed = lessons(settings, audio_edition_mp3, ["会被删掉的课"])
    failed = make_pack(settings, "会失败的包", doomed)
    with unit_of_work(context_for(settings).engine) as s:
        s.delete(s.get(Lesson, doomed[0]))
    assert build(settings, failed).status == "failed"

    r = public.get("/packs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    items = re.findall(r'<li class="pack" id="pack-(\d+)".*?</li>\n  \n?', r.text, re.S)
    assert [int(i) for i in items] == [failed, building, ready]  # newest first
    page = text_of(r.text)
    size = size_label(built.size_bytes)
    assert built.size_bytes > 0 and f"下载（{size}）" in page
    assert f'href="/api/v1/packs/{ready}/download?version=1"' in r.text
    head = public.head(f"/api/v1/packs/{ready}/download?version=1")
    assert int(head.headers["content-length"]) == built.size_bytes
    assert "收听对象：海上党支部" in page and "3 节课" in page and "共 1分钟" in page
    assert "可下载" in page and "生成中" in page and "40%" in page
    assert '<progress max="100" value="40"' in r.text
    assert "生成失败：音频包里有课程已被删除，请重新生成" in page
    assert f'href="/packs/{ready}"' in r.text
    assert "制作音频包" not in page  # only staff see the button
    assert 'http-equiv="refresh"' in r.text  # a building pack refreshes the page without JavaScript


def test_staff_see_the_make_button_and_the_nav_leads_to_the_packs(
        settings: Settings, organiser: tuple[TestClient, str], public: TestClient) -> None:
    client, _ = organiser
    assert 'href="/packs/new"' in client.get("/packs").text
    home = public.get("/").text
    assert 'id="nav-packs" href="/packs"' in home and 'id="packs-link"' in home
    assert "还没有音频包" in text_of(public.get("/packs").text)


def test_a_packs_page_lists_its_tracks_older_versions_the_feed_and_how_to_copy_it(
        settings: Settings, reviewer: tuple[TestClient, str], public: TestClient, audio_edition_mp3: Path) -> None:
    client, csrf = reviewer
    ids = lessons(settings, audio_edition_mp3, ["第一课 秸秆还田", "第二课 渔船安全", "第三课 红色课堂"])
    pack_id = make_pack(settings, "农技随身听", ids)
    r = public.get(f"/packs/{pack_id}")
    assert r.status_code == 200
    assert "生成中" in text_of(r.text) and 'data-pack-progress' in r.text and "下载（" not in r.text
    v1 = build(settings, pack_id)

    r = public.get(f"/packs/{pack_id}")
    page = text_of(r.text)
    assert f"下载（{size_label(v1.size_bytes)}）" in page and "第 1 版" in page
    tracks = re.findall(r'<li class="track" data-lesson-id="([^"]*)">', r.text)
    assert tracks == ids
    with unit_of_work(context_for(settings).engine) as s:
        names = [t.filename for t in catalog_packs.version_tracks(s, v1.id or 0)]
    positions = [r.text.index(name) for name in names]
    assert positions == sorted(positions) and names[0].startswith("01")
    assert f'href="/feeds/packs/{pack_id}.xml"' in r.text and "订阅" in page
    assert "全部解压" in page and "按 01、02、03 的顺序" in page and f"weike packs write {pack_id}" in page
    assert "重新生成" not in page and "以前的版本" not in page

    # A lesson withdrawn by the county: at once nothing holding it downloads and the page no longer lists it.
    withdrawn = client.post(f"/api/v1/lessons/{ids[1]}/review", json={"action": "withdraw", "reasons": ["other"]},
                            headers={"X-CSRF-Token": csrf})
    assert withdrawn.status_code == 200, withdrawn.text
    r = public.get(f"/packs/{pack_id}")
    page = text_of(r.text)
    assert "暂不能下载" in page and "有课程已撤下" in page and "下载（" not in page and "/download" not in r.text
    assert re.findall(r'<li class="track" data-lesson-id="([^"]*)">', r.text) == [ids[0], ids[2]]
    assert "重新生成" not in r.text  # staff only
    assert f'action="/packs/{pack_id}/rebuild"' in client.get(f"/packs/{pack_id}").text
    forged = client.post(f"/packs/{pack_id}/rebuild", data={"csrf_token": "forged"})
    assert forged.status_code == 403 and newest(settings, pack_id).version == 1
    r = client.post(f"/packs/{pack_id}/rebuild", data={"csrf_token": csrf})
    assert (r.status_code, r.headers["location"]) == (303, f"/packs/{pack_id}")
    building = text_of(public.get(f"/packs/{pack_id}").text)
    assert "第 2 版" in building and "生成中" in building and "下载上一版" not in building
    again = client.post(f"/packs/{pack_id}/rebuild", data={"csrf_token": csrf})
    assert again.status_code == 409 and "正在生成" in text_of(again.text)
    v2 = build(settings, pack_id)
    r = public.get(f"/packs/{pack_id}")
    page = text_of(r.text)
    assert f"下载（{size_label(v2.size_bytes)}）" in page and "以前的版本" not in page
    assert re.findall(r'<li class="track" data-lesson-id="([^"]*)">', r.text) == [ids[0], ids[2]]

    # Rebuilt for another reason, version 2 stays downloadable beside version 3, dated.
    assert client.post(f"/packs/{pack_id}/rebuild", data={"csrf_token": csrf}).status_code == 303
    building = text_of(public.get(f"/packs/{pack_id}").text)
    assert f"下载上一版（第 2 版，{size_label(v2.size_bytes)}）" in building
    v3 = build(settings, pack_id)
    r = public.get(f"/packs/{pack_id}")
    page = text_of(r.text)
    assert f"下载（{size_label(v3.size_bytes)}）" in page
    with unit_of_work(context_for(settings).engine) as s:
        old = s.exec(select(AudioPackVersion).where(AudioPackVersion.pack_id == pack_id,
                                                    AudioPackVersion.version == 2)).one()
        expires = old.expires_at
    assert expires is not None
    day = (expires.replace(tzinfo=UTC) if expires.tzinfo is None else expires).astimezone(catalog_packs.COUNTY_TZ)
    assert f"下载第 2 版（{size_label(v2.size_bytes)}） 保留到 {day.year}年{day.month}月{day.day}日" in page
    assert f'href="/api/v1/packs/{pack_id}/download?version=2"' in r.text
    assert day.date() - datetime.now(catalog_packs.COUNTY_TZ).date() in (timedelta(days=89), timedelta(days=90))

    # Withdrawn one by one, the pack empties: nothing to download, nothing named, and no rebuild makes one.
    for lesson_id in (ids[0], ids[2]):
        assert client.post(f"/api/v1/lessons/{lesson_id}/review", json={"action": "withdraw", "reasons": ["other"]},
                           headers={"X-CSRF-Token": csrf}).status_code == 200
    assert pack_worker.sweep_packs(context_for(settings))["rebuilt"] == 0
    r = public.get(f"/packs/{pack_id}")
    assert "课程都已撤下" in text_of(r.text) and "/download" not in r.text and 'class="track"' not in r.text
    assert public.get(f"/api/v1/packs/{pack_id}/download").status_code == 409


def test_the_form_is_for_the_county_staff_and_organisers(settings: Settings, public: TestClient,
                                                         organiser: tuple[TestClient, str]) -> None:
    for method in ("GET", "POST"):
        r = public.request(method, "/packs/new")
        assert (r.status_code, r.headers["location"]) == (303, "/login?next=/packs/new")
    with _client(settings) as uploader:
        csrf = log_in(uploader, settings, "cunli", "uploader", "东风村党支部")
        r = uploader.get("/packs/new")
        assert r.status_code == 403 and "只有县审核员、乡镇组织员和管理员可以制作音频包" in text_of(r.text)
        r = uploader.post("/packs/new", data={"csrf_token": csrf, "title": "偷偷做", "source": "featured"})
        assert r.status_code == 403
        assert "制作音频包" not in text_of(uploader.get("/packs").text)
    client, _ = organiser
    r = client.get("/packs/new")
    assert r.status_code == 200
    quarter = catalog_packs.quarter_of(datetime.now(catalog_packs.COUNTY_TZ).date())
    year, q = quarter.split("Q")
    assert f'value="{year}年第{q}季度 党课随身听"' in r.text
    assert re.search(rf'<option value="{quarter}" data-title="[^"]+" selected>', r.text)
    assert len(re.findall(r'<select id="pack-quarter".*?</select>', r.text, re.S)[0].split("<option")) == 5
    for audience in ("老年党员", "海上党支部", "居家党员", "流动党员"):
        assert f'<option value="{audience}">' in r.text
    assert 'name="csrf_token"' in r.text and 'name="spoken_intros" value="1" checked' in r.text
    with unit_of_work(context_for(settings).engine) as s:
        assert s.exec(select(AudioPack)).first() is None


def test_a_forged_form_makes_nothing(settings: Settings, organiser: tuple[TestClient, str],
                                     audio_edition_mp3: Path) -> None:
    client, _ = organiser
    lessons(settings, audio_edition_mp3, ["精品课"], featured=True)
    for token in ("forged", ""):
        r = client.post("/packs/new", data={"csrf_token": token, "title": "伪造的", "source": "featured"})
        assert r.status_code == 403 and "页面已过期" in text_of(r.text)
    with unit_of_work(context_for(settings).engine) as s:
        assert s.exec(select(AudioPack)).first() is None


def test_a_pack_of_a_quarters_lessons_is_made_and_starts_building(
        settings: Settings, organiser: tuple[TestClient, str], audio_edition_mp3: Path) -> None:
    client, csrf = organiser
    this_quarter = catalog_packs.quarter_of(datetime.now(catalog_packs.COUNTY_TZ).date())
    earlier = catalog_packs.previous_quarter(datetime.now(catalog_packs.COUNTY_TZ).date())
    start, _ = catalog_packs.quarter_bounds(earlier)
    inside = [published_audio_lesson(settings, f"上季度第{i}课", audio_edition_mp3,
                                     published_at=(start + timedelta(days=3 + i)).astimezone(UTC)) for i in (1, 2)]
    # Published now: the helper's default (an hour ago) falls in the previous quarter in a quarter's first hour.
    published_audio_lesson(settings, "本季度的课", audio_edition_mp3, published_at=datetime.now(UTC))
    form = client.get("/packs/new").text
    assert re.search(rf'<option value="{earlier}" data-title="[^"]+">[^<]*，2 节</option>', form)
    assert re.search(rf'<option value="{this_quarter}" data-title="[^"]+" selected>[^<]*（本季度），1 节</option>', form)
    r = client.post("/packs/new", data={"csrf_token": csrf, "title": "上季度 党课随身听", "audience": "老年党员",
                                        "source": "quarter", "quarter": earlier, "category": "", "order": ""})
    assert r.status_code == 303, text_of(r.text)
    pack_id = int(r.headers["location"].rsplit("/", 1)[1])
    got = client.get(f"/api/v1/packs/{pack_id}").json()
    assert got["selection"] == {"quarter": earlier} and got["status"] == "building" and not got["spoken_intros"]
    assert got["order"] == "date" and [t["lesson_id"] for t in got["tracks"]] == inside
    page = text_of(client.get(r.headers["location"]).text)
    assert "上季度 党课随身听" in page and "季度新发布的课" in page and "按发布日期排列" in page


def test_hand_picked_lessons_keep_the_order_they_were_ticked_in(
        settings: Settings, organiser: tuple[TestClient, str], audio_edition_mp3: Path) -> None:
    client, csrf = organiser
    ids = lessons(settings, audio_edition_mp3, ["甲课", "乙课", "丙课", "丁课"])
    listed = re.findall(r'name="lesson_ids" value="([^"]+)"', client.get("/packs/new").text)
    assert listed == ids[::-1]  # newest first
    chosen = [ids[2], ids[0], ids[3]]
    base = {"csrf_token": csrf, "title": "自选的包", "source": "picked", "spoken_intros": "1"}
    # Without JavaScript: the order of the list, as the browser sends the boxes.
    r = client.post("/packs/new", data={**base, "lesson_ids": chosen})
    assert r.status_code == 303, text_of(r.text)
    got = client.get(f"/api/v1/packs/{r.headers['location'].rsplit('/', 1)[1]}").json()
    assert [t["lesson_id"] for t in got["tracks"]] == chosen and got["order"] == "manual" and got["spoken_intros"]
    # With packs.js: the order they were ticked in.
    ticked = [ids[3], ids[2], ids[0]]
    r = client.post("/packs/new", data={**base, "lesson_ids": chosen, "picked_order": ",".join(ticked)})
    got = client.get(f"/api/v1/packs/{r.headers['location'].rsplit('/', 1)[1]}").json()
    assert [t["lesson_id"] for t in got["tracks"]] == ticked
    # 按发布日期: oldest first, whatever the ticks.
    r = client.post("/packs/new", data={**base, "lesson_ids": chosen, "order": "date"})
    got = client.get(f"/api/v1/packs/{r.headers['location'].rsplit('/', 1)[1]}").json()
    assert [t["lesson_id"] for t in got["tracks"]] == [ids[0], ids[2], ids[3]]


def test_a_refused_form_comes_back_in_chinese_with_the_input_kept(
        settings: Settings, organiser: tuple[TestClient, str], audio_edition_mp3: Path) -> None:
    client, csrf = organiser
    ids = lessons(settings, audio_edition_mp3, ["甲课", "乙课"])
    base = {"csrf_token": csrf, "audience": "海上党支部", "source": "picked", "lesson_ids": [ids[1]],
            "order": "date"}
    r = client.post("/packs/new", data={**base, "title": "   "})
    assert r.status_code == 422
    page = text_of(r.text)
    assert "音频包名称不能为空" in page
    assert 'value="海上党支部"' in r.text and 'name="source" value="picked" checked' in r.text
    assert f'name="lesson_ids" value="{ids[1]}" checked' in r.text
    assert f'name="lesson_ids" value="{ids[0]}">' in r.text  # not ticked
    assert 'name="order" value="date" checked' in r.text and 'name="spoken_intros" value="1">' in r.text

    r = client.post("/packs/new", data={**base, "title": "太长" * 200})
    assert r.status_code == 422 and "音频包名称最多 200 个字" in text_of(r.text)
    r = client.post("/packs/new", data={**base, "title": "空的", "lesson_ids": []})
    assert r.status_code == 422 and "请在下面的课程列表里至少勾选一节课" in text_of(r.text)
    r = client.post("/packs/new", data={**base, "title": "空的季度", "source": "quarter", "quarter": "2001Q1"})
    assert r.status_code == 422 and "所选范围内没有可以放进音频包的已发布课程" in text_of(r.text)
    assert 'value="空的季度"' in r.text
    r = client.post("/packs/new", data={**base, "title": "没选分类", "source": "category"})
    assert r.status_code == 422 and "请选择分类" in text_of(r.text)
    r = client.post("/packs/new", data={**base, "title": "没有的课", "lesson_ids": ["nosuchlesson"]})
    assert r.status_code == 422 and "有课程尚未发布或没有音频" in text_of(r.text)
    r = client.post("/packs/new", data={**base, "title": "坏季度", "source": "quarter", "quarter": "2026Q5"})
    assert r.status_code == 422 and "季度的写法应为 2026Q3" in text_of(r.text)
    with unit_of_work(context_for(settings).engine) as s:
        assert s.exec(select(AudioPack)).first() is None


def test_a_series_or_the_featured_lessons_make_a_pack_and_a_tick_order_means_nothing_there(
        settings: Settings, organiser: tuple[TestClient, str], audio_edition_mp3: Path) -> None:
    from tests.api.test_library_browse import make_series

    client, csrf = organiser
    series_id = make_series(settings, "党史故事")
    for episode in (2, 1):
        published_audio_lesson(settings, f"党史故事 第{episode}集", audio_edition_mp3, series_id=series_id,
                               episode=episode, featured=episode == 1)
    form = client.get("/packs/new").text
    assert f'<option value="{series_id}">党史故事，2 集</option>' in form and "全部精品课（1 节）" in form
    r = client.post("/packs/new", data={"csrf_token": csrf, "title": "党史故事", "source": "series",
                                        "series_id": str(series_id), "order": "manual"})
    assert r.status_code == 303, text_of(r.text)
    got = client.get(f"/api/v1/packs/{r.headers['location'].rsplit('/', 1)[1]}").json()
    assert got["order"] == "episode" and [t["title"] for t in got["tracks"]] == ["党史故事 第1集", "党史故事 第2集"]
    assert "系列“党史故事”" in text_of(client.get(r.headers["location"]).text)
    r = client.post("/packs/new", data={"csrf_token": csrf, "title": "精品", "source": "featured"})
    got = client.get(f"/api/v1/packs/{r.headers['location'].rsplit('/', 1)[1]}").json()
    assert got["selection"] == {"featured": True} and len(got["tracks"]) == 1


def test_hostile_titles_and_audiences_are_shown_as_text(
        settings: Settings, organiser: tuple[TestClient, str], public: TestClient, audio_edition_mp3: Path) -> None:
    client, csrf = organiser
    ids = lessons(settings, audio_edition_mp3, [HOSTILE_SCRIPT, HOSTILE_ATTRIBUTE], speaker=HOSTILE_ATTRIBUTE)
    r = client.post("/packs/new", data={"csrf_token": csrf, "title": HOSTILE_ATTRIBUTE + HOSTILE_SCRIPT,
                                        "audience": HOSTILE_SCRIPT, "source": "picked", "lesson_ids": ids})
    assert r.status_code == 303, text_of(r.text)
    pack_id = int(r.headers["location"].rsplit("/", 1)[1])
    build(settings, pack_id)
    refused = client.post("/packs/new", data={"csrf_token": csrf, "title": "", "audience": HOSTILE_ATTRIBUTE,
                                              "source": "picked", "lesson_ids": ids})
    assert refused.status_code == 422
    for page in (public.get("/packs").text, public.get(f"/packs/{pack_id}").text, client.get("/packs/new").text,
                 refused.text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    detail = public.get(f"/packs/{pack_id}").text
    assert "<title>&#34;&gt;&lt;img" in detail and 'content="党课随身听音频包：&#34;&gt;&lt;img' in detail


def test_an_unknown_pack_is_a_chinese_404_page(public: TestClient) -> None:
    for path in ("/packs/9999", "/packs/abc", "/packs/1%3Cscript%3E"):
        r = public.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert "找不到这个音频包" in text_of(r.text)


def test_expiry_dates_are_the_countys() -> None:
    from api.routes.pack_pages import china_date

    assert china_date(datetime(2027, 3, 4, 17, 0)) == "2027年3月5日"  # naive: UTC, as SQLite gives it back
    assert china_date(datetime(2027, 3, 4, 15, 59, tzinfo=UTC)) == "2027年3月4日"
