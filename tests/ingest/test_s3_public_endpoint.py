"""Presigned URLs name the public endpoint browsers reach (the reverse proxy), not the internal one.

moto does not check signatures, so `_signed_for` recomputes the SigV4 query signature (AWS's documented
algorithm) to show which Host a URL was signed for: the one MinIO behind the proxy will check.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import uuid
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

import httpx
import pytest

from ingest.errors import StorageConfigError
from ingest.s3_store import S3Store
from ingest.storage import storage_from_url
from tests.support.s3server import S3Server
from tests.support.services import free_port


def _signed_for(url: str, host: str, secret_key: str) -> bool:
    """Whether the presigned GET URL's X-Amz-Signature is valid for a request with this Host header."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    signature = dict(params)["X-Amz-Signature"]
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                     for k, v in sorted(params) if k != "X-Amz-Signature")
    canonical = f"GET\n{parts.path}\n{query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
    scope = dict(params)["X-Amz-Credential"].split("/", 1)[1]
    to_sign = "\n".join(["AWS4-HMAC-SHA256", dict(params)["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), signature)


def _store(server: S3Server, **options: object) -> S3Store:
    store = S3Store.from_url(server.storage_url(f"weike-public-{uuid.uuid4().hex[:12]}", **options))
    store.ensure_bucket()
    return store


def test_presigned_url_is_signed_for_the_public_endpoint_and_downloads(s3_server: S3Server) -> None:
    # Internal endpoint http://127.0.0.1:<port>; the "public" one reaches the same server by another host name.
    public = f"http://localhost:{s3_server.port}"
    store = _store(s3_server, public_endpoint=public)
    store.put("lessons/abc/360p.mp4", io.BytesIO(b"public bytes"), content_type="video/mp4")

    url = store.presigned_url("lessons/abc/360p.mp4", expires_s=60)

    assert url is not None
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("http", f"localhost:{s3_server.port}")
    assert parts.path == f"/{store.bucket}/lessons/abc/360p.mp4"
    assert parse_qs(parts.query)["X-Amz-SignedHeaders"] == ["host"]
    assert _signed_for(url, f"localhost:{s3_server.port}", s3_server.secret_key)
    assert not _signed_for(url, f"{s3_server.host}:{s3_server.port}", s3_server.secret_key)  # a rewrite breaks it
    response = httpx.get(url, timeout=10)
    assert (response.status_code, response.content) == (200, b"public bytes")


def test_without_a_public_endpoint_presigned_urls_name_the_internal_endpoint(s3_server: S3Server) -> None:
    store = _store(s3_server)
    store.put("lessons/abc/360p.mp4", io.BytesIO(b"internal bytes"))

    url = store.presigned_url("lessons/abc/360p.mp4", expires_s=60)

    assert url is not None and urlsplit(url).netloc == f"{s3_server.host}:{s3_server.port}"
    assert _signed_for(url, f"{s3_server.host}:{s3_server.port}", s3_server.secret_key)
    assert httpx.get(url, timeout=10).content == b"internal bytes"


def test_presigning_for_the_public_endpoint_sends_no_request() -> None:
    """Neither the closed internal port nor the unresolvable public host is contacted to sign a URL."""
    store = storage_from_url(f"s3://weike?endpoint=http://127.0.0.1:{free_port()}&access_key=a&secret_key=b"
                             "&public_endpoint=https://media.example.invalid&retries=0&connect_timeout_s=1")

    url = store.presigned_url("lessons/abc/360p.mp4", expires_s=60)

    assert url is not None and url.startswith("https://media.example.invalid/weike/lessons/abc/360p.mp4?")
    assert _signed_for(url, "media.example.invalid", "b")  # the default port of https is not in the Host


@pytest.mark.parametrize("value", ["ftp://media.example.org", "https://media.example.org/s3",
                                   "https://user:pw@media.example.org", "https://"])
def test_a_malformed_public_endpoint_is_a_configuration_error(value: str) -> None:
    with pytest.raises(StorageConfigError):
        storage_from_url(f"s3://weike?endpoint=http://minio:9000&access_key=a&secret_key=b&public_endpoint={value}")
