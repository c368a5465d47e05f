"""The daily broadcast (党课大家听) through the API: a day's programme as JSON, as an M3U playlist and as a page, for
the county or a township; new lessons first, then 精品, then the rest; within one lesson of the configured length;
the same answer for a date whatever is published afterwards (and after a restart); withdrawn lessons drop out;
bad dates are 422 with a Chinese message. On both stacks (SQLite with a folder store, PostgreSQL with S3).

The lessons have real MP3 audio editions (tests/api/test_feeds.py makes them); the programme is one minute long
so that a handful of 4-7 s lessons fill it. Planning itself, the 30-day rule over 60 days asked in random order
and two first requests at once are in tests/catalog/test_broadcast_programme.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from catalog.broadcast import county_today
from catalog.db import unit_of_work
from catalog.lessons import get_lesson
from catalog.models import utcnow
from tests.api.test_feeds import OnAirMedia, fetch_bytes, make_on_air_lesson, on_air_media, set_state
from tests.support.accounts import import_county
from workers.settings import Settings
from workers.wiring import context_for

__all__ = ["on_air_media"]  # the fixture, from the feeds' tests

MINUTE_S = 60
REASON_ORDER = {"new": 0, "featured": 1, "library": 2}


@pytest.fixture
def settings(stack_settings: Settings) -> Settings:
    import_county(stack_settings)
    return stack_settings.model_copy(update={"broadcast_minutes": 1})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


def days_ago(n: float) -> Any:
    return utcnow() - timedelta(days=n)


def library(settings: Settings, media: OnAirMedia, *, new: int = 3, featured: int = 3, rest: int = 10,
            branch: str = "东风村党支部") -> dict[str, list[str]]:
    """Lessons published a day or two ago (new), long ago and 精品 (featured), and long ago (the rest)."""
    made: dict[str, list[str]] = {"new": [], "featured": [], "library": []}
    for n in range(new):
        made["new"].append(make_on_air_lesson(settings, media, f"新课 {n}", audio=n % 4, branch=branch,
                                              published_at=days_ago(2 - n / 10)))
    for n in range(featured):
        made["featured"].append(make_on_air_lesson(settings, media, f"精品课 {n}", audio=(n + 1) % 4, featured=True,
                                                   published_at=days_ago(90 + n)))
    for n in range(rest):
        made["library"].append(make_on_air_lesson(settings, media, f"片库课 {n}", audio=(n + 2) % 4,
                                                  published_at=days_ago(120 + n)))
    return made


def programme(client: TestClient, day: date | str, **params: Any) -> dict[str, Any]:
    r = client.get(f"/api/v1/broadcast/{day}", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def assert_full(body: dict[str, Any]) -> None:
    durations = [item["duration_s"] for item in body["items"]]
    assert durations and abs(body["duration_s"] - sum(durations)) <= 0.05 * len(durations) + 0.05
    assert abs(body["duration_s"] - body["target_s"]) <= max(durations), body


def test_new_lessons_come_first_then_featured_then_the_library_within_one_lesson_of_the_length(
        client: TestClient, settings: Settings, on_air_media: OnAirMedia) -> None:
    made = library(settings, on_air_media)
    hidden = make_on_air_lesson(settings, on_air_media, "待审的新课", state="awaiting_review")
    make_on_air_lesson(settings, on_air_media, "没有音频的课", audio=None, published_at=days_ago(2))
    day = county_today() + timedelta(days=3)
    body = programme(client, day)
    assert body["date"] == day.isoformat() and body["township"] is None and body["target_s"] == MINUTE_S
    assert_full(body)
    reasons = [item["reason"] for item in body["items"]]
    assert reasons == sorted(reasons, key=REASON_ORDER.__getitem__) and reasons[:6] == ["new"] * 3 + ["featured"] * 3
    ids = [item["lesson_id"] for item in body["items"]]
    assert ids[:3] == made["new"]  # oldest published first: none waits forever
    assert set(ids[3:6]) == set(made["featured"]) and set(ids[6:]) <= set(made["library"])
    assert hidden not in ids and len(set(ids)) == len(ids)
    assert [item["n"] for item in body["items"]] == list(range(1, len(ids) + 1))
    first = body["items"][0]
    assert (first["title"], first["speaker"], first["branch"]) == ("新课 0", "李书记", "东风村党支部")
    assert first["page_url"] == f"http://testserver/lessons/{first['lesson_id']}"
    assert fetch_bytes(client, first["audio_url"]) == on_air_media.audio[0].read_bytes()
    assert body["m3u_url"] == f"http://testserver/broadcast/{day.isoformat()}.m3u"


def test_a_date_keeps_its_programme_whatever_is_published_later(
        client: TestClient, settings: Settings, on_air_media: OnAirMedia) -> None:
    library(settings, on_air_media, new=1, featured=2, rest=14)
    future, past = county_today() + timedelta(days=5), county_today() - timedelta(days=5)
    before = {day: programme(client, day) for day in (future, past)}
    assert all(before[day]["items"] for day in before)
    assert programme(client, future) == before[future]
    late = make_on_air_lesson(settings, on_air_media, "后来发布的新课", published_at=days_ago(0.5))
    featured = make_on_air_lesson(settings, on_air_media, "后来评上的精品", featured=True, published_at=days_ago(200))
    assert programme(client, future) == before[future] and programme(client, past) == before[past]
    with TestClient(create_app(settings)) as restarted:  # another process, the same answer
        assert programme(restarted, future) == before[future] and programme(restarted, past) == before[past]
    # A date nobody asked for yet plans from what was published before it began: a later one has both lessons, an
    # earlier one neither of those published after it.
    later = [item["lesson_id"] for item in programme(client, county_today() + timedelta(days=9))["items"]]
    assert later[:2] == [late, featured]
    assert late not in {item["lesson_id"] for item in programme(client, county_today() - timedelta(days=3))["items"]}


def test_a_withdrawn_lesson_drops_out_of_a_stored_programme(
        client: TestClient, settings: Settings, on_air_media: OnAirMedia) -> None:
    library(settings, on_air_media, new=2, featured=1, rest=10)
    day = county_today() + timedelta(days=1)
    ids = [item["lesson_id"] for item in programme(client, day)["items"]]
    set_state(settings, ids[1], "withdrawn")
    after = programme(client, day)
    assert [item["lesson_id"] for item in after["items"]] == ids[:1] + ids[2:]
    assert [item["n"] for item in after["items"]] == list(range(1, len(ids)))
    set_state(settings, ids[1], "published")  # republished: it plays again in its place
    assert [item["lesson_id"] for item in programme(client, day)["items"]] == ids


def test_a_township_gets_its_own_programme_with_its_own_new_lessons_first(
        client: TestClient, settings: Settings, on_air_media: OnAirMedia) -> None:
    library(settings, on_air_media, new=0, featured=2, rest=10)
    dongfeng = [make_on_air_lesson(settings, on_air_media, f"东风村新课 {n}", branch="东风村党支部",
                                   published_at=days_ago(3 - n / 10)) for n in range(2)]
    xiling = [make_on_air_lesson(settings, on_air_media, f"海上新课 {n}", branch="海上党支部",
                                 published_at=days_ago(1 - n / 10)) for n in range(2)]
    township_id = _org_id(settings, "西岭乡")
    day = county_today() + timedelta(days=2)
    county = programme(client, day)
    assert [item["lesson_id"] for item in county["items"][:4]] == dongfeng + xiling  # oldest first
    own = programme(client, day, township=township_id)
    assert own["township"] == {"id": township_id, "name": "西岭乡"}
    assert [item["lesson_id"] for item in own["items"][:4]] == xiling + dongfeng
    assert [item["reason"] for item in own["items"][:4]] == ["new"] * 4
    assert_full(own)
    assert programme(client, day) == county  # each scope keeps its own
    assert own["m3u_url"] == f"http://testserver/broadcast/{day.isoformat()}.m3u?township={township_id}"


def test_bad_dates_and_unknown_townships_are_refused_in_chinese(client: TestClient, settings: Settings) -> None:
    today = county_today()
    for day, code in (("2026-13-01", "invalid_date"), ("2026-02-30", "invalid_date"), ("20260701", "invalid_date"),
                      ("2026-7-1", "invalid_date"), ("tomorrow", "invalid_date"), ("2026-W27-3", "invalid_date"),
                      ((today + timedelta(days=401)).isoformat(), "date_out_of_range"),
                      ((today - timedelta(days=401)).isoformat(), "date_out_of_range")):
        for path in (f"/api/v1/broadcast/{day}", f"/broadcast/{day}.m3u"):
            r = client.get(path)
            assert r.status_code == 422 and r.json()["code"] == code, (path, r.text)
            assert re.search("[\u4e00-\u9fff]", r.json()["message"]), r.json()
    assert client.get(f"/api/v1/broadcast/{(today + timedelta(days=400)).isoformat()}").status_code == 200
    assert programme(client, "today")["date"] == today.isoformat()
    for township in ("999", "abc", "-1"):
        r = client.get("/api/v1/broadcast/today", params={"township": township})
        assert r.status_code == 404 and r.json()["code"] == "township_not_found", r.text
    branch = client.get("/api/v1/broadcast/today", params={"township": _org_id(settings, "东风村党支部")})
    assert branch.status_code == 404  # a branch is not a township


def _org_id(settings: Settings, name: str) -> int:
    from sqlmodel import select

    from catalog.models import Organisation

    with unit_of_work(context_for(settings).engine) as s:
        org_id = s.exec(select(Organisation.id).where(Organisation.name == name)).one()
        assert org_id is not None
        return org_id


def test_the_playlist_is_m3u_with_absolute_urls_and_titles_on_one_line(
        client: TestClient, settings: Settings, on_air_media: OnAirMedia) -> None:
    library(settings, on_air_media, new=1, featured=1, rest=8)
    hostile = make_on_air_lesson(settings, on_air_media, "占位", published_at=days_ago(1.5))
    with unit_of_work(context_for(settings).engine) as s:  # as no form would let it through
        lesson = get_lesson(s, hostile)
        assert lesson is not None
        lesson.title = "渔港夜校\n#EXTINF:1,假的\r\nhttp://evil.example/x.mp3\u2028第二行"
        s.add(lesson)
    day = county_today() + timedelta(days=4)
    body = programme(client, day)
    r = client.get(f"/broadcast/{day.isoformat()}.m3u")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/x-mpegurl; charset=utf-8"
    lines = r.content.decode("utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and lines[1].startswith("#PLAYLIST:党课大家听")
    entries = lines[2:]
    assert len(entries) == 2 * len(body["items"])
    for (info, url), item in zip(zip(entries[::2], entries[1::2], strict=True), body["items"], strict=True):
        match = re.fullmatch(r"#EXTINF:(\d+),(.+)", info)
        assert match and int(match.group(1)) == round(item["duration_s"]), info
        assert url == item["audio_url"] and url.startswith("http://testserver/api/v1/assets/")
    assert not any(line.startswith("http://evil") for line in lines)
    [item] = [item for item in body["items"] if item["lesson_id"] == hostile]
    assert f"#EXTINF:{round(item['duration_s'])},渔港夜校 #EXTINF:1,假的 http://evil.example/x.mp3 第二行" in lines
    assert fetch_bytes(client, entries[1]) == on_air_media.audio[0].read_bytes()
    etag = r.headers["etag"]
    assert client.get(f"/broadcast/{day.isoformat()}.m3u", headers={"If-None-Match": etag}).status_code == 304


def test_the_page_shows_todays_programme_with_players_and_the_next_seven_days(
        client: TestClient, settings: Settings, on_air_media: OnAirMedia) -> None:
    made = library(settings, on_air_media, new=2, featured=2, rest=10)
    r = client.get("/broadcast")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    today = programme(client, "today")
    block = html.split('id="today-programme"', 1)[1].split("</ol>", 1)[0]
    assert re.findall(r'data-lesson-id="([0-9a-f]+)"', block) == [i["lesson_id"] for i in today["items"]]
    assert len(re.findall(r'<audio controls preload="none" src="/api/v1/assets/[0-9a-f]+/content"', block)) \
        == len(today["items"])
    assert f'href="/broadcast/{county_today().isoformat()}.m3u"' in html and "新课" in block and "精品" in block
    week = re.findall(r'<li data-date="(\d{4}-\d{2}-\d{2})">', html)
    assert week == [(county_today() + timedelta(days=n)).isoformat() for n in range(1, 8)]
    assert "西岭乡" in html and "<script" not in html.split("</header>", 1)[1]
    township = re.search(r'<option value="(\d+)">西岭乡</option>', html)
    assert township is not None
    picked = client.get(f"/broadcast?township={township.group(1)}").text
    assert "党课大家听 · 西岭乡" in picked and f'.m3u?township={township.group(1)}"' in picked
    assert client.get("/broadcast?township=nonsense").status_code == 200  # an unknown one: the county's
    assert 'href="/broadcast"' in client.get("/").text
    assert made["new"][0] in html
