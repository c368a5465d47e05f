"""Conditional GETs, so a county server on a thin uplink can sit behind a cache and phones revalidate for free.

Every successful GET of JSON or a page gets a strong ETag (the SHA-256 of its body) unless it has one, is
gzip-compressed when the client accepts it (a lesson page drops from about 23 KB to 5 KB), and a request whose
If-None-Match names its ETag is answered 304 with no body; files (FileResponse sets its own ETag) are answered 304
the same way before a byte is read. Cache-Control: what an anonymous caller gets is the same for everyone, so caches
may keep it briefly (`public, max-age=60`); answers to a caller with credentials (bearer token or login cookie) may
show unpublished lessons and are `private, no-cache`. `Vary` names both headers. A route that set Cache-Control
itself (no-store on pages with a form, say) keeps it.
"""

from __future__ import annotations

import gzip
import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUFFERED_TYPES = (b"application/json", b"text/html")
MAX_BUFFERED_BYTES = 4 << 20
PUBLIC_MAX_AGE_S = 60
GZIP_MIN_BYTES = 1024  # smaller answers gain less than gzip's own header costs
SESSION_COOKIE = b"weike_session"


def _matches(if_none_match: str, etag: str) -> bool:
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted


class ConditionalGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        if_none_match = request_headers.get("if-none-match")
        gzip_ok = "gzip" in request_headers.get("accept-encoding", "")
        credentials = "authorization" in request_headers or SESSION_COOKIE in request_headers.get("cookie", "").encode()
        start: Message | None = None
        body = bytearray()
        mode = "pass"  # pass | buffer | not_modified

        async def wrapped(message: Message) -> None:
            nonlocal start, mode
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if message["status"] == 200:
                    _cache_headers(headers, credentials)
                if message["status"] == 200 and headers.get("etag") and if_none_match \
                        and _matches(if_none_match, headers["etag"]):
                    mode = "not_modified"
                    await send(_not_modified(message))
                    return
                content_type = headers.get("content-type", "").encode()
                if message["status"] == 200 and not headers.get("etag") and content_type.startswith(BUFFERED_TYPES):
                    mode, start = "buffer", message
                    return
                await send(message)
                return
            if mode == "not_modified":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            if mode == "buffer":
                body.extend(message.get("body", b""))
                if len(body) > MAX_BUFFERED_BYTES:  # too large to hash here: send it as it is
                    mode = "pass"
                    assert start is not None
                    await send(start)
                    await send({"type": "http.response.body", "body": bytes(body),
                                "more_body": message.get("more_body", False)})
                    return
                if message.get("more_body", False):
                    return
                assert start is not None
                headers = MutableHeaders(scope=start)
                digest = hashlib.sha256(body).hexdigest()[:32]
                payload = bytes(body)
                if gzip_ok and len(payload) >= GZIP_MIN_BYTES and "content-encoding" not in headers:
                    payload = gzip.compress(payload, compresslevel=6, mtime=0)
                    headers["content-encoding"] = "gzip"
                    headers["content-length"] = str(len(payload))
                    digest += "-gz"  # another representation, another validator
                headers.add_vary_header("Accept-Encoding")
                etag = f'"{digest}"'
                headers["etag"] = etag
                if if_none_match and _matches(if_none_match, etag):
                    await send(_not_modified(start))
                    await send({"type": "http.response.body", "body": b""})
                    return
                await send(start)
                await send({"type": "http.response.body", "body": payload})
                return
            await send(message)

        await self.app(scope, receive, wrapped)


def _cache_headers(headers: MutableHeaders, credentials: bool) -> None:
    if "cache-control" not in headers:
        headers["cache-control"] = "private, no-cache" if credentials else f"public, max-age={PUBLIC_MAX_AGE_S}"
    headers.add_vary_header("Authorization")
    headers.add_vary_header("Cookie")


def _not_modified(start: Message) -> Message:
    """304 keeps the validators and caching headers and drops the body's."""
    keep = (b"etag", b"cache-control", b"vary", b"last-modified", b"x-content-type-options")
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() in keep]
    return {"type": "http.response.start", "status": 304, "headers": headers}
