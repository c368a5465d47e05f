"""Finding lessons by what they say: the published captions are searchable, with times."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from catalog import captions
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import CaptionSource
from catalog.search import reindex_lesson
from tests.support.stacks import stack
from workers.settings import Settings
from workers.wiring import context_for


@pytest.fixture(params=["embedded", "services"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with stack(request.param, tmp_path / "var", request) as s:
        yield s  # type: ignore[misc]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def _lesson(settings: Settings, title: str, versions: list[list[tuple[float, float, str]]], *,
            published: int | None, speaker: str | None = None, review_state: str | None = "published") -> str:
    """A lesson whose caption version `published` is what viewers see; county review says `review_state`."""
    with unit_of_work(context_for(settings).engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title=title, speaker=speaker), original_key=f"originals/{title}",
                               original_sha256=hashlib.sha256(title.encode()).hexdigest(), size_bytes=1,
                               original_filename=f"{title}.mp4")
        for number, segments in enumerate(versions, start=1):
            captions.create_version(
                s, lesson.id, source=CaptionSource.AUTO if number == 1 else CaptionSource.EDITED, language="zh",
                segments=[captions.SegmentFacts(a, b, text) for a, b, text in segments])  # fmt: skip
        lesson.caption_version = published
        lesson.review_state = review_state
        s.add(lesson)
        reindex_lesson(s, lesson)  # as the captions step and review decisions do
        return lesson.id


def test_search_finds_what_published_captions_say_with_times(client: TestClient, settings: Settings) -> None:
    rice = _lesson(settings, "水稻种植", [[(0.0, 3.0, "今天讲水稻育秧。"), (3.0, 6.0, "秧苗要注意保温。")]], published=1)
    # Version 2 corrects "羊苗" but is still being processed: version 1 is what viewers see, so it is searched.
    fish = _lesson(settings, "渔船安全", [[(0.0, 4.0, "出海前检查救生衣。")], [(0.0, 4.0, "出海前检查救生衣和秧苗。")]],
                   published=1)
    _lesson(settings, "未识别", [[(0.0, 2.0, "秧苗")]], published=None)  # recognised, not yet published
    # Not approved by the county yet: the public finds nothing of it, not even that it exists.
    _lesson(settings, "待审核", [[(0.0, 2.0, "秧苗育苗")]], published=1, review_state="awaiting_review")
    body = client.get("/api/v1/transcripts/search", params={"q": "秧苗"}).json()
    assert body["total"] == 1
    (hit,) = body["items"]
    assert (hit["lesson_id"], hit["title"], hit["start_s"], hit["end_s"]) == (rice, "水稻种植", 3.0, 6.0)
    assert hit["text"] == "秧苗要注意保温。"
    assert client.get("/api/v1/transcripts/search", params={"q": "救生衣"}).json()["items"][0]["lesson_id"] == fish
    # LIKE wildcards are literal: "%" finds nothing rather than everything.
    assert client.get("/api/v1/transcripts/search", params={"q": "%"}).json()["total"] == 0
    assert client.get("/api/v1/transcripts/search", params={"q": ""}).status_code == 422
    blank = client.get("/api/v1/transcripts/search", params={"q": " \u3000 "})
    assert (blank.status_code, blank.json()["code"], blank.json()["message"]) == (422, "invalid_request", "请输入要搜索的词")


def test_search_words_must_all_match_and_traditional_spelling_finds_simplified(client: TestClient,
                                                                               settings: Settings) -> None:
    rice = _lesson(settings, "水稻种植", [[(0.0, 3.0, "今天讲水稻育秧。"), (3.0, 6.0, "秧苗要注意保温。")]], published=1)
    fish = _lesson(settings, "渔船安全", [[(0.0, 4.0, "出海前检查救生衣。"), (4.0, 8.0, "天冷也要保温。")]], published=1,
                   speaker="林船长")

    def hits(q: str) -> list[tuple[str, float]]:
        body = client.get("/api/v1/transcripts/search", params={"q": q}).json()
        return [(item["lesson_id"], item["start_s"]) for item in body["items"]]

    def lessons(q: str) -> set[str]:
        return {item["id"] for item in client.get("/api/v1/lessons", params={"q": q}).json()["items"]}

    assert sorted(hits("保温")) == sorted([(rice, 3.0), (fish, 4.0)])
    assert hits("秧苗 保温") == [(rice, 3.0)]  # both words in one segment
    assert hits("秧苗\u3000保温") == [(rice, 3.0)]  # a Chinese keyboard's full-width space
    assert hits("育秧 保温") == []  # said, but in different segments
    assert lessons("育秧 保温") == {rice}  # a lesson matches when each word is somewhere in it
    assert lessons("林船长 救生衣") == {fish}  # the speaker and the speech
    assert lessons("水稻 救生衣") == set()
    assert hits("救生衣") == hits("救生衣 救生衣")
    # Typed in Traditional characters: 檢查 and 種植 find 检查 and 种植.
    assert hits("檢查") == [(fish, 0.0)]
    assert lessons("種植") == {rice}
    slides = _lesson(settings, "PPT制作入门", [[(0.0, 2.0, "打开WPS演示。")]], published=1)
    assert lessons("ppt") == {slides} and hits("wps") == [(slides, 0.0)]  # Latin letters in any case


def test_lesson_list_filters_by_title_speaker_or_speech(client: TestClient, settings: Settings) -> None:
    rice = _lesson(settings, "水稻种植", [[(0.0, 3.0, "今天讲育秧。")]], published=1)
    fish = _lesson(settings, "渔船安全", [[(0.0, 4.0, "出海前检查救生衣。")]], published=1, speaker="林船长")
    other = _lesson(settings, "党史学习", [], published=None)

    def ids(q: str) -> set[str]:
        return {item["id"] for item in client.get("/api/v1/lessons", params={"q": q}).json()["items"]}

    assert ids("育秧") == {rice}  # said in the lesson
    assert ids("渔船") == {fish}  # in the title
    assert ids("林船长") == {fish}  # the speaker
    assert ids("党史") == {other}
    assert ids("没有这个词") == set()
    assert len(ids("")) == 3  # an empty search is no filter
