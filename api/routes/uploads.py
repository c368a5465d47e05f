"""Resumable uploads: a tus 1.0.0 server (core, creation, creation-with-upload, termination, checksum, expiration).

Protocol only: headers in, headers out, status codes as the tus spec says (409 wrong offset, 412 version,
413 size, 415 content type, 423 locked, 460 checksum, 404/410 unknown or gone). The work is in
:mod:`workers.uploads`. Every error still answers JSON ``{code, message}``, with the tus headers.

Creation and PATCH handlers are async and do their work (database, storage) in threads of their own capacity
limiter (`WEIKE_UPLOAD_CONCURRENCY`), so phones trickling bytes over a weak signal never take the threads that every
other route runs in: /healthz and the pages answer however many uploads are in flight. The request body is pulled
from the event loop a block at a time, so memory holds one block; a client that vanishes mid-request, or sends
nothing for `WEIKE_UPLOAD_READ_TIMEOUT_S`, simply ends the body: the bytes received so far are kept (unless the
request carried Upload-Checksum, which they cannot match), and the client resumes from the offset HEAD reports.
"""

from __future__ import annotations

import base64
import binascii
import logging
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC
from email.utils import format_datetime
from typing import Annotated, TypeVar

import anyio.from_thread
from fastapi import APIRouter, Header, Request, Response
from starlette.requests import ClientDisconnect

from api.deps import ContextDep, SettingsDep, ViewerDep
from api.errors import ApiError
from catalog.errors import CatalogError
from catalog.lifecycle import Viewer, may_upload
from ingest.errors import IngestError
from ingest.resumable import CHECKSUM_ALGORITHMS, ChunkCheck
from workers import uploads
from workers.uploads import UploadView

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
OFFSET_OCTET_STREAM = "application/offset+octet-stream"
LESSON_HEADER = "Weike-Lesson-Id"
BODY_BLOCK_BYTES = 1 << 20
MAX_METADATA_CHARS = 8192

# Domain error code -> HTTP status, for tus answers.
STATUS_BY_CODE: dict[str, int] = {
    "upload_not_found": 404,
    "upload_expired": 410,
    "upload_terminated": 410,
    "upload_failed": 410,
    "upload_locked": 423,
    "upload_offset_mismatch": 409,
    "checksum_mismatch": 460,
    "file_too_large": 413,
    "storage_unavailable": 503,
    "empty_file": 400,
    "invalid_metadata": 400,
    "unknown_category": 400,
    "forbidden": 403,
    "lesson_not_found": 404,
    "invalid_transition": 409,
    "already_uploaded": 409,
}

T = TypeVar("T")


def _tus(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, **extra}


def _refuse(status: int, code: str, message: str, detail: str = "", **headers: str) -> ApiError:
    return ApiError(status, code, message, detail, headers=_tus(**headers))


def _domain(call: Callable[[], T], **headers: str) -> T:
    """Run workers code; its errors become tus answers with JSON bodies."""
    try:
        return call()
    except (IngestError, CatalogError) as exc:
        status = STATUS_BY_CODE.get(exc.code, 503 if exc.retryable else 400)
        raise _refuse(status, exc.code, exc.message, str(exc), **headers) from exc


def _check_version(tus_resumable: str | None) -> None:
    if tus_resumable != TUS_VERSION:
        raise _refuse(412, "tus_version_unsupported", "上传协议版本不受支持，请刷新页面后重试",
                      f"Tus-Resumable {tus_resumable!r}", **{"Tus-Version": TUS_VERSION})


def _check_uploader(viewer: Viewer) -> None:
    """Creating an upload needs an account that may upload; the upload's URL is then the capability for its own
    PATCH, HEAD and DELETE (a phone resuming after its login ran out still finishes)."""
    if viewer.anonymous:
        raise _refuse(401, "not_authenticated", "请先登录后再上传", "no credentials",
                      **{"WWW-Authenticate": 'Bearer realm="weike"'})
    if not may_upload(viewer):
        raise _refuse(403, "forbidden", "该账号没有上传权限", f"{viewer.username} ({viewer.role})")


def _printable(key: str, value: str) -> str:
    """Metadata values are text a person typed: control characters (NUL above all, which PostgreSQL cannot store)
    are refused before anything is stored."""
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise _refuse(400, "invalid_upload_metadata", "上传信息里有无法识别的控制字符，请检查标题等填写内容",
                      f"control character in {key!r}")
    return value


def parse_metadata(header: str | None) -> dict[str, str]:
    """tus Upload-Metadata: ``key base64(value)`` pairs separated by commas (a key may come alone)."""
    result: dict[str, str] = {}
    if not header:
        return result
    if len(header) > MAX_METADATA_CHARS:
        raise _refuse(400, "invalid_upload_metadata", "上传信息过长", "Upload-Metadata too long")
    for item in header.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        if not key.isascii() or not key.isprintable() or key in result or " " in encoded.strip():
            raise _refuse(400, "invalid_upload_metadata", "上传信息格式有误", f"bad Upload-Metadata item {key!r}")
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode("utf-8") if encoded.strip() else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _refuse(400, "invalid_upload_metadata", "上传信息格式有误", f"bad base64 for {key!r}") from exc
        result[key] = _printable(key, value)
    return result


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" if v else k for k, v in metadata.items())


def _parse_checksum(header: str | None) -> ChunkCheck | None:
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() not in CHECKSUM_ALGORITHMS:
        raise _refuse(400, "checksum_algorithm_unsupported", "不支持的校验算法（仅支持 sha1、sha256）",
                      f"Upload-Checksum algorithm {algorithm!r}")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as exc:
        raise _refuse(400, "invalid_checksum", "校验值格式有误", "Upload-Checksum is not base64") from exc
    return ChunkCheck(algorithm=algorithm.lower(), digest=digest)


def _non_negative(value: str | None, name: str, *, required: bool = True) -> int | None:
    if value is None and not required:
        return None
    if value is None or not (value.isascii() and value.isdigit()):
        raise _refuse(400, "invalid_upload_header", f"请求头 {name} 缺失或有误", f"{name}: {value!r}")
    return int(value)


def _body_blocks(request: Request, *, idle_timeout_s: float) -> Iterator[bytes]:
    """The request body, a block at a time, from a worker thread; a client that goes away, or goes quiet for
    `idle_timeout_s`, ends it early."""
    stream = request.stream()
    ended = False

    async def next_block() -> bytes | None:
        nonlocal ended
        parts: list[bytes] = []
        size = 0
        try:
            while size < BODY_BLOCK_BYTES and not ended:
                with anyio.fail_after(idle_timeout_s):
                    chunk = await stream.__anext__()
                if chunk:
                    parts.append(chunk)
                    size += len(chunk)
        except (StopAsyncIteration, ClientDisconnect):
            ended = True
        except TimeoutError:
            log.info("upload body idle for %.0f s; keeping what arrived", idle_timeout_s)
            ended = True
        return b"".join(parts) if parts else None

    while (block := anyio.from_thread.run(next_block)) is not None:
        yield block


async def _in_upload_thread(request: Request, call: Callable[[], T]) -> T:
    """Run blocking upload work in the uploads' own threads, never in the pool the other routes share."""
    state = request.app.state
    limiter = getattr(state, "upload_limiter", None)
    if limiter is None:
        limiter = state.upload_limiter = anyio.CapacityLimiter(state.settings.upload_concurrency)
    return await anyio.to_thread.run_sync(call, limiter=limiter)


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length.isascii() and length.isdigit() and int(length) > 0) or \
        "chunked" in request.headers.get("transfer-encoding", "").lower()


def _state_headers(view: UploadView) -> dict[str, str]:
    headers = {"Upload-Offset": str(view.offset), "Cache-Control": "no-store"}
    if view.state == "active":
        headers["Upload-Expires"] = format_datetime(view.expires_at.astimezone(UTC), usegmt=True)
    if view.lesson_id:
        headers[LESSON_HEADER] = view.lesson_id
    return headers


def _location(request: Request, upload_id: str) -> str:
    return f"{str(request.base_url).rstrip('/')}{router.prefix}/{upload_id}"


@router.options("", status_code=204, include_in_schema=False)
@router.options("/", status_code=204)
@router.options("/{upload_id}", status_code=204, include_in_schema=False)
def discover(settings: SettingsDep) -> Response:
    """tus discovery: version, extensions, size limit, checksum algorithms."""
    return Response(status_code=204, headers=_tus(**{
        "Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS, "Tus-Max-Size": str(settings.max_upload_bytes),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS)}))


@router.post("", status_code=201, include_in_schema=False)
@router.post("/", status_code=201)
async def create(
    request: Request,
    ctx: ContextDep,
    viewer: ViewerDep,
    tus_resumable: Annotated[str | None, Header()] = None,
    upload_length: Annotated[str | None, Header()] = None,
    upload_metadata: Annotated[str | None, Header()] = None,
    upload_defer_length: Annotated[str | None, Header()] = None,
    upload_checksum: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
) -> Response:
    """Create an upload (tus creation); the body may carry its first bytes (creation-with-upload)."""
    _check_version(tus_resumable)
    _check_uploader(viewer)
    if upload_defer_length is not None:
        raise _refuse(400, "invalid_upload_header", "请在开始上传时给出文件长度", "Upload-Defer-Length unsupported")
    length = _non_negative(upload_length, "Upload-Length")
    assert length is not None
    if length > ctx.settings.max_upload_bytes:
        raise _refuse(413, "file_too_large", "文件超过大小上限", f"Upload-Length {length}",
                      **{"Tus-Max-Size": str(ctx.settings.max_upload_bytes)})
    with_body = _has_body(request)
    if with_body and (content_type or "").split(";")[0].strip().lower() != OFFSET_OCTET_STREAM:
        raise _refuse(415, "unsupported_media_type", "上传数据的内容类型应为 application/offset+octet-stream")
    check = _parse_checksum(upload_checksum) if with_body else None
    metadata = parse_metadata(upload_metadata)
    view = await _in_upload_thread(request, lambda: _domain(
        lambda: uploads.create_upload(ctx, length=length, metadata=metadata, viewer=viewer)))
    location = _location(request, view.id)
    if with_body:
        content_length = _non_negative(request.headers.get("content-length"), "Content-Length", required=False)
        blocks = _body_blocks(request, idle_timeout_s=ctx.settings.upload_read_timeout_s)
        view = await _in_upload_thread(request, lambda: _domain(
            lambda: uploads.append(ctx, view.id, offset=0, chunks=blocks, content_length=content_length,
                                   check=check), Location=location))
    return Response(status_code=201, headers=_tus(Location=location, **_state_headers(view)))


@router.head("/{upload_id}")
def status(upload_id: str, ctx: ContextDep, tus_resumable: Annotated[str | None, Header()] = None) -> Response:
    """How many bytes the server has (tus core)."""
    _check_version(tus_resumable)
    view = _domain(lambda: uploads.describe(ctx, upload_id), **{"Cache-Control": "no-store"})
    headers = _state_headers(view)
    headers["Upload-Length"] = str(view.length)
    if view.metadata:
        headers["Upload-Metadata"] = encode_metadata(view.metadata)
    return Response(status_code=200, headers=_tus(**headers))


@router.patch("/{upload_id}", status_code=204)
async def receive(
    upload_id: str,
    request: Request,
    ctx: ContextDep,
    tus_resumable: Annotated[str | None, Header()] = None,
    upload_offset: Annotated[str | None, Header()] = None,
    upload_checksum: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
    content_length: Annotated[str | None, Header()] = None,
) -> Response:
    """Bytes at Upload-Offset (tus core); the last ones turn the upload into a lesson (Weike-Lesson-Id)."""
    _check_version(tus_resumable)
    if (content_type or "").split(";")[0].strip().lower() != OFFSET_OCTET_STREAM:
        raise _refuse(415, "unsupported_media_type", "上传数据的内容类型应为 application/offset+octet-stream")
    offset = _non_negative(upload_offset, "Upload-Offset")
    assert offset is not None
    size = _non_negative(content_length, "Content-Length", required=False)
    check = _parse_checksum(upload_checksum)
    blocks = _body_blocks(request, idle_timeout_s=ctx.settings.upload_read_timeout_s)
    view = await _in_upload_thread(request, lambda: _domain(
        lambda: uploads.append(ctx, upload_id, offset=offset, chunks=blocks, content_length=size, check=check)))
    return Response(status_code=204, headers=_tus(**_state_headers(view)))


@router.delete("/{upload_id}", status_code=204)
def terminate(upload_id: str, ctx: ContextDep, tus_resumable: Annotated[str | None, Header()] = None) -> Response:
    """Cancel an upload and drop its bytes (tus termination); a finished upload's lesson stays."""
    _check_version(tus_resumable)
    _domain(lambda: uploads.terminate(ctx, upload_id))
    return Response(status_code=204, headers=_tus())
