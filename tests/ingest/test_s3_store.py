"""S3-only behaviour: create-only writes, presigned URLs, and an unreachable or failing store."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import httpx
import pytest

from ingest.errors import StorageConfigError, StorageUnavailable
from ingest.s3_store import S3Store, content_disposition
from ingest.storage import storage_from_url
from tests.ingest.streams import GeneratedStream
from tests.support.services import free_port

MiB = 1 << 20


@pytest.mark.parametrize("size", [100, 12 * MiB], ids=["single-put", "multipart"])
def test_create_only_write_refuses_an_object_created_after_the_stat(
        s3_server: object, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """The race put_if_absent's stat cannot close: the conditional write (If-None-Match: *) does."""
    store = S3Store.from_url(s3_server.storage_url("weike-race", part_size_mb=5))  # type: ignore[attr-defined]
    store.ensure_bucket()
    store.put("originals/aa/bb/race", io.BytesIO(b"the first writer's bytes"))
    monkeypatch.setattr(store, "stat", lambda key: None)  # as if the other writer finished just after our stat

    _, created = store.put_if_absent("originals/aa/bb/race", GeneratedStream(size))  # type: ignore[arg-type]

    assert not created
    with store.open("originals/aa/bb/race") as f:
        assert f.read() == b"the first writer's bytes"
    assert store._client._list_multipart_uploads(store.bucket).uploads == []


def test_presigned_url_downloads_with_the_chinese_file_name(s3_storage: S3Store) -> None:
    s3_storage.put("lessons/abc/720p.mp4", io.BytesIO(b"fake mp4 bytes"), content_type="video/mp4")
    name = "春季养蚕技术（第一讲）-720p.mp4"

    url = s3_storage.presigned_url("lessons/abc/720p.mp4", expires_s=60, download_name=name,
                                   content_type="video/mp4")

    assert url is not None
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"fake mp4 bytes"
    assert response.headers["content-type"] == "video/mp4"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(name, safe='')}" in disposition
    ranged = httpx.get(url, headers={"Range": "bytes=5-7"}, timeout=10)
    assert (ranged.status_code, ranged.content) == (206, b"mp4")


def test_content_disposition_keeps_an_ascii_fallback() -> None:
    value = content_disposition('课程 "A"\\b/c.MP4')
    assert value == "attachment; filename=\"__ Abc.MP4\"; filename*=UTF-8''%E8%AF%BE%E7%A8%8B%20Abc.MP4"


def test_a_closed_port_is_storage_unavailable_within_seconds() -> None:
    store = storage_from_url(f"s3://weike?endpoint=http://127.0.0.1:{free_port()}&access_key=a&secret_key=b"
                             "&retries=1&connect_timeout_s=1")
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as excinfo:
        store.check()
    for call in (lambda: store.put("originals/aa/bb/c", io.BytesIO(b"x")), lambda: store.stat("originals/aa/bb/c"),
                 lambda: store.open("originals/aa/bb/c")):
        with pytest.raises(StorageUnavailable):
            call()
    assert time.monotonic() - started < 10
    assert excinfo.value.retryable and excinfo.value.code == "storage_unavailable"


@pytest.fixture
def failing_s3_endpoint() -> Iterator[str]:
    """An HTTP server that answers every request with 503, as an overloaded store or a proxy in front of it."""

    class Handler(BaseHTTPRequestHandler):
        def _fail(self) -> None:
            body = b"<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>"
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _fail

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_server_errors_are_storage_unavailable(failing_s3_endpoint: str) -> None:
    store = storage_from_url(f"s3://weike?endpoint={failing_s3_endpoint}&access_key=a&secret_key=b&retries=0")
    for call in (store.check, lambda: store.put("originals/aa/bb/c", io.BytesIO(b"x")),
                 lambda: store.stat("originals/aa/bb/c"), lambda: store.open("originals/aa/bb/c")):
        with pytest.raises(StorageUnavailable):
            call()


def test_storage_urls() -> None:
    s3 = storage_from_url("s3://media?endpoint=http://minio:9000&access_key=ak&secret_key=s%2Fk&region=cn-east-1")
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.endpoint, s3.secure) == ("media", "minio:9000", False)
    http_style = storage_from_url("http://ak:sk@127.0.0.1:9000/media")
    assert isinstance(http_style, S3Store)
    assert (http_style.bucket, http_style.endpoint, http_style.secure) == ("media", "127.0.0.1:9000", False)
    assert storage_from_url("s3://media?endpoint=minio.example.cn&secure=0").secure is False  # type: ignore[attr-defined]
    for bad in ("s3://Bad_Bucket?endpoint=http://h:1", "s3://media?endpoint=http://h:1&acess_key=typo",
                "s3://media/extra?endpoint=http://h:1", "ftp://host/x", "var/store",
                "s3://media?endpoint=http://h:1&access_key=only", "s3://media?endpoint=http://h:1&retries=many"):
        with pytest.raises(StorageConfigError):
            storage_from_url(bad)
