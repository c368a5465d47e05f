"""Copy detection through the API, without a worker process: the `similarity` step runs in-process on lessons made in
the catalog (captions only, no media). GET /api/v1/lessons/{id}/similar, `possible_copy` on the lesson JSON, the
desk's section, and a reviewer's typed correction refreshing the matches both ways."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.app import create_app
from catalog import captions, jobs
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson, get_lesson
from catalog.models import CaptionSource, JobState, LessonMatch, LessonStatus, SimilarityKey
from catalog.organisations import branch_for_name
from catalog.similar_index import get_fingerprint
from catalog.similarity import FLAG_THRESHOLD, REPORT_THRESHOLD
from tests.support.accounts import bearer, form_login, make_account, token_for
from tests.support.stacks import build_embedded
from workers import pipeline
from workers.pipeline import execute_step
from workers.settings import Settings
from workers.wiring import context_for

SCRIPT = ["同志们，大家好，今天我们讲一讲秸秆还田。", "秋收以后，稻草不要烧，烧了污染空气，还浪费了肥料。",
          "我们村去年买了两台秸秆粉碎机，把秸秆打碎了直接翻进地里。", "秸秆烂在田里，土壤变松了，有机质也多了。",
          "今年的早稻长得比往年好，每亩多收了五十斤。", "村党支部组织党员先在自家田里试，大家看到效果，第二年就都跟着干了。"]
# The same script as another branch's recogniser heard it (homophones, a dropped word), a sentence added.
HEARD_AGAIN = ["同志们，大家好，今天我们讲一讲结杆还田。", "我是西岭村的党支部书记。", "秋收以后，稻草不要少，烧了污染空气，还浪费了肥料。",
               "我们村去年买了两台秸秆粉碎机，把秸秆打碎了直接翻进地里。", "秸秆烂在田里，土壤变松了，有机质也多了。",
               "今年的早稻长得比往年好，每亩多收了五十斤。", "村党支部组织党员先在自家田里是，大家看到效果，第二年就都跟着干了。"]
SAME_TOPIC = ["同志们，大家好，今天我们讲一讲秸秆怎样变成饲料。", "我们村养牛的农户多，冬天青草少，牛吃不饱。",
              "玉米秸秆收回来，用铡草机切短，装进青贮池里压实封好。", "发酵四十天以后，秸秆又香又软，牛特别爱吃。",
              "一亩地的秸秆能喂一头牛两个月，省下了不少买饲料的钱。", "村党支部请了畜牧站的技术员，手把手教大家做青贮。"]
BRANCH_A, BRANCH_B, BRANCH_C = "东风村党支部", "渔港社区党支部", "西岭村党支部"  # A, B in 东风镇; C in 西岭乡


@dataclass
class County:
    settings: Settings
    client: TestClient
    headers: dict[str, dict[str, str]]

    def get(self, who: str, url: str) -> Any:
        return self.client.get(url, headers=self.headers[who])


@pytest.fixture
def county(tmp_path: Path) -> Iterator[County]:
    settings = build_embedded(tmp_path / "var")
    with TestClient(create_app(settings)) as client:
        for name, role, org in (("shen", "reviewer", None), ("zuzhi_a", "organiser", "东风镇"),
                                ("zuzhi_c", "organiser", "西岭乡"), ("dongfeng", "uploader", BRANCH_A)):
            make_account(settings, name, role, org)
        yield County(settings, client, {name: bearer(token_for(client, name))
                                        for name in ("shen", "zuzhi_a", "zuzhi_c", "dongfeng")})


def timed(sentences: list[str]) -> list[captions.SegmentFacts]:
    out, t = [], 0.0
    for s in sentences:
        out.append(captions.SegmentFacts(round(t, 2), round(t + len(s) / 4, 2), s))
        t += len(s) / 4 + 0.5
    return out


def make_lesson(settings: Settings, title: str, branch: str, sentences: list[str], *,
                state: str = "awaiting_review") -> str:
    """A processed lesson with its captions published, as the pipeline leaves it before copy detection; then its
    `similarity` step, run here as the worker would."""
    ctx = context_for(settings)
    with unit_of_work(ctx.engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title=title), original_key=f"originals/{title}",
                               original_sha256=title.encode().hex().ljust(64, "0")[:64], size_bytes=1,
                               original_filename="录音.m4a", branch_id=branch_for_name(s, branch).id)
        lesson.duration_s, lesson.media_kind, lesson.status, lesson.progress = 60.0, "audio", LessonStatus.READY, 100
        lesson.review_state = state
        jobs.ensure_jobs(s, lesson.id, {"probe": "media", "audio_edition": "media", "transcribe": "asr",
                                        "captions": "media", "similarity": "media"})
        for job in jobs.list_jobs(s, lesson.id):
            job.state = JobState.DONE if job.step != "similarity" else JobState.PENDING
            s.add(job)
        captions.create_version(s, lesson.id, source=CaptionSource.AUTO, language="zh", segments=timed(sentences))
        lesson.caption_version = 1
        s.add(lesson)
        lesson_id = lesson.id
    execute_step(ctx, lesson_id, "similarity")
    return lesson_id


def run_pending_steps(settings: Settings, lesson_id: str) -> None:
    """What the worker does with the messages a caption edit sent: captions, then similarity."""
    ctx = context_for(settings)
    for step in ("captions", "similarity"):
        execute_step(ctx, lesson_id, step)
    with unit_of_work(ctx.engine) as s:
        assert {j.step: j.state for j in jobs.list_jobs(s, lesson_id)}["similarity"] == JobState.DONE


def test_similar_lists_the_copy_both_ways_with_signals_and_spans(county: County) -> None:
    original = make_lesson(county.settings, "秸秆还田好", BRANCH_A, SCRIPT, state="published")
    unrelated = make_lesson(county.settings, "秸秆做饲料", BRANCH_B, SAME_TOPIC)
    copy = make_lesson(county.settings, "秸秆还田（西岭）", BRANCH_C, HEARD_AGAIN)

    found = county.get("shen", f"/api/v1/lessons/{copy}/similar")
    assert found.status_code == 200, found.text
    [item] = found.json()
    assert set(item) == {"lesson_id", "title", "branch", "review_state", "score", "signals", "spans"}
    assert (item["lesson_id"], item["title"], item["branch"]["name"], item["review_state"]) == (
        original, "秸秆还田好", BRANCH_A, "published")
    assert item["score"] >= FLAG_THRESHOLD and item["signals"]["transcript"] == item["score"]
    assert item["signals"]["footage"] is None and item["signals"]["sound"] is None  # audio lessons, no sound print
    assert item["spans"] and set(item["spans"][0]) == {"start_s", "end_s", "other_start_s", "other_end_s"}
    assert all(0 <= sp["start_s"] < sp["end_s"] and 0 <= sp["other_start_s"] < sp["other_end_s"] for sp in item["spans"])
    [back] = county.get("shen", f"/api/v1/lessons/{original}/similar").json()
    assert back["lesson_id"] == copy and back["score"] == item["score"]
    assert back["spans"][0]["start_s"] == item["spans"][0]["other_start_s"]
    assert county.get("shen", f"/api/v1/lessons/{unrelated}/similar").json() == []
    flags = {lesson_id: county.get("shen", f"/api/v1/lessons/{lesson_id}").json()["possible_copy"]
             for lesson_id in (original, unrelated, copy)}
    assert flags == {original: False, unrelated: False, copy: True}  # the later of the two is the possible copy
    assert county.get("dongfeng", f"/api/v1/lessons/{original}").json()["possible_copy"] is None
    assert county.get("dongfeng", f"/api/v1/lessons/{original}/similar").status_code == 403


def test_an_organiser_sees_only_the_lessons_they_may_see(county: County) -> None:
    elsewhere = make_lesson(county.settings, "秸秆还田（西岭乡）", BRANCH_C, SCRIPT)  # awaiting review, 西岭乡
    ours = make_lesson(county.settings, "秸秆还田（东风镇）", BRANCH_A, HEARD_AGAIN)
    assert [i["lesson_id"] for i in county.get("shen", f"/api/v1/lessons/{ours}/similar").json()] == [elsewhere]
    assert county.get("zuzhi_a", f"/api/v1/lessons/{ours}/similar").json() == []  # not theirs to see
    # Nor does the flag tell them that another township has an unpublished lesson like theirs; the county's does.
    assert county.get("zuzhi_a", f"/api/v1/lessons/{ours}").json()["possible_copy"] is False
    assert county.get("shen", f"/api/v1/lessons/{ours}").json()["possible_copy"] is True
    assert county.get("zuzhi_c", f"/api/v1/lessons/{ours}/similar").status_code == 404
    with unit_of_work(context_for(county.settings).engine) as s:
        lesson = get_lesson(s, elsewhere)
        assert lesson is not None
        lesson.review_state = "published"
        s.add(lesson)
    listed = county.get("zuzhi_a", f"/api/v1/lessons/{ours}/similar").json()
    assert [i["lesson_id"] for i in listed] == [elsewhere]
    assert county.get("zuzhi_a", f"/api/v1/lessons/{ours}").json()["possible_copy"] is True  # now it may see it
    assert county.get("zuzhi_c", f"/api/v1/lessons/{elsewhere}/similar").json() == []  # ours awaits review
    assert [i["lesson_id"] for i in county.get("shen", f"/api/v1/lessons/{elsewhere}/similar").json()] == [ours]


def test_a_typed_correction_refreshes_the_matches_both_ways(county: County) -> None:
    original = make_lesson(county.settings, "秸秆还田", BRANCH_A, SCRIPT)
    later = make_lesson(county.settings, "冬季养牛", BRANCH_C, SAME_TOPIC)
    assert county.get("shen", f"/api/v1/lessons/{later}/similar").json() == []

    def correct(sentences: list[str]) -> None:
        segments = [{"start_s": s.start_s, "end_s": s.end_s, "text": s.text} for s in timed(sentences)]
        r = county.client.post(f"/api/v1/lessons/{later}/captions", headers=county.headers["shen"],
                               json={"segments": segments, "note": "按录音改正"})
        assert r.status_code == 201, r.text
        run_pending_steps(county.settings, later)

    correct(HEARD_AGAIN)  # what the speaker really said: the original's script
    [item] = county.get("shen", f"/api/v1/lessons/{later}/similar").json()
    assert item["lesson_id"] == original and item["score"] >= FLAG_THRESHOLD
    assert [i["lesson_id"] for i in county.get("shen", f"/api/v1/lessons/{original}/similar").json()] == [later]
    assert county.get("shen", f"/api/v1/lessons/{later}").json()["possible_copy"] is True

    correct(SAME_TOPIC[:3])  # corrected back: the match goes, on both sides
    assert county.get("shen", f"/api/v1/lessons/{later}/similar").json() == []
    assert county.get("shen", f"/api/v1/lessons/{original}/similar").json() == []
    assert county.get("shen", f"/api/v1/lessons/{later}").json()["possible_copy"] is False


def test_a_redelivered_step_changes_nothing(county: County) -> None:
    original = make_lesson(county.settings, "秸秆还田", BRANCH_A, SCRIPT)
    copy = make_lesson(county.settings, "秸秆还田二", BRANCH_C, HEARD_AGAIN)
    ctx = context_for(county.settings)

    def snapshot() -> tuple[Any, ...]:
        with unit_of_work(ctx.engine) as s:
            row = get_fingerprint(s, copy)
            assert row is not None
            keys = sorted(s.exec(select(SimilarityKey.key).where(SimilarityKey.fingerprint_id == row.id)).all())
            matches = sorted((m.lesson_id, m.other_id, m.score, m.spans_json) for m in s.exec(select(LessonMatch)).all())
            return row.transcript, row.caption_version, keys, matches

    before = snapshot()
    assert before[3] and {m[0] for m in before[3]} == {original, copy}
    pipeline.request_steps(ctx, copy, ["similarity"])  # asked for again (a redelivery, a backfill)
    execute_step(ctx, copy, "similarity")
    assert snapshot() == before


def test_the_flag_and_the_matches_reach_the_desk(county: County) -> None:
    original = make_lesson(county.settings, "秸秆还田好", BRANCH_A, SCRIPT, state="published")
    copy = make_lesson(county.settings, "秸秆还田（西岭）", BRANCH_C, HEARD_AGAIN)
    assert form_login(county.client, "shen", next="/review").status_code == 303
    desk = county.client.get(f"/review/{copy}")
    assert desk.status_code == 200
    assert 'id="possible-copy"' in desk.text and "疑似照搬" in desk.text
    assert f'data-url="/api/v1/lessons/{copy}/similar"' in desk.text and "/static/similar.js" in desk.text
    # similar.js reads the matches with the desk's login cookie
    assert county.client.get(f"/api/v1/lessons/{copy}/similar").json()[0]["lesson_id"] == original
    plain = county.client.get(f"/review/{original}")
    assert plain.status_code == 200 and 'id="possible-copy"' not in plain.text and 'id="similar"' in plain.text
    assert REPORT_THRESHOLD < FLAG_THRESHOLD
