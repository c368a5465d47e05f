"""Uploads cut off and resumed with tuspy (the Python tus client) against a real socket, on both stacks."""

from __future__ import annotations

import hashlib
import io
import random
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from tusclient.client import TusClient

from tests.support.accounts import bearer, make_account, token_for
from tests.support.live import LiveServer
from tests.uploads.tus import OCTET, V, sha256, stored_original, upload_id_of, upload_row

UPLOADS = 50


def _wait_unlocked(settings: Any, upload_id: str, timeout_s: float = 10.0) -> None:
    """The cut request's handler (it holds the lock from before it read any byte) may still be saving."""
    deadline = time.monotonic() + timeout_s
    while upload_row(settings, upload_id).lock_owner is not None:
        assert time.monotonic() < deadline, "the aborted request never let go of its lock"
        time.sleep(0.05)


def _read_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        piece = sock.recv(4096)
        assert piece, f"the server closed the connection after {head!r}"
        head += piece
    return head


def _cut_patch(url: str, offset: int, data: bytes, cut_at: int) -> None:
    """A PATCH whose connection drops after ``cut_at`` bytes of the file (the phone lost its signal).

    The cut must come after the handler has started reading: a body that still sits in the ASGI server when the
    connection ends never reaches the handler (ASGI answers ``http.disconnect`` instead), so the server would
    rightly keep nothing, and a busy machine starts handlers late. The request asks for ``100 Continue``, which
    the server sends once the handler, holding the upload's lock, first asks for the body; the bytes sent after
    it reach the handler before the end of the connection does. A raw socket, so nothing else is sent.
    """
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    head = (f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: {V['Tus-Resumable']}\r\n"
            f"Content-Type: {OCTET['Content-Type']}\r\nUpload-Offset: {offset}\r\n"
            f"Content-Length: {len(data) - offset}\r\nExpect: 100-continue\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode())
        answer = _read_head(sock)
        assert answer.startswith(b"HTTP/1.1 100 "), answer
        sock.sendall(data[offset:cut_at])
    # Closed with nothing unread, so the server sees the bytes, then the end of the connection.


def _sizes(kind: str, rng: random.Random) -> list[int]:
    if kind == "services":  # a few cross S3 part borders (5 MiB), most stay in the local buffer
        return [rng.randint(5 << 20, 12 << 20) for _ in range(4)] + [rng.randint(2, 400_000) for _ in range(46)]
    return [rng.randint(2, 2_000_000) for _ in range(UPLOADS)]


def test_fifty_uploads_cut_at_random_offsets_resume_intact(live_server: LiveServer, tus_settings: Any) -> None:
    kind = "services" if tus_settings.storage_url.startswith("s3") else "embedded"
    rng = random.Random(20260701)
    make_account(tus_settings, "uploader", "reviewer")
    with httpx.Client(base_url=live_server.url) as http:
        client = TusClient(f"{live_server.url}/api/v1/uploads/", headers=bearer(token_for(http, "uploader")))
    lesson_ids = set()
    for n, size in enumerate(_sizes(kind, rng)):
        data = rng.randbytes(size)
        cut = rng.randint(1, size - 1)
        uploader = client.uploader(file_stream=io.BytesIO(data), chunk_size=rng.choice([size, 64_000, 1 << 20]),
                                   metadata={"title": f"第{n}课", "filename": f"lesson-{n}.mp4"}, retries=3,
                                   retry_delay=1)
        if n % 2:
            uploader.upload(stop_at=cut)  # the client stopped between chunks
        else:
            uploader.set_url(uploader.create_url())  # the connection dropped in the middle of a chunk
            _cut_patch(uploader.url, 0, data, cut)
        upload_id = upload_id_of(uploader.url)
        _wait_unlocked(tus_settings, upload_id)
        offset = upload_row(tus_settings, upload_id).offset
        assert 0 < offset <= cut, (n, offset, cut)  # every cut, mid-chunk too, left a partial upload to resume
        resumed = client.uploader(file_stream=io.BytesIO(data), url=uploader.url, chunk_size=1 << 20, retries=3,
                                  retry_delay=1)
        resumed.upload()
        lesson_id = httpx.head(uploader.url, headers=V).headers["Weike-Lesson-Id"]
        lesson_ids.add(lesson_id)
        assert upload_row(tus_settings, upload_id).lesson_id == lesson_id
        assert hashlib.sha256(stored_original(tus_settings, sha256(data))).hexdigest() == sha256(data), n
    assert len(lesson_ids) == UPLOADS


def _create(server: LiveServer, settings: Any, length: int) -> str:
    """An upload created by a logged-in uploader; its URL is all the PATCHes need."""
    make_account(settings, "dongfeng", "uploader", "东风村党支部")
    with httpx.Client(base_url=server.url) as http:
        r = http.post("/api/v1/uploads/", headers={**V, **bearer(token_for(http, "dongfeng")),
                                                   "Upload-Length": str(length)})
    assert r.status_code == 201, r.text
    return r.headers["Location"]  # type: ignore[no-any-return]


def test_two_patches_at_once_one_wins_and_the_file_is_intact(live_server: LiveServer, tus_settings: Any) -> None:
    data = random.Random(7).randbytes(200_000)
    location = _create(live_server, tus_settings, len(data))
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send() -> None:
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            statuses.append(http.patch(location, content=data,
                                       headers={**V, **OCTET, "Upload-Offset": "0"}).status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses)[0] == 204 and sorted(statuses)[1] in (409, 423), statuses
    assert httpx.head(location, headers=V).headers["Weike-Lesson-Id"]
    assert stored_original(tus_settings, sha256(data)) == data


def test_a_patch_while_another_streams_gets_423(live_server: LiveServer, tus_settings: Any) -> None:
    data = random.Random(8).randbytes(3_000_000)
    location = _create(live_server, tus_settings, len(data))
    upload_id = upload_id_of(location)
    result: list[int] = []

    def slow_body() -> Any:
        for i in range(0, len(data), 100_000):
            time.sleep(0.05)
            yield data[i:i + 100_000]

    def first() -> None:
        result.append(httpx.patch(location, content=slow_body(), timeout=60, headers={
            **V, **OCTET, "Upload-Offset": "0", "Content-Length": str(len(data))}).status_code)

    streaming = threading.Thread(target=first)
    streaming.start()
    deadline = time.monotonic() + 10
    while upload_row(tus_settings, upload_id).lock_owner is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second = httpx.patch(location, content=data[:1000], headers={**V, **OCTET, "Upload-Offset": "0"})
    assert second.status_code == 423 and second.json()["code"] == "upload_locked"
    streaming.join(timeout=60)
    assert result == [204]
    assert stored_original(tus_settings, sha256(data)) == data
