"""What an attacker would try against the API itself: an upload that is a web page, oversized and endless bodies,
fields nobody may set."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.live import serve_in_thread

PAGE = b"<!doctype html><html><body><script>fetch('/api/v1/me').then(r => r.text()).then(alert)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"><script>alert(1)</script></svg>'


def _content(client: TestClient, url: str) -> httpx.Response:
    r = client.get(url, follow_redirects=False)
    if r.status_code == 307:  # S3: the presigned URL carries the type and disposition it must answer with
        return httpx.get(r.headers["location"])
    return r


@pytest.mark.parametrize(("name", "data"), [("x.html", PAGE), ("课件.svg", SVG), ("page.htm", PAGE)])
def test_an_uploaded_web_page_only_ever_downloads_as_bytes(client: TestClient, name: str, data: bytes) -> None:
    r = client.post("/api/v1/lessons", files={"file": (name, data, "text/html")}, data={"title": "网页"})
    assert r.status_code == 201, r.text
    original = next(a for a in r.json()["assets"] if a["kind"] == "original")
    assert original["mime_type"] == "application/octet-stream"
    served = _content(client, original["url"])
    assert served.status_code == 200 and served.content == data  # the original stays byte for byte
    assert served.headers["content-type"].startswith("application/octet-stream")
    assert served.headers["content-disposition"].startswith("attachment")
    direct = client.get(original["url"], follow_redirects=False)
    assert direct.headers["x-content-type-options"] == "nosniff"


def test_every_answer_says_nosniff_and_pages_carry_a_content_security_policy(client: TestClient,
                                                                             anonymous: TestClient) -> None:
    for url in ("/api/v1/lessons", "/healthz", "/api/v1/lessons/none", "/static/weike.css"):
        assert anonymous.get(url).headers["x-content-type-options"] == "nosniff", url
    page = anonymous.get("/login")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text  # pages run our files only


def test_a_title_with_markup_is_shown_as_text(client: TestClient) -> None:
    title = '<img src=x onerror="alert(1)">课'
    lesson = client.post("/api/v1/lessons", files={"file": ("a.mp4", b"\x00\x01markup", "video/mp4")},
                         data={"title": title}).json()
    assert lesson["title"] == title  # stored as typed; pages escape it (Jinja2 autoescape, textContent in JS)


def test_control_and_format_characters_never_reach_the_catalog_whichever_way_a_file_comes(
        client: TestClient) -> None:
    """NUL (PostgreSQL cannot store it; ffmpeg's -metadata cannot carry it), terminal escapes, a direction override
    that disguises a file name, a branch name that would break the Excel report: dropped, the words kept."""
    r = client.post("/api/v1/lessons", files={"file": ("讲\x1b[31m课\u202egpj.mp4", b"\x00\x01ctl", "video/mp4")},
                    data={"title": "标题\x07\x1b[31m\u202e好\x00", "speaker": "讲\x00师\u200b",
                          "branch": "坏\x1b支部\n第二行"})
    assert r.status_code == 201, r.text
    lesson = r.json()
    assert (lesson["title"], lesson["speaker"]) == ("标题[31m好", "讲师")
    assert lesson["branch"]["name"] == "坏支部 第二行" and lesson["original_filename"] == "讲[31m课gpj.mp4"
    book = client.get("/api/v1/reports/branches", params={"period": "2026", "format": "xlsx"})
    assert book.status_code == 200 and book.content.startswith(b"PK")  # the branch's name fits in a cell
    blank = client.post("/api/v1/lessons", files={"file": ("c.mp4", b"\x00\x01blank", "video/mp4")},
                        data={"title": "\x00\u200b\x1b"})
    assert blank.status_code == 400 and blank.json()["code"] == "invalid_metadata", blank.text


def test_digits_that_are_not_ascii_digits_are_refused_not_a_crash(client: TestClient) -> None:
    """str.isdigit() says yes to ² and int() then fails: a query parameter or a tus header holding it must get
    the ordinary answer, not a 500."""
    from tests.uploads.tus import ENDPOINT, OCTET, V, create

    assert client.get("/review", params={"township": "²"}).status_code == 200  # read as no township
    r = client.post(ENDPOINT, headers={**V, "Upload-Length": b"\xb2"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_upload_header", r.text
    path = create(client, 10)
    r = client.patch(path, content=b"0123456789", headers={**V, **OCTET, "Upload-Offset": b"\xb2"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_upload_header", r.text


def test_a_json_body_over_a_megabyte_is_refused_before_it_is_read(client: TestClient) -> None:
    lesson = client.post("/api/v1/lessons", files={"file": ("b.mp4", b"\x00big-json", "video/mp4")}).json()
    body = b'{"action": "approve", "comment": "' + b"x" * (2 << 20) + b'"}'
    r = client.post(f"/api/v1/lessons/{lesson['id']}/review", content=body,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "request_too_large" and "太大" in r.json()["message"]
    captions = b'{"segments": [' + b",".join([b'{"start_s": 0, "end_s": 1, "text": "' + b"x" * 400 + b'"}'] * 14000) + b"]}"
    assert 5 << 20 < len(captions) < 8 << 20
    r = client.post(f"/api/v1/lessons/{lesson['id']}/captions", content=captions,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413  # caption edits may be larger (5 MB), not unbounded


def test_a_body_sent_without_length_is_cut_off_at_the_limit(stack_settings: Any) -> None:
    """A client streaming a body with chunked encoding (no Content-Length) is stopped once it passes 1 MB, while it
    is still sending."""
    with serve_in_thread(stack_settings) as server:
        sent = 0

        def endless() -> Any:
            nonlocal sent
            while sent < 50 << 20:
                sent += 1 << 16
                yield b"x" * (1 << 16)

        started = time.monotonic()
        try:
            r = httpx.post(f"{server.url}/api/v1/auth/token", content=endless(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
            assert r.status_code == 413 and r.json()["code"] == "request_too_large"
        except httpx.HTTPError:
            pass  # the server answered and closed while we were still sending: also a refusal
        assert sent < 10 << 20 and time.monotonic() - started < 20


def test_declared_length_over_the_limit_is_refused_without_sending_the_body(stack_settings: Any) -> None:
    with serve_in_thread(stack_settings) as server, socket.create_connection((server.host, server.port)) as sock:
        sock.sendall(b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 31457280\r\n\r\n")  # 30 MB announced, nothing sent
        sock.settimeout(10)
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413") and b"request_too_large" in answer


def test_fields_nobody_may_set_are_refused(client: TestClient) -> None:
    r = client.post("/api/v1/lessons", files={"file": ("c.mp4", b"\x00fields", "video/mp4")},
                    data={"title": "课", "status": "ready", "review_state": "published"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    assert client.get("/api/v1/lessons").json()["total"] == 0
