"""The tus 1.0.0 server: each extension and each refusal answers as the spec says, on both stacks."""

from __future__ import annotations

import os
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from catalog.db import unit_of_work
from catalog.models import Upload
from tests.support.accounts import login_as
from tests.uploads.tus import (
    ENDPOINT,
    OCTET,
    V,
    checksum,
    context,
    create,
    head,
    incomplete_multipart_keys,
    metadata_header,
    patch,
    set_upload,
    sha256,
    staged_exists,
    stored_original,
    upload_id_of,
    upload_row,
)

DATA = os.urandom(300_000)


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_options_announces_version_extensions_limit_and_checksums(tus_client: TestClient, tus_settings: Any) -> None:
    r = tus_client.options(ENDPOINT)
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) == {
        "creation", "creation-with-upload", "termination", "checksum", "expiration"}
    assert int(r.headers["Tus-Max-Size"]) == tus_settings.max_upload_bytes
    assert set(r.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256"}


def test_chunks_become_a_lesson_with_the_uploaders_metadata(tus_client: TestClient, tus_settings: Any) -> None:
    path = create(tus_client, len(DATA), title="田间地头讲党课", branch="东风村党支部", category="skills",
                  speaker="李书记", recorded_on="2026-07-01", language="粤语", filename="VID_2026.mp4")
    first = head(tus_client, path)
    assert first.status_code == 200 and first.headers["Upload-Offset"] == "0"
    assert first.headers["Upload-Length"] == str(len(DATA)) and first.headers["Cache-Control"] == "no-store"
    assert "Upload-Expires" in first.headers and "filename" in first.headers["Upload-Metadata"]
    offset = 0
    for size in (100_000, 150_000, 50_000):
        r = patch(tus_client, path, offset, DATA[offset:offset + size])
        assert r.status_code == 204, r.text
        offset += size
        assert r.headers["Upload-Offset"] == str(offset) and r.headers["Tus-Resumable"] == "1.0.0"
    lesson_id = r.headers["Weike-Lesson-Id"]
    later = head(tus_client, path)
    assert later.headers["Weike-Lesson-Id"] == lesson_id and later.headers["Upload-Offset"] == str(len(DATA))
    lesson = tus_client.get(f"/api/v1/lessons/{lesson_id}").json()
    assert lesson["title"] == "田间地头讲党课" and lesson["speaker"] == "李书记"
    assert lesson["branch"]["name"] == "东风村党支部" and lesson["category"]["slug"] == "skills"
    assert lesson["language"] == "yue" and lesson["recorded_on"] == "2026-07-01"
    assert lesson["original_filename"] == "VID_2026.mp4" and lesson["status"] == "queued"
    assert lesson["sha256"] == sha256(DATA)
    assert sha256(stored_original(tus_settings, sha256(DATA))) == sha256(DATA)
    assert not staged_exists(tus_settings, upload_id_of(path))
    assert incomplete_multipart_keys(tus_settings) == []


def test_creation_with_upload_carries_the_first_bytes(tus_client: TestClient) -> None:
    data = os.urandom(5000)
    r = tus_client.post(ENDPOINT, content=data[:2000], headers={
        **V, **OCTET, "Upload-Length": str(len(data)), "Upload-Metadata": metadata_header(filename="a.m4a")})
    assert r.status_code == 201 and r.headers["Upload-Offset"] == "2000"
    path = "/" + r.headers["Location"].split("/", 3)[3]
    done = patch(tus_client, path, 2000, data[2000:])
    assert done.status_code == 204 and done.headers["Weike-Lesson-Id"]
    whole = tus_client.post(ENDPOINT, content=data + b"!", headers={
        **V, **OCTET, "Upload-Length": str(len(data) + 1)})
    assert whole.status_code == 201 and whole.headers["Weike-Lesson-Id"]


def test_wrong_offset_is_409_and_a_resent_chunk_is_not_stored_twice(tus_client: TestClient,
                                                                    tus_settings: Any) -> None:
    path = create(tus_client, len(DATA))
    r = patch(tus_client, path, 10, DATA[10:20])
    assert r.status_code == 409 and r.json()["code"] == "upload_offset_mismatch" and _chinese(r.json()["message"])
    assert head(tus_client, path).headers["Upload-Offset"] == "0"
    assert patch(tus_client, path, 0, DATA[:120_000]).status_code == 204
    # The answer was lost; the client sends the same chunk again: refused, nothing appended.
    again = patch(tus_client, path, 0, DATA[:120_000])
    assert again.status_code == 409
    assert head(tus_client, path).headers["Upload-Offset"] == "120000"
    assert patch(tus_client, path, 120_000, DATA[120_000:]).status_code == 204
    assert stored_original(tus_settings, sha256(DATA)) == DATA


def test_bad_checksum_is_460_and_the_chunk_is_dropped(tus_client: TestClient, tus_settings: Any) -> None:
    path = create(tus_client, len(DATA))
    chunk = DATA[:100_000]
    bad = patch(tus_client, path, 0, chunk, **{"Upload-Checksum": checksum("sha256", chunk[:-1] + b"x")})
    assert bad.status_code == 460 and bad.json()["code"] == "checksum_mismatch"
    assert head(tus_client, path).headers["Upload-Offset"] == "0"
    unknown = patch(tus_client, path, 0, chunk, **{"Upload-Checksum": checksum("md5", chunk)})
    assert unknown.status_code == 400 and unknown.json()["code"] == "checksum_algorithm_unsupported"
    assert patch(tus_client, path, 0, chunk, **{"Upload-Checksum": checksum("sha1", chunk)}).status_code == 204
    rest = DATA[100_000:]
    assert patch(tus_client, path, 100_000, rest, **{"Upload-Checksum": checksum("sha256", rest)}).status_code == 204
    assert stored_original(tus_settings, sha256(DATA)) == DATA


def test_over_the_size_is_413(tus_client: TestClient, tus_settings: Any) -> None:
    r = tus_client.post(ENDPOINT, headers={**V, "Upload-Length": str(tus_settings.max_upload_bytes + 1)})
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"
    path = create(tus_client, 1000)
    r = patch(tus_client, path, 0, b"x" * 1001)
    assert r.status_code == 413 and _chinese(r.json()["message"])
    assert head(tus_client, path).headers["Upload-Offset"] == "0"


def test_wrong_content_type_is_415(tus_client: TestClient) -> None:
    path = create(tus_client, 10)
    r = tus_client.patch(path, content=b"0123456789", headers={
        **V, "Upload-Offset": "0", "Content-Type": "application/octet-stream"})
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"


def test_wrong_or_missing_version_is_412_with_tus_version(tus_client: TestClient) -> None:
    r = tus_client.post(ENDPOINT, headers={"Tus-Resumable": "0.2.2", "Upload-Length": "10"})
    assert r.status_code == 412 and r.headers["Tus-Version"] == "1.0.0"
    assert r.json()["code"] == "tus_version_unsupported"
    path = create(tus_client, 10)
    r = tus_client.patch(path, content=b"0123456789", headers={**OCTET, "Upload-Offset": "0"})
    assert r.status_code == 412
    assert head(tus_client, path).headers["Upload-Offset"] == "0"


def test_terminated_upload_is_gone_with_its_bytes(tus_client: TestClient, tus_settings: Any) -> None:
    path = create(tus_client, len(DATA))
    assert patch(tus_client, path, 0, DATA[:1000]).status_code == 204
    r = tus_client.delete(path, headers=V)
    assert r.status_code == 204
    assert head(tus_client, path).status_code == 410
    gone = patch(tus_client, path, 1000, DATA[1000:2000])
    assert gone.status_code == 410 and gone.json()["code"] == "upload_terminated"
    assert not staged_exists(tus_settings, upload_id_of(path))
    assert incomplete_multipart_keys(tus_settings) == []


def test_an_upload_stops_when_its_account_is_disabled(tus_client: TestClient, tus_settings: Any) -> None:
    """The upload URL is the capability for its PATCHes, but it must not outlive the account: once the county
    disables it (`weike users disable`, the same code here), the next chunk is refused, the bytes go, and neither a
    PATCH nor the reconciler makes a lesson of it."""
    from datetime import timedelta

    from catalog.accounts import disable_account
    from catalog.models import Lesson, utcnow
    from workers.upload_sweeps import adopt_uploads

    path = create(tus_client, len(DATA), title="被盗账号的上传")
    assert patch(tus_client, path, 0, DATA[:100_000]).status_code == 204
    whole = create(tus_client, len(DATA), title="已传完但未登记")
    with unit_of_work(context(tus_settings).engine) as s:
        disable_account(s, "uploader", actor="admin")
    refused = patch(tus_client, path, 100_000, DATA[100_000:])
    assert refused.status_code == 403 and "账号已停用" in refused.json()["message"], refused.text
    assert head(tus_client, path).status_code == 410
    assert upload_row(tus_settings, upload_id_of(path)).state == "failed"
    assert not staged_exists(tus_settings, upload_id_of(path))
    # The reconciler, finding an upload whose bytes all arrived but whose finishing request died, refuses it the
    # same way, before reading any of them (so none are needed here).
    set_upload(tus_settings, upload_id_of(whole), offset=len(DATA), updated_at=utcnow() - timedelta(minutes=5))
    assert adopt_uploads(context(tus_settings)) == []
    assert upload_row(tus_settings, upload_id_of(whole)).state == "failed"
    with unit_of_work(context(tus_settings).engine) as s:
        assert s.exec(select(Lesson)).first() is None


def test_unknown_upload_is_404_json(tus_client: TestClient) -> None:
    assert head(tus_client, ENDPOINT + "0" * 32).status_code == 404
    r = patch(tus_client, ENDPOINT + "0" * 32, 0, b"x")
    assert r.status_code == 404 and r.json()["code"] == "upload_not_found" and _chinese(r.json()["message"])


def test_expired_upload_is_410_and_the_sweep_removes_its_bytes(tus_client: TestClient, tus_settings: Any) -> None:
    from datetime import timedelta

    from catalog.models import utcnow
    from tests.uploads.tus import context
    from workers.upload_sweeps import expire_uploads

    big = os.urandom(6 << 20)  # on S3: one 5 MiB part sent, the rest buffered on local disk
    path = create(tus_client, len(big) + 10)
    assert patch(tus_client, path, 0, big).status_code == 204
    upload_id = upload_id_of(path)
    set_upload(tus_settings, upload_id, expires_at=utcnow() - timedelta(seconds=1))
    r = patch(tus_client, path, len(big), b"0123456789")
    assert r.status_code == 410 and r.json()["code"] == "upload_expired"
    assert head(tus_client, path).status_code == 410
    assert expire_uploads(context(tus_settings)) == 1
    assert upload_row(tus_settings, upload_id).state == "expired"
    assert not staged_exists(tus_settings, upload_id)
    assert incomplete_multipart_keys(tus_settings) == []
    buffers = tus_settings.data_dir / "upload-buffers"
    assert not buffers.exists() or not any(p.name.startswith(upload_id) for p in buffers.iterdir())


def test_whole_file_mismatch_never_becomes_an_original(tus_client: TestClient, tus_settings: Any) -> None:
    path = create(tus_client, len(DATA), sha256=sha256(b"something else"))
    r = patch(tus_client, path, 0, DATA)
    assert r.status_code == 460 and r.json()["code"] == "checksum_mismatch" and _chinese(r.json()["message"])
    assert "Weike-Lesson-Id" not in r.headers
    assert head(tus_client, path).status_code == 410
    assert tus_client.get("/api/v1/lessons").json()["total"] == 0
    from tests.uploads.tus import context

    assert not context(tus_settings).storage.exists(f"originals/{sha256(DATA)[:2]}/{sha256(DATA)[2:4]}/{sha256(DATA)}")
    assert upload_row(tus_settings, upload_id_of(path)).state == "failed"
    good = create(tus_client, len(DATA), sha256=sha256(DATA))
    assert patch(tus_client, good, 0, DATA).headers["Weike-Lesson-Id"]


def test_same_bytes_as_a_multipart_upload_give_that_lesson(tus_client: TestClient) -> None:
    data = os.urandom(20_000)
    first = tus_client.post("/api/v1/lessons", files={"file": ("课.mp4", data, "video/mp4")}, data={"title": "先传"})
    assert first.status_code == 201
    path = create(tus_client, len(data), title="后传")
    r = patch(tus_client, path, 0, data)
    assert r.status_code == 204 and r.headers["Weike-Lesson-Id"] == first.json()["id"]
    assert tus_client.get("/api/v1/lessons").json()["total"] == 1


def test_metadata_is_checked_before_anything_is_stored(tus_client: TestClient, tus_settings: Any) -> None:
    r = tus_client.post(ENDPOINT, headers={**V, "Upload-Length": "10",
                                           "Upload-Metadata": metadata_header(category="没有这个分类")})
    assert r.status_code == 400 and r.json()["code"] == "unknown_category"
    r = tus_client.post(ENDPOINT, headers={**V, "Upload-Length": "10",
                                           "Upload-Metadata": metadata_header(recorded_on="七月一日")})
    assert r.status_code == 400 and r.json()["code"] == "invalid_metadata" and _chinese(r.json()["message"])
    r = tus_client.post(ENDPOINT, headers={**V, "Upload-Length": "10", "Upload-Metadata": "title !!notbase64"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_upload_metadata"
    r = tus_client.post(ENDPOINT, headers={**V, "Upload-Length": "0"})
    assert r.status_code == 400 and r.json()["code"] == "empty_file"
    assert incomplete_multipart_keys(tus_settings) == []


def test_a_held_lock_answers_423(tus_client: TestClient, tus_settings: Any) -> None:
    from catalog.db import unit_of_work
    from catalog.uploads import acquire_lock, release_lock
    from tests.uploads.tus import context

    path = create(tus_client, 100)
    upload_id = upload_id_of(path)
    with unit_of_work(context(tus_settings).engine) as session:
        assert acquire_lock(session, upload_id, owner="another-request", lock_s=60)
    r = patch(tus_client, path, 0, b"y" * 100)
    assert r.status_code == 423 and r.json()["code"] == "upload_locked" and _chinese(r.json()["message"])
    assert tus_client.delete(path, headers=V).status_code == 423
    with unit_of_work(context(tus_settings).engine) as session:
        release_lock(session, upload_id, owner="another-request")
    assert patch(tus_client, path, 0, b"y" * 100).status_code == 204


def test_creation_needs_an_uploading_account_and_the_url_is_the_capability(tus_settings: Any) -> None:
    from api.app import create_app

    with TestClient(create_app(tus_settings)) as client:
        r = client.post(ENDPOINT, headers={**V, "Upload-Length": "4"})
        assert r.status_code == 401 and r.json()["code"] == "not_authenticated" and _chinese(r.json()["message"])
        assert r.headers["WWW-Authenticate"].startswith("Bearer") and r.headers["Tus-Resumable"] == "1.0.0"
        r = client.post(ENDPOINT, headers={**V, "Upload-Length": "4", "Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_token"
        organiser = login_as(client, tus_settings, "organiser", "organiser", org="东风镇")
        r = client.post(ENDPOINT, headers={**V, "Upload-Length": "4", **organiser})
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        uploader = login_as(client, tus_settings, "uploader", "uploader", org="东风村党支部")
        other = client.post(ENDPOINT, headers={**V, **uploader, "Upload-Length": "4",
                                               "Upload-Metadata": metadata_header(branch="西岭村党支部")})
        assert other.status_code == 403 and _chinese(other.json()["message"])
        r = client.post(ENDPOINT, headers={**V, "Upload-Length": "4", **uploader})
        assert r.status_code == 201
        path = "/" + r.headers["Location"].split("/", 3)[3]
        client.headers.pop("Authorization")
        assert patch(client, path, 0, b"abcd").status_code == 204  # the upload URL itself is the capability
        lesson_id = head(client, path).headers["Weike-Lesson-Id"]
        assert client.get(f"/api/v1/lessons/{lesson_id}").status_code == 404  # not public until reviewed
        mine = client.get(f"/api/v1/lessons/{lesson_id}", headers=uploader).json()
        assert mine["branch"]["name"] == "东风村党支部" and mine["review_state"] is None


@pytest.mark.parametrize("value", ["标题\x00", "a\x1bb", "x\ny"])
def test_control_characters_in_metadata_are_refused_before_anything_is_stored(tus_client: TestClient,
                                                                              tus_settings: Any, value: str) -> None:
    r = tus_client.post(ENDPOINT, headers={**V, "Upload-Length": "10", "Upload-Metadata": metadata_header(title=value)})
    assert r.status_code == 400 and r.json()["code"] == "invalid_upload_metadata" and _chinese(r.json()["message"])
    with unit_of_work(context(tus_settings).engine) as session:
        assert session.exec(select(Upload)).first() is None


def test_the_last_chunk_sent_again_after_a_lost_answer_changes_nothing(tus_client: TestClient) -> None:
    path = create(tus_client, len(DATA))
    assert patch(tus_client, path, 0, DATA[:200_000]).status_code == 204
    done = patch(tus_client, path, 200_000, DATA[200_000:])
    lesson_id = done.headers["Weike-Lesson-Id"]
    again = patch(tus_client, path, 200_000, DATA[200_000:])
    assert again.status_code == 409 and again.json()["code"] == "upload_offset_mismatch"
    at_end = patch(tus_client, path, len(DATA), b"")
    assert at_end.status_code == 204 and at_end.headers["Weike-Lesson-Id"] == lesson_id
    assert tus_client.get("/api/v1/lessons").json()["total"] == 1
