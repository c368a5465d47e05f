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


class Forbidden(CatalogError):
    """The object is visible to the caller, the action is not theirs to take."""

    code = "forbidden"
    message = "没有权限进行此操作"


class NotAuthenticated(CatalogError):
    code = "not_authenticated"
    message = "请先登录"


class InvalidCredentials(CatalogError):
    code = "invalid_credentials"
    message = "用户名或密码不正确"


class LoginThrottled(CatalogError):
    code = "too_many_login_failures"
    message = "登录失败次数过多，请稍后再试"

    def __init__(self, detail: str = "", *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class AccountInvalid(CatalogError):
    code = "account_invalid"
    message = "账号信息填写有误"


class AccountExists(CatalogError):
    code = "account_exists"
    message = "该用户名已被使用"


class AccountNotFound(CatalogError):
    code = "account_not_found"
    message = "找不到该账号"


class OrgImportInvalid(CatalogError):
    code = "org_import_invalid"
    message = "组织架构表格式有误"


class InvalidTransition(CatalogError):
    code = "invalid_transition"
    message = "课程当前的审核状态不允许这个操作"


class ReasonRequired(CatalogError):
    code = "reason_required"
    message = "退回或要求修改时，请至少选择一个原因"


class NotPublished(CatalogError):
    code = "not_published"
    message = "只有已发布的课程才能评为精品"


class AlreadyUploaded(CatalogError):
    code = "already_uploaded"
    message = "这个文件已经上传过了，不需要重复上传"


class InvalidDetails(CatalogError):
    """A lesson's, speaker's, series' or tag's field that cannot be stored as given (the message says which)."""

    code = "invalid_details"
    message = "填写的信息有误"


class SpeakerNotFound(CatalogError):
    code = "speaker_not_found"
    message = "找不到该讲师"


class SeriesNotFound(CatalogError):
    code = "series_not_found"
    message = "找不到该系列"


class EpisodeTaken(CatalogError):
    code = "episode_taken"
    message = "这个系列里已经有这一集了，请换一个集数"


class PackNotFound(CatalogError):
    code = "pack_not_found"
    message = "找不到该音频包"


class InvalidPack(CatalogError):
    code = "invalid_pack"
    message = "音频包设置有误"


class PackEmpty(CatalogError):
    code = "pack_empty"
    message = "所选范围内没有可以放进音频包的已发布课程"


class PackLessonsUnavailable(CatalogError):
    code = "pack_lessons_unavailable"
    message = "有课程尚未发布或没有音频，不能放进音频包"


class PackNotReady(CatalogError):
    code = "pack_not_ready"
    message = "音频包还在生成，请稍后再下载"


class InvalidReportPeriod(CatalogError):
    code = "invalid_period"
    message = "报表期间的写法应为 2026Q3（季度）、2026-07（月份）或 2026（全年）"


class TownshipNotFound(CatalogError):
    """No such township, or one whose reports the caller may not see (the same answer: it does not exist for them)."""

    code = "township_not_found"
    message = "找不到这个乡镇"


class RatingsDisabled(CatalogError):
    code = "ratings_disabled"
    message = "评分功能没有开启"


class InvalidRating(CatalogError):
    code = "invalid_rating"
    message = "评分应为 1 到 5 颗星"


class RatingNotAllowed(CatalogError):
    code = "rating_not_allowed"
    message = "只有已发布的课程才能评分"
