"""Every error answers JSON ``{code, message}``: a stable English code and a Simplified Chinese message."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalog.errors import (
    AccountExists,
    AccountInvalid,
    AccountNotFound,
    AlreadyUploaded,
    AssetNotFound,
    CaptionsNotEditable,
    CaptionVersionConflict,
    CatalogError,
    EpisodeTaken,
    Forbidden,
    InvalidCredentials,
    InvalidDetails,
    InvalidPack,
    InvalidRating,
    InvalidReportPeriod,
    InvalidTransition,
    LessonNotFound,
    LoginThrottled,
    NotAuthenticated,
    NotPublished,
    PackEmpty,
    PackLessonsUnavailable,
    PackNotFound,
    PackNotReady,
    RatingNotAllowed,
    RatingsDisabled,
    ReasonRequired,
    SeriesNotFound,
    SpeakerNotFound,
    TownshipNotFound,
    TranscriptNotFound,
)
from ingest.errors import EmptyUpload, IngestError, ObjectMissing, StorageUnavailable, UploadTooLarge
from transcode.captions import CaptionsInvalid
from transcode.errors import NotAPhoto, TranscodeError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error raised by the API layer itself."""

    def __init__(self, status: int, code: str, message: str, detail: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or code)
        self.status, self.code, self.message = status, code, message
        self.headers = headers


STATUS_BY_CODE: dict[str, int] = {
    EmptyUpload.code: 400,
    UploadTooLarge.code: 413,
    StorageUnavailable.code: 503,
    ObjectMissing.code: 404,
    LessonNotFound.code: 404,
    AssetNotFound.code: 404,
    TranscriptNotFound.code: 404,
    CaptionVersionConflict.code: 409,
    CaptionsNotEditable.code: 409,
    CaptionsInvalid.code: 422,
    Forbidden.code: 403,
    NotAuthenticated.code: 401,
    InvalidCredentials.code: 401,
    LoginThrottled.code: 429,
    InvalidTransition.code: 409,
    NotPublished.code: 409,
    ReasonRequired.code: 422,
    AlreadyUploaded.code: 409,
    AccountInvalid.code: 422,
    AccountExists.code: 409,
    AccountNotFound.code: 404,
    InvalidDetails.code: 422,
    SpeakerNotFound.code: 404,
    SeriesNotFound.code: 404,
    EpisodeTaken.code: 409,
    NotAPhoto.code: 422,
    PackNotFound.code: 404,
    InvalidPack.code: 422,
    PackEmpty.code: 422,
    PackLessonsUnavailable.code: 422,
    PackNotReady.code: 409,
    InvalidReportPeriod.code: 422,
    TownshipNotFound.code: 404,
    RatingsDisabled.code: 404,
    InvalidRating.code: 422,
    RatingNotAllowed.code: 409,
}


def domain_headers(exc: Exception) -> dict[str, str] | None:
    """Headers a domain error's answer needs: a challenge with 401, Retry-After with 429."""
    if isinstance(exc, LoginThrottled):
        return {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, NotAuthenticated | InvalidCredentials):
        return {"WWW-Authenticate": 'Bearer realm="weike"'}
    return None

HTTP_MESSAGES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求有误"),
    401: ("unauthorized", "需要登录或提供令牌"),
    403: ("forbidden", "没有权限"),
    404: ("not_found", "找不到该页面或资源"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "请求与当前状态冲突"),
    413: ("file_too_large", "文件超过大小上限"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    416: ("range_not_satisfiable", "请求的范围无效"),
    422: ("invalid_request", "请求参数有误"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试"),
    500: ("internal_error", "服务器内部错误"),
    503: ("unavailable", "服务暂时不可用，请稍后再试"),
}

FIELD_NAMES = {"file": "文件", "title": "标题", "branch": "支部", "category": "分类", "speaker": "主讲人",
               "recorded_on": "录制日期", "language": "语言", "limit": "每页条数", "offset": "起始位置",
               "author": "修改人", "note": "修改说明", "segments": "字幕", "start_s": "开始时间", "end_s": "结束时间",
               "text": "字幕文字", "base_version": "字幕版本", "version": "字幕版本", "q": "搜索词",
               "username": "用户名", "password": "密码", "action": "审核操作", "reasons": "审核原因",
               "comment": "审核意见", "notes": "批注", "at_s": "批注时间", "featured": "精品标记",
               "description": "简介", "tags": "标签", "speaker_id": "讲师", "series_id": "系列", "episode": "集数",
               "name": "姓名", "bio": "简介"}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def _validation_message(exc: RequestValidationError) -> str:
    names = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
        if loc:
            names.append(FIELD_NAMES.get(loc[-1], loc[-1]))
    if names:
        return "请求参数有误：" + "、".join(dict.fromkeys(names))
    return "请求参数有误"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(IngestError)
    @app.exception_handler(TranscodeError)
    @app.exception_handler(CatalogError)
    async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
        code = getattr(exc, "code", "internal_error")
        message = getattr(exc, "message", "服务器内部错误")
        status = STATUS_BY_CODE.get(code, 400)
        if status >= 500:
            log.warning("%s: %s", code, exc)
        return JSONResponse(error_body(code, message), status_code=status, headers=domain_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()]
        return JSONResponse(error_body("invalid_request", _validation_message(exc), fields=fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = HTTP_MESSAGES.get(exc.status_code, ("http_error", "请求失败"))
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "服务器内部错误"), status_code=500)
