"""Members' star ratings (十佳党课) on the seeded county of tests/catalog/test_reports_figures.py: off by default
(every route 404 ratings_disabled, no stars on the lesson page); on, one rating per account and lesson (rating again
replaces it), published lessons only (an unpublished one its township's organiser sees is 409, one the caller cannot
see 404 exactly like a missing lesson), 1 to 5 stars (422 otherwise), the mean and count on the lesson, and the
period's ranking (ties share a rank; a township; a minimum number of ratings). The page's form works without
JavaScript (a cookie login with its CSRF token)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.app import create_app
from api.presenters import lesson_public
from catalog.accounts import create_account
from catalog.db import unit_of_work
from catalog.lifecycle import Viewer
from catalog.models import Lesson, Role
from tests.catalog.test_reports_figures import County, seed_county
from tests.support.accounts import PASSWORD, bearer, form_login, token_for
from workers.settings import Settings
from workers.wiring import context_for

MEMBERS = [f"member{n}" for n in range(4)]


@dataclass
class World:
    settings: Settings
    client: TestClient
    county: County
    auth: dict[str, dict[str, str]]
    lessons: dict[str, str]  # title -> id

    def put(self, who: str | None, lesson: str, stars: Any) -> Any:
        return self.client.put(f"/api/v1/lessons/{self.lessons.get(lesson, lesson)}/rating", json={"stars": stars},
                               headers=self.auth[who] if who else {})


def _world(tmp_path: Path, *, enabled: bool) -> Iterator[World]:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var", ratings_enabled=enabled)
    engine = context_for(settings).engine
    county = seed_county(engine)
    with unit_of_work(engine) as s:
        for name in MEMBERS:
            create_account(s, username=name, role="uploader", password=PASSWORD, org="南湖一村党支部", actor="test")
        create_account(s, username="dongfeng", role="organiser", password=PASSWORD, org="东风镇", actor="test")
        lessons = {lesson.title: lesson.id for lesson in s.exec(select(Lesson)).all()}
    with TestClient(create_app(settings), follow_redirects=False) as client:
        auth = {name: bearer(token_for(client, name)) for name in [*MEMBERS, "dongfeng"]}
        yield World(settings, client, county, auth, lessons)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, enabled=True)


@pytest.fixture
def switched_off(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, enabled=False)


# Lessons of the seed (tests/catalog/test_reports_figures.py names them 第<n>课 in seed order).
DONGFENG_Q1 = "第0课"  # 东风一村, published, Q1
DONGFENG_Q2 = "第1课"  # 东风一村, published, Q2
AWAITING = "第6课"  # 东风三村, awaiting review
XILING_Q1 = "第16课"  # 西岭一村, published, Q1


def test_ratings_are_off_by_default(switched_off: World) -> None:
    w = switched_off
    assert Settings().ratings_enabled is False
    r = w.put("member0", DONGFENG_Q1, 5)
    assert (r.status_code, r.json()["code"]) == (404, "ratings_disabled")
    assert w.client.get("/api/v1/ratings/ranking").status_code == 404
    assert w.client.get(f"/api/v1/lessons/{w.lessons[DONGFENG_Q1]}/rating").status_code == 404
    page = w.client.get(f"/lessons/{w.lessons[DONGFENG_Q1]}", headers=w.auth["member0"])
    assert page.status_code == 200 and 'id="rating"' not in page.text and "ratings.js" not in page.text
    assert w.client.get(f"/api/v1/lessons/{w.lessons[DONGFENG_Q1]}").json()["rating"] is None


def test_one_rating_per_account_and_lesson_and_the_mean(world: World) -> None:
    w = world
    for who, stars in zip(MEMBERS, (5, 4, 4, 2), strict=True):
        assert w.put(who, DONGFENG_Q1, stars).status_code == 200
    again = w.put("member3", DONGFENG_Q1, 3)  # replaces member3's 2
    assert again.json() == {"average": 4.0, "count": 4, "mine": 3}
    mine = w.client.get(f"/api/v1/lessons/{w.lessons[DONGFENG_Q1]}/rating", headers=w.auth["member1"])
    assert mine.json() == {"average": 4.0, "count": 4, "mine": 4}
    anyone = w.client.get(f"/api/v1/lessons/{w.lessons[DONGFENG_Q1]}/rating")
    assert anyone.json() == {"average": 4.0, "count": 4, "mine": None}
    with unit_of_work(context_for(w.settings).engine) as s:
        lesson = s.get(Lesson, w.lessons[DONGFENG_Q1])
        assert lesson is not None
        public = lesson_public(s, lesson, Viewer(), ratings_enabled=True)
        assert public.rating is not None and (public.rating.average, public.rating.count) == (4.0, 4)
        assert lesson_public(s, lesson, Viewer()).rating is None
    detail = w.client.get(f"/api/v1/lessons/{w.lessons[DONGFENG_Q1]}").json()  # the lesson's own JSON carries it
    assert detail["rating"]["average"] == 4.0 and detail["rating"]["count"] == 4


def test_who_may_rate_what(world: World) -> None:
    w = world
    nobody = w.put(None, DONGFENG_Q1, 5)
    assert nobody.status_code == 401 and nobody.headers["www-authenticate"].startswith("Bearer")
    for stars in (0, 6, "五", None, 3.5):
        assert w.put("member0", DONGFENG_Q1, stars).status_code == 422, stars
    # 东风镇's organiser sees the lesson awaiting review in their township, but only published lessons are rated.
    seen = w.put("dongfeng", AWAITING, 5)
    assert (seen.status_code, seen.json()["code"]) == (409, "rating_not_allowed")
    missing = w.put("member0", uuid.uuid4().hex, 5)
    unseen = w.put("member0", AWAITING, 5)  # 南湖一村's member does not see 东风's unpublished lesson
    assert (unseen.status_code, unseen.json()) == (404, missing.json()) and missing.json()["code"] == "lesson_not_found"


def test_the_ranking_of_a_period(world: World) -> None:
    w = world
    votes = {DONGFENG_Q1: (5, 5, 4), XILING_Q1: (5, 5, 4), "第2课": (3,), "第4课": (5, 5, 5, 1), DONGFENG_Q2: (5,)}
    for title, stars in votes.items():
        for who, n in zip(MEMBERS, stars, strict=False):
            assert w.put(who, title, n).status_code == 200
    r = w.client.get("/api/v1/ratings/ranking", params={"period": "2026Q1"})
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(i["rank"], i["lesson_id"], i["average"], i["count"]) for i in items] == [
        (1, w.lessons[DONGFENG_Q1], 4.67, 3), (1, w.lessons[XILING_Q1], 4.67, 3), (3, w.lessons["第4课"], 4.0, 4),
        (4, w.lessons["第2课"], 3.0, 1)]  # 第1课 is of Q2
    assert items[0]["url"] == f"/lessons/{w.lessons[DONGFENG_Q1]}" and items[0]["branch"] == "东风一村党支部"
    few = w.client.get("/api/v1/ratings/ranking", params={"period": "2026Q1", "min_ratings": 3}).json()["items"]
    assert [i["lesson_id"] for i in few] == [w.lessons[t] for t in (DONGFENG_Q1, XILING_Q1, "第4课")]
    xiling = w.client.get("/api/v1/ratings/ranking", params={"period": "2026", "township": "西岭乡"}).json()
    assert [i["lesson_id"] for i in xiling["items"]] == [w.lessons[XILING_Q1]]
    assert w.client.get("/api/v1/ratings/ranking", params={"period": "2026Q7"}).status_code == 422
    assert w.client.get("/api/v1/ratings/ranking", params={"township": "北山镇"}).status_code == 404
    # The organisers' report shows the period's ranking when ratings are on.
    report = w.client.get("/reports", params={"period": "2026Q1"}, headers=w.auth["dongfeng"])
    assert 'id="ranking"' in report.text and report.text.index(w.lessons[DONGFENG_Q1]) < report.text.index(
        w.lessons["第4课"])


def test_the_lesson_page_form_works_without_javascript(world: World) -> None:
    w = world
    lesson_id = w.lessons[DONGFENG_Q1]
    anonymous = w.client.get(f"/lessons/{lesson_id}")
    assert 'id="rating"' in anonymous.text and 'id="rating-form"' not in anonymous.text  # a link to log in
    logged_in = form_login(w.client, "member0", PASSWORD, f"/lessons/{lesson_id}")
    assert logged_in.status_code == 303
    page = w.client.get(f"/lessons/{lesson_id}")
    assert 'id="rating-form"' in page.text and "ratings.js" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    forged = w.client.post(f"/lessons/{lesson_id}/rating", data={"stars": "4", "csrf_token": "wrong"})
    assert forged.status_code == 403
    rated = w.client.post(f"/lessons/{lesson_id}/rating", data={"stars": "4", "csrf_token": csrf.group(1)})
    assert rated.status_code == 303 and rated.headers["location"] == f"/lessons/{lesson_id}#rating"
    assert w.client.get(f"/api/v1/lessons/{lesson_id}/rating").json() == {"average": 4.0, "count": 1, "mine": 4}
    # A script's PUT with the same cookie needs the CSRF header.
    assert w.client.put(f"/api/v1/lessons/{lesson_id}/rating", json={"stars": 2}).status_code == 403
    ok = w.client.put(f"/api/v1/lessons/{lesson_id}/rating", json={"stars": 2},
                      headers={"X-CSRF-Token": csrf.group(1)})
    assert ok.json() == {"average": 2.0, "count": 1, "mine": 2}
    bad = w.client.post(f"/lessons/{lesson_id}/rating", data={"stars": "9", "csrf_token": csrf.group(1)})
    assert bad.status_code == 422 and "1 到 5" in bad.text
    w.client.cookies.clear()
    to_login = w.client.post(f"/lessons/{lesson_id}/rating", data={"stars": "4"})
    assert to_login.status_code == 303 and to_login.headers["location"].startswith("/login?next=")


def test_rating_roles_are_plain_accounts(world: World) -> None:
    """Any account rates, organisers and the county's staff included (they are members too)."""
    assert world.put("dongfeng", DONGFENG_Q1, 5).status_code == 200
    assert Role.ORGANISER == "organiser"
