"""The library's structure through the API: speakers (讲师库) with photos, series with ordered episodes, tags, and a
lesson's details, with who may change what, the audit rows every change leaves, and search finding lessons by
their new speaker, series, tags and description once published. Runs on both stacks (SQLite with a folder store,
PostgreSQL with S3)."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import col, select

from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson
from catalog.models import AuditEntry, LessonStatus
from catalog.organisations import branch_for_name
from ingest import keys
from tests.support.accounts import bearer, make_account, token_for
from tests.support.lessons import stored_keys
from tests.support.media import ffprobe_json, run_tool
from workers.wiring import context_for

BRANCH_A, BRANCH_B = "东风村党支部", "渔港社区党支部"


def a_lesson(settings: Any, title: str, *, state: str | None = "awaiting_review", branch: str | None = BRANCH_A,
             speaker: str | None = None) -> str:
    """A processed lesson made in the catalog (no worker), in review state `state`."""
    data = f"{title} {uuid.uuid4().hex}".encode()
    sha = hashlib.sha256(data).hexdigest()
    with unit_of_work(context_for(settings).engine) as s:
        branch_id = branch_for_name(s, branch).id if branch else None
        lesson = create_lesson(s, fields=LessonFields(title=title, speaker=speaker), original_key=keys.original(sha),
                               original_sha256=sha, size_bytes=len(data), original_filename="课.mp4",
                               branch_id=branch_id)
        lesson.status, lesson.progress, lesson.duration_s, lesson.media_kind = LessonStatus.READY, 100, 60.0, "video"
        lesson.review_state = state
        s.add(lesson)
        return lesson.id


def account(client: TestClient, settings: Any, username: str, role: str, org: str | None = None) -> dict[str, str]:
    make_account(settings, username, role, org)
    return bearer(token_for(client, username))


def audit_rows(settings: Any, action: str) -> list[AuditEntry]:
    with unit_of_work(context_for(settings).engine) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))).all())


def approve(client: TestClient, lesson_id: str) -> None:
    r = client.post(f"/api/v1/lessons/{lesson_id}/review", json={"action": "approve"})
    assert r.status_code == 200, r.text


def test_a_reviewer_keeps_the_lecturer_pool_and_a_rename_reaches_the_lessons(client: TestClient,
                                                                             stack_settings: Any) -> None:
    r = client.post("/api/v1/speakers", json={"name": "  李  明 ", "title": "县委党校讲师", "bio": "讲党史二十年。"})
    assert r.status_code == 201, r.text
    speaker = r.json()
    assert (speaker["name"], speaker["title"], speaker["photo_url"]) == ("李 明", "县委党校讲师", None)
    lesson_id = a_lesson(stack_settings, "党史里的东风村", speaker="李老师")
    r = client.patch(f"/api/v1/lessons/{lesson_id}", json={"speaker_id": speaker["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["speaker"] == "李 明"  # the free-text name follows the pool's
    assert r.json()["speaker_ref"] == {"id": speaker["id"], "name": "李 明", "title": "县委党校讲师", "photo_url": None}

    r = client.patch(f"/api/v1/speakers/{speaker['id']}", json={"name": "李明", "bio": None})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["bio"], r.json()["title"]) == ("李明", None, "县委党校讲师")
    assert client.get(f"/api/v1/lessons/{lesson_id}").json()["speaker"] == "李明"
    assert [s["name"] for s in client.get("/api/v1/speakers", params={"q": "党校"}).json()["items"]] == ["李明"]
    assert client.get("/api/v1/speakers", params={"q": "没有这个人"}).json()["total"] == 0
    assert client.get(f"/api/v1/speakers/{speaker['id']}").json()["lesson_count"] == 0  # not published yet

    created, updated = audit_rows(stack_settings, "speaker_create"), audit_rows(stack_settings, "speaker_update")
    assert [(e.actor, e.subject) for e in created] == [("reviewer", f"speaker:{speaker['id']} 李 明")]
    assert json.loads(updated[0].comment or "{}") == {"name": ["李 明", "李明"], "bio": ["讲党史二十年。", None]}
    unchanged = client.patch(f"/api/v1/speakers/{speaker['id']}", json={"name": "李明"})
    assert unchanged.status_code == 200 and len(audit_rows(stack_settings, "speaker_update")) == 1

    assert client.get("/api/v1/speakers/999999").json()["code"] == "speaker_not_found"
    blank = client.post("/api/v1/speakers", json={"name": " \u200b "})
    assert (blank.status_code, blank.json()["code"]) == (422, "invalid_details")


def test_a_series_lists_its_published_episodes_in_order(client: TestClient, stack_settings: Any) -> None:
    r = client.post("/api/v1/series", json={"title": "党史故事", "description": "十二集。"})
    assert r.status_code == 201, r.text
    series_id = r.json()["id"]
    second = a_lesson(stack_settings, "第二讲")
    first = a_lesson(stack_settings, "第一讲")
    unpublished = a_lesson(stack_settings, "第三讲")
    for lesson_id, episode in ((second, 2), (first, 1), (unpublished, 3)):
        r = client.patch(f"/api/v1/lessons/{lesson_id}", json={"series_id": series_id, "episode": episode})
        assert r.status_code == 200, r.text
        assert (r.json()["series"], r.json()["episode"]) == ({"id": series_id, "title": "党史故事"}, episode)
    approve(client, second)
    approve(client, first)

    detail = client.get(f"/api/v1/series/{series_id}").json()
    assert [e["title"] for e in detail["episodes"]] == ["第一讲", "第二讲"]
    assert [e["episode"] for e in detail["episodes"]] == [1, 2] and detail["episode_count"] == 2
    assert all(e["published_at"] for e in detail["episodes"])
    listed = client.get("/api/v1/series").json()
    assert [(s["title"], s["episode_count"]) for s in listed["items"]] == [("党史故事", 2)]

    r = client.patch(f"/api/v1/series/{series_id}", json={"title": "东风村党史故事"})
    assert r.status_code == 200 and r.json()["title"] == "东风村党史故事"
    assert client.get(f"/api/v1/lessons/{first}").json()["series"]["title"] == "东风村党史故事"
    assert [e.subject for e in audit_rows(stack_settings, "series_update")] == [f"series:{series_id} 东风村党史故事"]
    assert client.get("/api/v1/series/999999").json()["code"] == "series_not_found"


def test_an_episode_number_belongs_to_one_lesson_of_a_series(client: TestClient, stack_settings: Any) -> None:
    series_id = client.post("/api/v1/series", json={"title": "种养技术"}).json()["id"]
    one, other = a_lesson(stack_settings, "柑橘修剪"), a_lesson(stack_settings, "稻田养鱼")
    assert client.patch(f"/api/v1/lessons/{one}", json={"series_id": series_id, "episode": 1}).status_code == 200
    taken = client.patch(f"/api/v1/lessons/{other}", json={"series_id": series_id, "episode": 1})
    assert (taken.status_code, taken.json()["code"]) == (409, "episode_taken")
    assert "柑橘修剪" in taken.json()["message"]
    assert client.get(f"/api/v1/lessons/{other}").json()["series"] is None  # nothing half-done
    # The same lesson may say its own number again; another series may use it.
    assert client.patch(f"/api/v1/lessons/{one}", json={"episode": 1}).status_code == 200
    elsewhere = client.post("/api/v1/series", json={"title": "电商入门"}).json()["id"]
    assert client.patch(f"/api/v1/lessons/{other}", json={"series_id": elsewhere, "episode": 1}).status_code == 200
    # An episode needs a series; leaving the series drops the number.
    lone = a_lesson(stack_settings, "无系列")
    r = client.patch(f"/api/v1/lessons/{lone}", json={"episode": 4})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_details")
    r = client.patch(f"/api/v1/lessons/{one}", json={"series_id": None})
    assert r.status_code == 200 and (r.json()["series"], r.json()["episode"]) == (None, None)
    assert client.patch(f"/api/v1/lessons/{lone}", json={"series_id": 999999}).json()["code"] == "invalid_details"
    assert client.patch(f"/api/v1/lessons/{lone}", json={"episode": 0}).status_code == 422


def test_tag_names_are_normalised_and_limited(client: TestClient, stack_settings: Any) -> None:
    lesson_id = a_lesson(stack_settings, "乡村振兴怎么干")
    r = client.patch(f"/api/v1/lessons/{lesson_id}",
                     json={"tags": [" 乡村振兴 ", "＃鄉村振興", "Ｅ商\u200b", "防汛\n抗旱", "E商", "#党史"]})
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == sorted(["乡村振兴", "e商", "防汛 抗旱", "党史"])
    too_long = client.patch(f"/api/v1/lessons/{lesson_id}", json={"tags": ["长" * 33]})
    assert (too_long.status_code, too_long.json()["code"]) == (422, "invalid_details")
    too_many = client.patch(f"/api/v1/lessons/{lesson_id}", json={"tags": [f"标签{i}" for i in range(11)]})
    assert (too_many.status_code, too_many.json()["code"]) == (422, "invalid_details")
    blank = client.patch(f"/api/v1/lessons/{lesson_id}", json={"tags": ["\x00\x07 "]})
    assert blank.status_code == 422
    assert client.get(f"/api/v1/lessons/{lesson_id}").json()["tags"] == sorted(["乡村振兴", "e商", "防汛 抗旱", "党史"])
    # Tags of unpublished lessons are nobody's business yet.
    assert client.get("/api/v1/tags").json() == []
    approve(client, lesson_id)
    listed = {t["name"]: t["lesson_count"] for t in client.get("/api/v1/tags").json()}
    assert listed == {"乡村振兴": 1, "e商": 1, "防汛 抗旱": 1, "党史": 1}
    assert [t["name"] for t in client.get("/api/v1/tags", params={"prefix": "鄉村"}).json()] == ["乡村振兴"]
    assert client.patch(f"/api/v1/lessons/{lesson_id}", json={"tags": []}).json()["tags"] == []


def test_a_lessons_details_change_with_one_audit_row(client: TestClient, stack_settings: Any) -> None:
    lesson_id = a_lesson(stack_settings, "旧标题")
    r = client.patch(f"/api/v1/lessons/{lesson_id}", json={
        "title": "  新标题\t好 ", "description": "第一段。\n\n\n\n第二段。  ", "tags": ["党史"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["title"], body["description"], body["tags"]) == ("新标题 好", "第一段。\n\n第二段。", ["党史"])
    assert body["published_at"] is None and body["speaker_ref"] is None and body["series"] is None
    history = client.get(f"/api/v1/lessons/{lesson_id}/history").json()["entries"]
    assert [h["action"] for h in history] == ["edit_details"]
    assert json.loads(history[0]["comment"]) == {"title": ["旧标题", "新标题 好"], "tags": [[], ["党史"]],
                                                 "description": [None, "第一段。\n\n第二段。"]}
    # Sending the same again changes nothing and writes nothing.
    assert client.patch(f"/api/v1/lessons/{lesson_id}", json={"title": "新标题 好"}).status_code == 200
    assert len(client.get(f"/api/v1/lessons/{lesson_id}/history").json()["entries"]) == 1
    listed = client.get("/api/v1/lessons", params={"limit": 200}).json()["items"]
    summary = next(item for item in listed if item["id"] == lesson_id)
    assert (summary["description"], summary["tags"]) == ("第一段。\n\n第二段。", ["党史"])
    empty = client.patch(f"/api/v1/lessons/{lesson_id}", json={"title": "   "})
    assert (empty.status_code, empty.json()["code"]) == (422, "invalid_details")
    assert client.patch(f"/api/v1/lessons/{lesson_id}", json={"description": None}).json()["description"] is None


def test_search_finds_a_published_lesson_by_its_speaker_series_tag_and_description(
        client: TestClient, anonymous: TestClient, stack_settings: Any) -> None:
    speaker = client.post("/api/v1/speakers", json={"name": "欧阳修远", "title": "渔港社区书记"}).json()
    series = client.post("/api/v1/series", json={"title": "海上安全课"}).json()
    lesson_id = a_lesson(stack_settings, "出海前的准备")
    r = client.patch(f"/api/v1/lessons/{lesson_id}", json={
        "speaker_id": speaker["id"], "series_id": series["id"], "episode": 1, "tags": ["渔船检修"],
        "description": "台风季节来临之前，逐条检查救生衣和无线电。"})
    assert r.status_code == 200, r.text
    queries = ["欧阳修远", "海上安全课", "渔船检修", "救生衣"]

    def found(who: TestClient, q: str) -> bool:
        r = who.get("/api/v1/search", params={"q": q})
        assert r.status_code == 200, r.text
        return lesson_id in {item["id"] for item in r.json()["lessons"]}

    assert not any(found(anonymous, q) for q in queries)  # not published: found by nobody outside
    approve(client, lesson_id)
    assert {q: found(anonymous, q) for q in queries} == dict.fromkeys(queries, True)
    # A renamed speaker is found by the new name.
    client.patch(f"/api/v1/speakers/{speaker['id']}", json={"name": "欧阳远航"})
    assert found(anonymous, "欧阳远航")
    client.patch(f"/api/v1/series/{series['id']}", json={"title": "渔民夜校"})
    assert found(anonymous, "渔民夜校") and not found(anonymous, "海上安全课")


def make_portrait_png(path: Path) -> Path:
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=600x900:d=1", "-frames:v", "1", "-f", "image2",
             "-c:v", "png", path)  # fmt: skip
    return path


def test_a_speakers_photo_is_reencoded_and_served_with_a_long_cache(client: TestClient, anonymous: TestClient,
                                                                     stack_settings: Any, tmp_path: Path) -> None:
    speaker_id = client.post("/api/v1/speakers", json={"name": "周红"}).json()["id"]
    png = make_portrait_png(tmp_path / "周红.png")
    r = client.put(f"/api/v1/speakers/{speaker_id}/photo", files={"file": ("周红.png", png.read_bytes(), "image/png")})
    assert r.status_code == 200, r.text
    url = r.json()["photo_url"]
    assert url.startswith(f"/api/v1/speakers/{speaker_id}/photo?v=")

    photo = anonymous.get(url)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert photo.content[:3] == b"\xff\xd8\xff" and photo.content != png.read_bytes()
    assert "immutable" in photo.headers["cache-control"] and photo.headers["etag"]
    jpeg = tmp_path / "served.jpg"
    jpeg.write_bytes(photo.content)
    stream = ffprobe_json(jpeg)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", 256, 384)
    again = anonymous.get(url, headers={"If-None-Match": photo.headers["etag"]})
    assert again.status_code == 304
    assert anonymous.get(f"/api/v1/speakers/{speaker_id}").json()["photo_url"] == url

    # HTML named like a picture is refused, and the photo stays what it was.
    hostile = client.put(f"/api/v1/speakers/{speaker_id}/photo",
                         files={"file": ("x.png", b"<html><script>alert(1)</script></html>", "image/png")})
    assert (hostile.status_code, hostile.json()["code"]) == (422, "not_a_photo")
    assert "JPEG" in hostile.json()["message"]
    broken = client.put(f"/api/v1/speakers/{speaker_id}/photo",
                        files={"file": ("y.png", png.read_bytes()[:200], "image/png")})
    assert (broken.status_code, broken.json()["code"]) == (422, "not_a_photo")
    too_large = client.put(f"/api/v1/speakers/{speaker_id}/photo",
                           files={"file": ("z.png", png.read_bytes() + b"\0" * (5 << 20), "image/png")})
    assert (too_large.status_code, too_large.json()["code"]) == (422, "not_a_photo")
    # A small file declaring a huge picture (9000 x 6000 here, over the 50-million-pixel limit) is refused by the
    # decoder before it allocates the picture, for JPEG as for PNG.
    bomb = tmp_path / "bomb.jpg"
    run_tool("ffmpeg", "-f", "lavfi", "-i", "color=c=gray:s=9000x6000", "-frames:v", "1", "-q:v", "31", bomb)
    assert bomb.stat().st_size < 2 << 20
    refused = client.put(f"/api/v1/speakers/{speaker_id}/photo",
                         files={"file": ("bomb.jpg", bomb.read_bytes(), "image/jpeg")})
    assert (refused.status_code, refused.json()["code"]) == (422, "not_a_photo")
    assert "尺寸太大" in refused.json()["message"]
    assert anonymous.get(f"/api/v1/speakers/{speaker_id}").json()["photo_url"] == url
    none_yet = client.post("/api/v1/speakers", json={"name": "无照片"}).json()["id"]
    assert anonymous.get(f"/api/v1/speakers/{none_yet}/photo").status_code == 404

    # A new photo gets a new URL, and the old file leaves the store.
    webp = tmp_path / "new.webp"
    run_tool("ffmpeg", "-f", "lavfi", "-i", "color=c=red:s=320x240:d=1", "-frames:v", "1", "-c:v", "libwebp", webp)
    r = client.put(f"/api/v1/speakers/{speaker_id}/photo", files={"file": ("new.webp", webp.read_bytes(), "image/webp")})
    assert r.status_code == 200, r.text
    assert r.json()["photo_url"] != url
    version = r.json()["photo_url"].split("v=")[1]
    assert stored_keys(stack_settings, f"speakers/{speaker_id}/") == [f"speakers/{speaker_id}/photo-{version}.jpg"]


def test_who_may_change_the_library(client: TestClient, anonymous: TestClient, stack_settings: Any) -> None:
    own = account(client, stack_settings, "uploader_a", "uploader", BRANCH_A)
    other = account(client, stack_settings, "uploader_b", "uploader", BRANCH_B)
    organiser = account(client, stack_settings, "organiser_a", "organiser", "东风镇")
    lesson_id = a_lesson(stack_settings, "支部的课")
    speaker_id = client.post("/api/v1/speakers", json={"name": "张三"}).json()["id"]
    series_id = client.post("/api/v1/series", json={"title": "系列"}).json()["id"]
    missing = client.get(f"/api/v1/lessons/{uuid.uuid4().hex}").json()

    # The branch edits its own unpublished lesson's title, description and tags; speaker and series are the county's.
    r = client.patch(f"/api/v1/lessons/{lesson_id}", headers=own, json={"title": "支部改的标题", "tags": ["党史"]})
    assert r.status_code == 200, r.text
    r = client.patch(f"/api/v1/lessons/{lesson_id}", headers=own, json={"speaker_id": speaker_id})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = client.patch(f"/api/v1/lessons/{lesson_id}", headers=organiser, json={"title": "乡镇改的"})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    # Another branch does not see it: exactly the answer for a lesson that does not exist.
    r = client.patch(f"/api/v1/lessons/{lesson_id}", headers=other, json={"title": "别的支部改的"})
    assert (r.status_code, r.json()) == (404, missing)
    assert anonymous.patch(f"/api/v1/lessons/{lesson_id}", json={"title": "x"}).status_code == 401
    approve(client, lesson_id)
    r = client.patch(f"/api/v1/lessons/{lesson_id}", headers=own, json={"title": "发布后再改"})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    assert client.get(f"/api/v1/lessons/{lesson_id}").json()["title"] == "支部改的标题"

    for path, body in (("/api/v1/speakers", {"name": "李四"}), ("/api/v1/series", {"title": "新系列"})):
        assert client.post(path, headers=own, json=body).status_code == 403
        assert anonymous.post(path, json=body).status_code == 401
    assert client.patch(f"/api/v1/speakers/{speaker_id}", headers=own, json={"name": "改名"}).status_code == 403
    assert client.patch(f"/api/v1/series/{series_id}", headers=organiser, json={"title": "改名"}).status_code == 403
    photo = client.put(f"/api/v1/speakers/{speaker_id}/photo", headers=own,
                       files={"file": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")})
    assert photo.status_code == 403
    # Bodies refuse fields they do not know.
    unknown_fields: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("POST", "/api/v1/speakers", {"name": "王五", "photo_key": "x"}),
        ("PATCH", f"/api/v1/speakers/{speaker_id}", {"created_at": "2020-01-01"}),
        ("POST", "/api/v1/series", {"title": "x", "episodes": []}),
        ("PATCH", f"/api/v1/series/{series_id}", {"id": 3}),
        ("PATCH", f"/api/v1/lessons/{lesson_id}", {"review_state": "published"}),
        ("PATCH", f"/api/v1/lessons/{lesson_id}", {"speaker": "冒名"}))
    for method, path, body in unknown_fields:
        r = client.request(method, path, json=body)
        assert (r.status_code, r.json()["code"]) == (422, "invalid_request"), (method, path)
    # Reading is public.
    assert anonymous.get("/api/v1/speakers").status_code == 200
    assert anonymous.get(f"/api/v1/series/{series_id}").status_code == 200


def test_the_desk_shows_the_lesson_details_form(client: TestClient, stack_settings: Any) -> None:
    speaker_id = client.post("/api/v1/speakers", json={"name": "陈<b>芳</b>", "title": "镇党校"}).json()["id"]
    series_id = client.post("/api/v1/series", json={"title": "红色课堂"}).json()["id"]
    lesson_id = a_lesson(stack_settings, "桥头的故事", speaker="陈芳")
    client.patch(f"/api/v1/lessons/{lesson_id}", json={"speaker_id": speaker_id, "series_id": series_id,
                                                       "episode": 3, "tags": ["党史", "红色"]})
    page = client.get(f"/review/{lesson_id}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "课程信息" in html and 'id="details-form"' in html and "lesson-details.js" in html
    assert f'<option value="{speaker_id}" selected>陈&lt;b&gt;芳&lt;/b&gt;（镇党校）</option>' in html
    assert f'<option value="{series_id}" selected>红色课堂</option>' in html
    assert 'value="3"' in html and 'value="党史，红色"' in html
    assert "<b>芳" not in html  # autoescaped everywhere
    assert client.get("/static/lesson-details.js").status_code == 200
