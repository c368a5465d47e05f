"""GET /api/v1/search: published lessons by title, speaker, category and what they say, with marked moments."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi.testclient import TestClient

from catalog import captions
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.lifecycle import ReviewAction, Viewer
from catalog.models import CaptionSource, LessonStatus, ReviewState, Role
from catalog.organisations import branch_for_name
from catalog.review import review_lesson
from workers.settings import Settings
from workers.wiring import context_for

REVIEWER = Viewer(username="王审核", role=Role.REVIEWER, account_id=None)


def _lesson(settings: Settings, title: str, said: list[str], *, branch: str | None = None,
            publish: bool = True) -> str:
    with unit_of_work(context_for(settings).engine) as s:
        branch_id = branch_for_name(s, branch).id if branch else None
        lesson = create_lesson(s, fields=LessonFields(title=title), original_key=f"originals/{title}",
                               original_sha256=hashlib.sha256(title.encode()).hexdigest(), size_bytes=1,
                               original_filename=None, branch_id=branch_id)
        captions.create_version(s, lesson.id, source=CaptionSource.AUTO, language="zh", segments=[
            captions.SegmentFacts(2.0 * i, 2.0 * i + 2.0, text) for i, text in enumerate(said)])
        lesson.caption_version, lesson.status, lesson.review_state = 1, LessonStatus.READY, ReviewState.AWAITING_REVIEW
        s.add(lesson)
        s.flush()
        if publish:
            review_lesson(s, lesson, REVIEWER, action=ReviewAction.APPROVE)
        return lesson.id


def _search(c: Any, **params: Any) -> dict[str, Any]:
    r = c.get("/api/v1/search", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_anyone_finds_published_lessons_by_words_pinyin_and_traditional_spelling(
        anonymous: TestClient, stack_settings: Settings) -> None:
    party = _lesson(stack_settings, "微党课：初心使命", ["同志们好。", "今天讲<b>党课</b>&学习"], branch="东风村党支部")
    _lesson(stack_settings, "乡村振兴", ["党的建设离不开上课。"])
    hidden = _lesson(stack_settings, "党课草稿", ["党课"], publish=False)
    body = _search(anonymous, q="党课")
    assert body["total"] == 1 and [x["id"] for x in body["lessons"]] == [party]
    lesson = body["lessons"][0]
    assert lesson["branch"]["name"] == "东风村党支部" and lesson["title"] == "微党课：初心使命" and lesson["score"] > 0
    (hit,) = body["hits"]
    assert (hit["lesson_id"], hit["start_s"], hit["end_s"]) == (party, 2.0, 4.0)
    assert hit["snippet"] == "今天讲&lt;b&gt;<mark>党课</mark>&lt;/b&gt;&amp;学习"
    assert hidden not in {x["id"] for x in _search(anonymous, q="草稿")["lessons"]}
    assert [x["id"] for x in _search(anonymous, q="DK")["lessons"]] == [party]
    assert [x["id"] for x in _search(anonymous, q="初心使命 黨課")["lessons"]] == [party]  # Traditional 黨課


def test_filters_pages_and_a_blank_query(client: TestClient, stack_settings: Settings) -> None:
    a = _lesson(stack_settings, "防汛知识一", ["大家好。"], branch="东风村党支部")
    b = _lesson(stack_settings, "防汛知识二", ["大家好。"], branch="渔港社区党支部")
    with unit_of_work(context_for(stack_settings).engine) as s:
        branch_a = branch_for_name(s, "东风村党支部").id
    assert [x["id"] for x in _search(client, q="防汛", branch_id=branch_a)["lessons"]] == [a]
    assert _search(client, q="防汛", has_subtitles=True)["total"] == 0  # no subtitle files were made
    first, second = _search(client, q="防汛", limit=1), _search(client, q="防汛", limit=1, offset=1)
    assert first["total"] == second["total"] == 2
    assert {first["lessons"][0]["id"], second["lessons"][0]["id"]} == {a, b}
    for q in (None, "", " \u3000 "):
        r = client.get("/api/v1/search", params={} if q is None else {"q": q})
        assert (r.status_code, r.json()["code"], r.json()["message"]) == (422, "invalid_request", "请输入要搜索的词")
