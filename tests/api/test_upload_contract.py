"""The upload contract that clients rely on, without a worker: refusals, dedup, names, errors, Range."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app

pytestmark = pytest.mark.usefixtures("stack_settings")

SOME_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


def _upload(client: TestClient, data: bytes, name: str = "课堂.mp4", **form: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/lessons", files={"file": (name, data, "video/mp4")}, data=form)


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_empty_upload_is_refused_with_a_chinese_message(client: TestClient) -> None:
    r = _upload(client, b"")
    assert r.status_code == 400
    assert r.json()["code"] == "empty_file" and _chinese(r.json()["message"])


def test_oversized_upload_is_refused_before_storing(stack_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    small = stack_settings.model_copy(update={"max_upload_bytes": 1000})
    with TestClient(create_app(small)) as c:
        r = _upload(c, b"x" * 3_000_000)
        assert r.status_code == 413
        assert r.json()["code"] == "file_too_large"
        assert c.get("/api/v1/lessons").json()["total"] == 0


def test_missing_file_names_the_field_in_chinese(client: TestClient) -> None:
    r = client.post("/api/v1/lessons", data={"title": "无文件"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "invalid_request" and "文件" in body["message"]


def test_unknown_category_is_refused(client: TestClient) -> None:
    r = _upload(client, SOME_BYTES, category="不存在的分类")
    assert r.status_code == 400 and r.json()["code"] == "unknown_category"
    assert client.get("/api/v1/lessons").json()["total"] == 0


def test_same_bytes_twice_give_the_same_lesson(client: TestClient) -> None:
    first = _upload(client, SOME_BYTES, title="第一次")
    assert first.status_code == 201, first.text
    second = _upload(client, SOME_BYTES, name="another name.MP4", title="第二次")
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["title"] == "第一次"
    assert client.get("/api/v1/lessons").json()["total"] == 1


def test_uploaded_name_is_only_metadata(client: TestClient) -> None:
    r = _upload(client, SOME_BYTES + b"1", name="../../etc/-rf （村课）.MP4", branch="东风村党支部", speaker="张三",
                category="skills", recorded_on="2026-07-01", language="yue")
    assert r.status_code == 201, r.text
    lesson = r.json()
    assert lesson["title"] == "-rf （村课）"
    assert lesson["original_filename"] == "-rf （村课）.MP4"
    assert lesson["branch"]["name"] == "东风村党支部" and lesson["category"]["name"] == "技能培训"
    assert lesson["language"] == "yue" and lesson["recorded_on"] == "2026-07-01"
    assert lesson["status"] == "queued" and lesson["progress"] == 0 and lesson["error"] is None
    original = next(a for a in lesson["assets"] if a["kind"] == "original")
    assert original["sha256"] == hashlib.sha256(SOME_BYTES + b"1").hexdigest()


def test_original_is_served_byte_identical_with_range(client: TestClient) -> None:
    data = SOME_BYTES + b"range"
    lesson = _upload(client, data).json()
    url = next(a["url"] for a in lesson["assets"] if a["kind"] == "original")
    full = client.get(url, follow_redirects=False)
    if full.status_code == 307:  # S3: a presigned URL
        import httpx

        target = full.headers["location"]
        assert httpx.get(target).content == data
        part = httpx.get(target, headers={"Range": "bytes=10-19"})
    else:
        assert full.status_code == 200 and full.content == data
        part = client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]


def test_unknown_lesson_and_asset_answer_404_json(client: TestClient) -> None:
    r = client.get("/api/v1/lessons/nope")
    assert r.status_code == 404 and r.json()["code"] == "lesson_not_found"
    r = client.get("/api/v1/assets/999999/content")
    assert r.status_code == 404 and r.json()["code"] == "asset_not_found"
    r = client.get("/no/such/page")
    assert r.status_code == 404 and _chinese(r.json()["message"])


def test_health_is_503_without_a_worker(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["database"] is True and body["storage"] is True and body["workers"] == []
    assert _chinese(body["detail"]["workers"])


def test_list_filters_and_paginates(client: TestClient) -> None:
    for i in range(3):
        assert _upload(client, SOME_BYTES + bytes([i, 9]), title=f"课{i}", category="theory").status_code == 201
    _upload(client, SOME_BYTES + b"other", title="别的", language="other")
    page = client.get("/api/v1/lessons", params={"category": "theory", "limit": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    page2 = client.get("/api/v1/lessons", params={"category": "思想理论", "limit": 2, "offset": 2}).json()
    assert len(page2["items"]) == 1
    assert client.get("/api/v1/lessons", params={"language": "other"}).json()["total"] == 1
    bad = client.get("/api/v1/lessons", params={"status": "bogus"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"
