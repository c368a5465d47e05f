"""ETag, 304 and Cache-Control on public JSON, pages and files, and Range on files: a county server on a thin uplink
can sit behind a cache, and a phone polling a lesson pays for the body only when it changed."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from catalog.db import unit_of_work
from catalog.models import Lesson
from workers.wiring import context_for


def _published(client: TestClient, name: str, data: bytes) -> dict[str, Any]:
    lesson = client.post("/api/v1/lessons", files={"file": (name, data, "video/mp4")}, data={"title": "缓存课"}).json()
    settings = client.app.state.settings  # type: ignore[attr-defined]
    with unit_of_work(context_for(settings).engine) as session:
        row = session.get(Lesson, lesson["id"])
        assert row is not None
        row.status, row.review_state = "ready", "published"
        session.add(row)
    return lesson


def test_public_json_answers_304_to_its_etag_and_changes_when_the_lesson_does(client: TestClient,
                                                                               anonymous: TestClient) -> None:
    lesson = _published(client, "a.mp4", b"\x00etag-json")
    url = f"/api/v1/lessons/{lesson['id']}"
    first = anonymous.get(url)
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('"')
    assert first.headers["cache-control"] == "public, max-age=60"
    assert "Authorization" in first.headers["vary"] and "Cookie" in first.headers["vary"]
    again = anonymous.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    listed = anonymous.get("/api/v1/lessons")
    assert anonymous.get("/api/v1/lessons", headers={"If-None-Match": listed.headers["etag"]}).status_code == 304
    client.post(f"/api/v1/lessons/{lesson['id']}/feature", json={"featured": True})
    changed = anonymous.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag and changed.json()["featured"] is True


def test_answers_with_credentials_are_private(client: TestClient) -> None:
    lesson = _published(client, "b.mp4", b"\x00etag-private")
    r = client.get(f"/api/v1/lessons/{lesson['id']}")  # a reviewer sees the original: no shared cache may keep it
    assert r.headers["cache-control"] == "private, no-cache"
    assert client.get(f"/api/v1/lessons/{lesson['id']}", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert client.get("/healthz").headers["cache-control"] == "no-store"


def test_files_answer_304_and_ranges(client: TestClient, anonymous: TestClient) -> None:
    data = b"\x00etag-file" + bytes(range(256)) * 20
    lesson = _published(client, "c.mp4", data)
    original = next(a for a in lesson["assets"] if a["kind"] == "original")
    first = client.get(original["url"], follow_redirects=False)
    if first.status_code == 307:  # S3: the object store answers conditionals and ranges itself
        return
    assert first.status_code == 200 and first.content == data and first.headers["etag"]
    assert client.get(original["url"], headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    part = client.get(original["url"], headers={"Range": "bytes=5-14"})
    assert part.status_code == 206 and part.content == data[5:15]


def test_pages_keep_their_own_cache_control(anonymous: TestClient) -> None:
    login = anonymous.get("/login")
    assert login.status_code == 200 and login.headers["cache-control"] == "no-store"  # it holds a form
    assert anonymous.get("/login", headers={"If-None-Match": login.headers["etag"]}).status_code == 304


def test_pages_and_json_are_gzipped_for_clients_that_accept_it(anonymous: TestClient) -> None:
    plain = anonymous.get("/login", headers={"Accept-Encoding": "identity"})
    packed = anonymous.get("/login", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers and packed.headers["content-encoding"] == "gzip"
    assert packed.text == plain.text and int(packed.headers["content-length"]) < len(plain.content)
    assert "Accept-Encoding" in packed.headers["vary"] and packed.headers["etag"] != plain.headers["etag"]
    again = anonymous.get("/login", headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]})
    assert again.status_code == 304
