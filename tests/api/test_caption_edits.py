"""The caption-editing contract without a worker: validation in Chinese, versions, conflicts, regeneration queued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from catalog import captions, jobs
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import CaptionSource, JobState, Lesson, LessonStatus
from tests.support.accounts import login_as
from tests.support.stacks import build_embedded
from workers.settings import Settings
from workers.wiring import context_for

RECOGNISED = [captions.SegmentFacts(0.5, 3.0, "大家好，欢迎来到今天的数学课。", avg_logprob=-0.3, no_speech_prob=0.02,
                                    compression_ratio=1.2),
              captions.SegmentFacts(3.0, 6.0, "长方形有四条变。", avg_logprob=-1.3, no_speech_prob=0.1,
                                    compression_ratio=1.3, low_confidence=True)]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return build_embedded(tmp_path / "var")  # type: ignore[no-any-return]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A county reviewer, 王老师."""
    with TestClient(create_app(settings)) as c:
        login_as(c, settings, "wanglaoshi", "reviewer")
        yield c


def _ready_lesson(settings: Settings, *, transcribed: bool = True, published: bool = False) -> str:
    """A processed 10-s lesson, with the automatic transcript when `transcribed`, in the library when
    `published`."""
    ctx = context_for(settings)
    with unit_of_work(ctx.engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title="数学课"), original_key="originals/x",
                               original_sha256="d" * 64, size_bytes=1, original_filename="x.mp4")
        lesson.duration_s, lesson.media_kind, lesson.status, lesson.progress = 10.0, "video", LessonStatus.READY, 100
        steps = {"probe": "media", "renditions": "media", "transcribe": "asr", "captions": "media"}
        jobs.ensure_jobs(s, lesson.id, steps)
        for job in jobs.list_jobs(s, lesson.id):
            job.state = JobState.DONE
            s.add(job)
        if transcribed:
            captions.create_version(s, lesson.id, source=CaptionSource.AUTO, segments=RECOGNISED, language="zh",
                                    engine="faster-whisper", model="whisper-base", detected_language="zh",
                                    language_probability=0.98, review_reasons=("low_confidence",))
            lesson.caption_version = 1
        if published:
            lesson.review_state = "published"
        s.add(lesson)
        return lesson.id


def _edit(client: TestClient, lesson_id: str, segments: list[dict[str, Any]], **extra: Any) -> Any:
    return client.post(f"/api/v1/lessons/{lesson_id}/captions",
                       json={"segments": segments, **extra})


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_transcript_shows_segments_with_confidence_and_review_reasons(client: TestClient, settings: Settings) -> None:
    lesson_id = _ready_lesson(settings)
    body = client.get(f"/api/v1/lessons/{lesson_id}/transcript").json()
    assert (body["version"], body["source"], body["published_version"]) == (1, "auto", 1)
    assert body["needs_review"] and body["review_reasons"] == ["low_confidence"]
    assert [(s["text"], s["low_confidence"]) for s in body["segments"]] == [
        ("大家好，欢迎来到今天的数学课。", False), ("长方形有四条变。", True)]
    assert 0 < body["segments"][1]["confidence"] < body["segments"][0]["confidence"] <= 1
    detail = client.get(f"/api/v1/lessons/{lesson_id}").json()
    assert detail["captions"]["state"] == "ready" and detail["caption_version"] == 1


def test_edit_is_stored_as_a_new_version_and_regeneration_is_queued(client: TestClient, settings: Settings) -> None:
    lesson_id = _ready_lesson(settings)
    r = _edit(client, lesson_id, [{"start_s": 0.5, "end_s": 3.0, "text": "大家好，欢迎来到今天的数学课。"},
                                  {"start_s": 3.0, "end_s": 6.0, "text": "长方形有四条边。"}],
              note="改正错别字", base_version=1)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["version"], body["source"], body["author"], body["published_version"]) == (2, "edited",
                                                                                           "wanglaoshi", 1)
    assert body["segments"][1]["text"] == "长方形有四条边。" and body["segments"][1]["confidence"] is None
    history = client.get(f"/api/v1/lessons/{lesson_id}/captions/versions").json()
    assert [(v["version"], v["source"], v["author"], v["published"]) for v in history["versions"]] == [
        (1, "auto", None, True), (2, "edited", "wanglaoshi", False)]
    detail = client.get(f"/api/v1/lessons/{lesson_id}").json()
    assert detail["status"] == "ready" and detail["progress"] == 100
    assert detail["captions"]["state"] == "processing"
    assert (detail["captions"]["version"], detail["captions"]["latest_version"]) == (1, 2)
    assert {j["step"]: j["state"] for j in detail["jobs"]}["captions"] == "pending"
    assert client.get(f"/api/v1/lessons/{lesson_id}/transcript?version=1").json()["segments"][1]["text"] == (
        "长方形有四条变。")


def test_the_public_reads_the_published_version_only(client: TestClient, settings: Settings) -> None:
    """A correction waiting for its subtitle files, or an earlier revision's words, is not the library's."""
    lesson_id = _ready_lesson(settings, published=True)
    assert _edit(client, lesson_id, [{"start_s": 0.5, "end_s": 3.0, "text": "草稿里的新说法。"}],
                 note="县里内部的修改意见", base_version=1).status_code == 201
    assert client.get(f"/api/v1/lessons/{lesson_id}/transcript").json()["version"] == 2  # the reviewer's draft
    with TestClient(create_app(settings)) as anonymous:
        body = anonymous.get(f"/api/v1/lessons/{lesson_id}/transcript").json()
        assert (body["version"], body["author"], body["note"]) == (1, None, None)
        assert "草稿" not in str(body) and body["segments"][0]["text"] == "大家好，欢迎来到今天的数学课。"
        assert anonymous.get(f"/api/v1/lessons/{lesson_id}/transcript?version=1").json()["version"] == 1
        for version in (2, 3):  # the draft, and one that does not exist, answer alike
            r = anonymous.get(f"/api/v1/lessons/{lesson_id}/transcript?version={version}")
            assert r.status_code == 404 and r.json()["code"] == "transcript_not_found", r.text
        assert anonymous.get(f"/api/v1/lessons/{lesson_id}/captions/versions").status_code == 401


def test_an_edit_racing_the_approval_does_not_land_in_the_published_lesson(
        client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The branch may edit its captions until the lesson is published. An edit whose permission was read just
    before a reviewer's approval committed is refused, not stored behind the approval's back: the approval is
    committed here while the edit is being checked (a race that cannot be timed otherwise)."""
    import workers.caption_edits
    from catalog.lessons import get_lesson
    from catalog.lifecycle import Viewer
    from catalog.models import Role
    from catalog.organisations import branch_for_name
    from catalog.review import review_lesson
    from tests.support.accounts import bearer, make_account, token_for

    lesson_id = _ready_lesson(settings)
    make_account(settings, "dongfeng", "uploader", "东风村党支部")
    with unit_of_work(context_for(settings).engine) as s:
        lesson = get_lesson(s, lesson_id)
        assert lesson is not None
        lesson.branch_id, lesson.review_state = branch_for_name(s, "东风村党支部").id, "awaiting_review"
    branch = bearer(token_for(client, "dongfeng"))
    segments = [{"start_s": 0.5, "end_s": 3.0, "text": "审核前改好的字幕。"}]
    assert client.post(f"/api/v1/lessons/{lesson_id}/captions", json={"segments": segments},
                       headers=branch).status_code == 201  # before the approval: the branch's to edit
    real_parse = workers.caption_edits.parse_edited_segments

    def approved_meanwhile(*args: Any, **kwargs: Any) -> Any:
        with unit_of_work(context_for(settings).engine) as s:
            review_lesson(s, get_lesson(s, lesson_id), Viewer(username="wanglaoshi", role=Role.REVIEWER),
                          action="approve", reasons=[], comment=None, notes=[])
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(workers.caption_edits, "parse_edited_segments", approved_meanwhile)
    late = client.post(f"/api/v1/lessons/{lesson_id}/captions",
                       json={"segments": [{"start_s": 0.5, "end_s": 3.0, "text": "批准时偷偷改的字幕。"}]},
                       headers=branch)
    assert late.status_code == 403 and late.json()["code"] == "forbidden", late.text
    versions = client.get(f"/api/v1/lessons/{lesson_id}/captions/versions").json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]  # the racing edit stored nothing
    assert client.get(f"/api/v1/lessons/{lesson_id}").json()["review_state"] == "published"


@pytest.mark.parametrize(("segments", "fragment"), [
    ([{"start_s": 0, "end_s": 4, "text": "第一句"}, {"start_s": 3, "end_s": 5, "text": "第二句"}], "重叠"),
    ([{"start_s": 8, "end_s": 12, "text": "超出时长"}], "时长"),
    ([{"start_s": 1, "end_s": 2, "text": "   "}], "没有文字"),
    ([{"start_s": 2, "end_s": 1, "text": "倒过来"}], "早于"),
])
def test_invalid_edits_are_refused_in_chinese_and_nothing_is_stored(
    client: TestClient, settings: Settings, segments: list[dict[str, Any]], fragment: str
) -> None:
    lesson_id = _ready_lesson(settings)
    r = _edit(client, lesson_id, segments)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "captions_invalid" and fragment in r.json()["message"], r.json()
    assert len(client.get(f"/api/v1/lessons/{lesson_id}/captions/versions").json()["versions"]) == 1


def test_stale_edits_typed_authors_empty_lists_and_missing_lessons_are_refused(
    client: TestClient, settings: Settings
) -> None:
    lesson_id = _ready_lesson(settings)
    ok = [{"start_s": 0, "end_s": 2, "text": "大家好"}]
    assert _edit(client, lesson_id, ok, base_version=1).status_code == 201
    stale = _edit(client, lesson_id, ok, base_version=1)
    assert stale.status_code == 409 and stale.json()["code"] == "caption_version_conflict"
    assert _chinese(stale.json()["message"])
    # The author is the account: nobody can type somebody else's name.
    typed = client.post(f"/api/v1/lessons/{lesson_id}/captions", json={"author": "县长", "segments": ok})
    assert typed.status_code == 422 and typed.json()["code"] == "invalid_request"
    # An empty list would delete the subtitles: refused.
    empty = client.post(f"/api/v1/lessons/{lesson_id}/captions", json={"segments": []})
    assert empty.status_code == 422 and "字幕" in empty.json()["message"]
    assert len(client.get(f"/api/v1/lessons/{lesson_id}/captions/versions").json()["versions"]) == 2
    missing = client.get("/api/v1/lessons/nope/transcript")
    assert missing.status_code == 404 and missing.json()["code"] == "lesson_not_found"


def test_a_reviewer_can_type_captions_where_none_were_recognised(client: TestClient, settings: Settings) -> None:
    lesson_id = _ready_lesson(settings, transcribed=False)  # e.g. a dialect Whisper could not read
    r = client.get(f"/api/v1/lessons/{lesson_id}/transcript")
    assert r.status_code == 404 and r.json()["code"] == "transcript_not_found" and _chinese(r.json()["message"])
    r = _edit(client, lesson_id, [{"start_s": 0, "end_s": 2, "text": "大家好"}], base_version=None)
    assert r.status_code == 201, r.text
    body = client.get(f"/api/v1/lessons/{lesson_id}/transcript").json()
    assert (body["version"], body["source"], body["language"]) == (1, "edited", "zh")
    assert [s["text"] for s in body["segments"]] == ["大家好"]
    with unit_of_work(context_for(settings).engine) as s:
        states = {j.step: j.state for j in jobs.list_jobs(s, lesson_id)}
    assert states["captions"] == JobState.PENDING  # the files, tracks and open captions are made from it


def test_captions_cannot_be_typed_while_the_lesson_is_still_processing(
    client: TestClient, settings: Settings
) -> None:
    lesson_id = _ready_lesson(settings, transcribed=False)
    with unit_of_work(context_for(settings).engine) as s:
        lesson = s.get(Lesson, lesson_id)
        assert lesson is not None
        lesson.status = LessonStatus.PROCESSING  # speech recognition may still make version 1
        s.add(lesson)
    r = _edit(client, lesson_id, [{"start_s": 0, "end_s": 2, "text": "大家好"}])
    assert r.status_code == 404 and r.json()["code"] == "transcript_not_found"
