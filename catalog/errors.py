"""Catalog errors: stable codes, Chinese messages."""

from __future__ import annotations


class CatalogError(Exception):
    code = "catalog_error"
    message = "数据处理失败"
    retryable = False

    def __init__(self, detail: str = "", *, message: str | None = None) -> None:
        super().__init__(detail or self.code)
        if message is not None:
            self.message = message


class LessonNotFound(CatalogError):
    code = "lesson_not_found"
    message = "找不到该课程"


class AssetNotFound(CatalogError):
    code = "asset_not_found"
    message = "找不到该文件"


class UnknownCategory(CatalogError):
    code = "unknown_category"
    message = "没有这个课程分类"


class InvalidMetadata(CatalogError):
    code = "invalid_metadata"
    message = "课程信息填写有误"


class TranscriptNotFound(CatalogError):
    code = "transcript_not_found"
    message = "该课程还没有字幕或文字稿"


class CaptionVersionConflict(CatalogError):
    code = "caption_version_conflict"
    message = "字幕已有更新的版本，请刷新后再修改"


class CaptionsNotEditable(CatalogError):
    code = "captions_not_editable"
    message = "该课程处理失败，字幕暂时无法修改"


class UploadNotFound(CatalogError):
    code = "upload_not_found"
    message = "找不到这次上传，请重新选择文件上传"


class UploadExpired(CatalogError):
    code = "upload_expired"
    message = "这次上传已过期，请重新上传"


class UploadTerminated(CatalogError):
    code = "upload_terminated"
    message = "这次上传已取消"


class UploadFailed(CatalogError):
    code = "upload_failed"
    message = "文件校验未通过，请重新上传"


class UploadLocked(CatalogError):
    code = "upload_locked"
    message = "这个文件正在另一处上传，请稍候"


class UploadOffsetMismatch(CatalogError):
    code = "upload_offset_mismatch"
    message = "上传进度不一致，将从服务器记录的位置继续"
