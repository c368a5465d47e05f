"""ASGI guards around every request: a body-size limit (refused from Content-Length before a byte is read, and cut
off when a body sent without one grows too large) and the security headers every answer carries."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Multipart framing and form fields around an uploaded file.
FORM_OVERHEAD_BYTES = 1 << 20
JSON_BODY_BYTES = 1 << 20
CAPTION_BODY_BYTES = 5 << 20
_CAPTIONS = re.compile(r"^/api/v1/lessons/[^/]+/captions$")
_REVISIONS = re.compile(r"^/api/v1/lessons/[^/]+/revisions$")
# A speaker's photo (at most 5 MB, re-encoded by workers/speaker_photos.py) and its multipart framing.
PHOTO_BODY_BYTES = 6 << 20
_PHOTO = re.compile(r"^/api/v1/speakers/[^/]+/photo$")


def body_limit_for(max_upload_bytes: int) -> Callable[[str], int | None]:
    """The most bytes a request to `path` may send (None: the route limits itself, as tus does with
    Upload-Length)."""

    def limit(path: str) -> int | None:
        if path.startswith("/api/v1/uploads"):
            return None
        if path == "/api/v1/lessons" or _REVISIONS.match(path):
            return max_upload_bytes + FORM_OVERHEAD_BYTES
        if _CAPTIONS.match(path):
            return CAPTION_BODY_BYTES
        if _PHOTO.match(path):
            return PHOTO_BODY_BYTES
        return JSON_BODY_BYTES

    return limit


def _json_answer(status: int, body: dict[str, Any]) -> tuple[Message, Message]:
    data = json.dumps(body, ensure_ascii=False).encode()
    start: Message = {"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
        (b"connection", b"close")]}
    return start, {"type": "http.response.body", "body": data}


class BodySizeLimit:
    """413 `request_too_large` (`file_too_large` on upload routes) before the body is read when Content-Length says
    it is too large; a body without Content-Length that grows past the limit is stopped the same way."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int | None]) -> None:
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope["path"]) if scope["type"] == "http" else None
        if limit is None or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        upload = scope["path"] == "/api/v1/lessons" or bool(_REVISIONS.match(scope["path"]))
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        if length is not None and length.isascii() and length.isdigit() and int(length) > limit:
            await self._refuse(send, upload)
            return
        seen = 0
        started = refused = False

        async def counted() -> Message:
            # Past the limit: answer 413 now (the app has not answered yet) and tell the app the client left,
            # so it stops reading; whatever it answers afterwards is dropped.
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit and not started:
                    refused = True
                    await self._refuse(send, upload)
                    return {"type": "http.disconnect"}
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracked)

    async def _refuse(self, send: Send, upload: bool) -> None:
        if upload:
            body = {"code": "file_too_large", "message": "文件超过大小上限"}
        else:
            body = {"code": "request_too_large", "message": "提交的内容太大"}
        for message in _json_answer(413, body):
            await send(message)


# Pages run only our own scripts and styles; media may come from the object store's presigned URLs.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: {media}; "
                           "media-src 'self' blob: {media}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """nosniff on every answer (no upload is ever run as a script or page because of what it looks like); a
    Content-Security-Policy, no framing and no referrer leaving the site on pages."""

    def __init__(self, app: ASGIApp, *, media_origins: str = "") -> None:
        self.app = app
        self.csp = CONTENT_SECURITY_POLICY.format(media=media_origins).replace("  ", " ").encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.append((b"x-content-type-options", b"nosniff"))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html") and b"content-security-policy" not in names:
                    headers += [(b"content-security-policy", self.csp), (b"x-frame-options", b"DENY"),
                                (b"referrer-policy", b"same-origin")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
