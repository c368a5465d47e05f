"""County review through the API: every transition with its audit row, refusals that change nothing, the 精品 mark,
the reasons, the history, and what the public sees before and after."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.app import create_app
from api.schemas import ReasonCode
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import AuditEntry, Lesson, LessonStatus
from catalog.organisations import branch_for_name
from catalog.review import REVIEW_REASONS
from tests.support.accounts import bearer, make_account, token_for
from tests.support.stacks import build_embedded
from workers.settings import Settings
from workers.wiring import context_for


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One database for the module (accounts cost an Argon2 hash each); every test makes its own lessons."""
    settings = build_embedded(tmp_path_factory.mktemp("review") / "var")
    make_account(settings, "wang", "reviewer")
    make_account(settings, "dongfeng", "uploader", "东风村党支部")
    make_account(settings, "xiling", "uploader", "西岭村党支部")
    return settings  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(api: TestClient) -> dict[str, dict[str, str]]:
    return {name: bearer(token_for(api, name)) for name in ("wang", "dongfeng", "xiling")}


def _listed(api: TestClient, lesson_id: str, **headers: str) -> bool:
    return lesson_id in {item["id"] for item in api.get("/api/v1/lessons", params={"limit": 200},
                                                        headers=headers).json()["items"]}


def _lesson(settings: Settings, *, state: str | None = "awaiting_review", status: str = LessonStatus.READY) -> str:
    with unit_of_work(context_for(settings).engine) as s:
        branch = branch_for_name(s, "东风村党支部")
        lesson = create_lesson(s, fields=LessonFields(title="田间课"), original_key="originals/x",
                               original_sha256=f"{len(s.exec(select(Lesson)).all()):064x}", size_bytes=1,
                               original_filename="x.mp4", branch_id=branch.id)
        lesson.status, lesson.review_state, lesson.duration_s = status, state, 300.0
        s.add(lesson)
        return lesson.id


def _state(settings: Settings, lesson_id: str) -> tuple[str | None, int]:
    with unit_of_work(context_for(settings).engine) as s:
        lesson = s.get(Lesson, lesson_id)
        assert lesson is not None
        rows = s.exec(select(AuditEntry).where(AuditEntry.lesson_id == lesson_id)).all()
        return lesson.review_state, len(rows)


def _review(api: TestClient, who: dict[str, str], lesson_id: str, action: str, **body: Any) -> Any:
    return api.post(f"/api/v1/lessons/{lesson_id}/review", json={"action": action, **body}, headers=who)


TRANSITIONS = [
    ("awaiting_review", "approve", {}, "published"),
    ("awaiting_review", "reject", {"reasons": ["copied"]}, "rejected"),
    ("awaiting_review", "request_revision", {"reasons": ["poor_sound"]}, "revision_requested"),
    ("published", "withdraw", {"comment": "内容需要更新"}, "withdrawn"),
    ("withdrawn", "republish", {}, "published"),
]


@pytest.mark.parametrize(("before", "action", "body", "after"), TRANSITIONS)
def test_each_valid_transition_answers_the_lesson_and_writes_its_audit_row(
        api: TestClient, settings: Settings, tokens: dict[str, dict[str, str]], before: str, action: str,
        body: dict[str, Any], after: str) -> None:
    lesson_id = _lesson(settings, state=before)
    r = _review(api, tokens["wang"], lesson_id, action, **body)
    assert r.status_code == 200, r.text
    assert r.json()["review_state"] == after and r.json()["review"]["action"] == action
    assert _state(settings, lesson_id) == (after, 1)
    (entry,) = api.get(f"/api/v1/lessons/{lesson_id}/history", headers=tokens["wang"]).json()["entries"]
    assert (entry["actor"], entry["action"], entry["from_state"], entry["to_state"]) == ("wang", action, before, after)


INVALID = [(state, action) for state in ("awaiting_review", "published", "rejected", "revision_requested",
                                         "withdrawn", None)
           for action in ("approve", "reject", "request_revision", "withdraw", "republish")
           if (state, action) not in {(b, a) for b, a, _, _ in TRANSITIONS}]


@pytest.mark.parametrize(("before", "action"), INVALID)
def test_each_invalid_transition_is_409_and_changes_nothing(api: TestClient, settings: Settings,
                                                            tokens: dict[str, dict[str, str]], before: str | None,
                                                            action: str) -> None:
    lesson_id = _lesson(settings, state=before)
    r = _review(api, tokens["wang"], lesson_id, action, reasons=["other"])
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition", r.text
    assert "审核状态" in r.json()["message"]
    assert _state(settings, lesson_id) == (before, 0)


def test_a_failed_lesson_is_not_reviewable(api: TestClient, settings: Settings,
                                           tokens: dict[str, dict[str, str]]) -> None:
    lesson_id = _lesson(settings, state="awaiting_review", status=LessonStatus.FAILED)
    assert _review(api, tokens["wang"], lesson_id, "approve").status_code == 409
    assert _state(settings, lesson_id) == ("awaiting_review", 0)


def test_turning_a_lesson_down_needs_a_reason(api: TestClient, settings: Settings,
                                              tokens: dict[str, dict[str, str]]) -> None:
    lesson_id = _lesson(settings)
    for action in ("reject", "request_revision"):
        r = _review(api, tokens["wang"], lesson_id, action, comment="不行")
        assert r.status_code == 422 and r.json()["code"] == "reason_required" and "原因" in r.json()["message"]
    bogus = _review(api, tokens["wang"], lesson_id, "reject", reasons=["not_a_reason"])
    assert bogus.status_code == 422 and bogus.json()["code"] == "invalid_request"
    sneaky = _review(api, tokens["wang"], lesson_id, "approve", review_state="published", author="县长")
    assert sneaky.status_code == 422  # unknown fields are refused, not ignored
    assert _state(settings, lesson_id) == ("awaiting_review", 0)


def test_a_rejection_carries_reasons_in_chinese_comment_and_timed_notes(api: TestClient, settings: Settings,
                                                                        tokens: dict[str, dict[str, str]]) -> None:
    lesson_id = _lesson(settings)
    r = _review(api, tokens["wang"], lesson_id, "reject", reasons=["staged", "poor_sound"], comment="请重新拍摄",
                notes=[{"at_s": 192, "text": "声音突然变小"}, {"at_s": 30.5, "text": "画面摆拍"}])
    assert r.status_code == 200, r.text
    # The branch that uploaded it reads why.
    mine = api.get(f"/api/v1/lessons/{lesson_id}", headers=tokens["dongfeng"]).json()
    review = mine["review"]
    assert mine["review_state"] == "rejected" and review["reviewer"] == "wang"
    assert [(x["code"], x["label"]) for x in review["reasons"]] == [("staged", "摆拍作秀"), ("poor_sound", "声音不清")]
    assert review["comment"] == "请重新拍摄"
    assert [(n["at_s"], n["text"]) for n in review["notes"]] == [(192.0, "声音突然变小"), (30.5, "画面摆拍")]
    late = _review(api, tokens["wang"], _lesson(settings), "reject", reasons=["other"],
                   notes=[{"at_s": 400, "text": "超出时长"}])
    assert late.status_code == 400 and "时长" in late.json()["message"]


def test_only_reviewers_review_and_others_branches_do_not_see_the_lesson(
        api: TestClient, settings: Settings, tokens: dict[str, dict[str, str]]) -> None:
    lesson_id = _lesson(settings)
    own = _review(api, tokens["dongfeng"], lesson_id, "approve")
    assert own.status_code == 403 and own.json()["code"] == "forbidden"
    other = _review(api, tokens["xiling"], lesson_id, "approve")
    assert other.status_code == 404 and other.json()["code"] == "lesson_not_found"
    anonymous = api.post(f"/api/v1/lessons/{lesson_id}/review", json={"action": "approve"})
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert _state(settings, lesson_id) == ("awaiting_review", 0)


def test_the_public_sees_a_lesson_only_while_it_is_published(api: TestClient, settings: Settings,
                                                             tokens: dict[str, dict[str, str]]) -> None:
    lesson_id = _lesson(settings)
    missing = api.get("/api/v1/lessons/does-not-exist").json()
    assert api.get(f"/api/v1/lessons/{lesson_id}").json() == missing  # indistinguishable from a missing one
    assert not _listed(api, lesson_id) and _listed(api, lesson_id, **tokens["dongfeng"])
    _review(api, tokens["wang"], lesson_id, "approve")
    public = api.get(f"/api/v1/lessons/{lesson_id}").json()
    assert public["review_state"] == "published" and public["sha256"] is None and public["jobs"] == []
    assert public["review"] is None  # the decision, its reviewer and comments stay with the branch and the county
    assert api.get(f"/api/v1/lessons/{lesson_id}", headers=tokens["dongfeng"]).json()["review"]["reviewer"] == "wang"
    assert api.get(f"/api/v1/lessons/{lesson_id}/history").status_code == 401
    elsewhere = api.get(f"/api/v1/lessons/{lesson_id}/history", headers=tokens["xiling"])
    assert elsewhere.status_code == 403 and elsewhere.json()["code"] == "forbidden"
    assert _listed(api, lesson_id) and _listed(api, lesson_id, **tokens["xiling"])
    _review(api, tokens["wang"], lesson_id, "withdraw")
    assert api.get(f"/api/v1/lessons/{lesson_id}").status_code == 404 and not _listed(api, lesson_id)
    assert api.get(f"/api/v1/lessons/{lesson_id}", headers=tokens["dongfeng"]).json()["review_state"] == "withdrawn"
    history = api.get(f"/api/v1/lessons/{lesson_id}/history", headers=tokens["dongfeng"]).json()["entries"]
    assert [e["action"] for e in history] == ["approve", "withdraw"]


def test_the_featured_mark_is_for_published_lessons_and_is_audited(api: TestClient, settings: Settings,
                                                                    tokens: dict[str, dict[str, str]]) -> None:
    lesson_id = _lesson(settings)
    early = api.post(f"/api/v1/lessons/{lesson_id}/feature", json={"featured": True}, headers=tokens["wang"])
    assert early.status_code == 409 and early.json()["code"] == "not_published"
    _review(api, tokens["wang"], lesson_id, "approve")
    by_branch = api.post(f"/api/v1/lessons/{lesson_id}/feature", json={"featured": True}, headers=tokens["dongfeng"])
    assert by_branch.status_code == 403
    r = api.post(f"/api/v1/lessons/{lesson_id}/feature", json={"featured": True}, headers=tokens["wang"])
    assert r.status_code == 200 and r.json()["featured"] is True
    again = api.post(f"/api/v1/lessons/{lesson_id}/feature", json={"featured": True}, headers=tokens["wang"])
    assert again.status_code == 200
    listed = api.get("/api/v1/lessons", params={"limit": 200}).json()["items"]
    assert next(item for item in listed if item["id"] == lesson_id)["featured"] is True
    history = api.get(f"/api/v1/lessons/{lesson_id}/history", headers=tokens["wang"]).json()["entries"]
    assert [e["action"] for e in history] == ["approve", "feature"]  # the repeat changed nothing


def test_review_reasons_are_listed_with_chinese_labels(api: TestClient) -> None:
    body = api.get("/api/v1/review-reasons").json()
    assert [(r["code"], r["label"]) for r in body] == list(REVIEW_REASONS.items())
    assert set(get_args(ReasonCode)) == set(REVIEW_REASONS)
    assert dict(list(REVIEW_REASONS.items())[:4]) == {
        "detached_from_practice": "理论脱离实际", "copied": "照搬照抄", "reused_script": "讲稿陈旧、一稿多用",
        "staged": "摆拍作秀"}
