"""Error codes are a contract: this snapshot changes only when a code is added (never renamed)."""

from __future__ import annotations

import importlib
import inspect

MODULES = ["ingest.errors", "transcode.errors", "catalog.errors", "transcode.asr", "transcode.asr_engines",
           "transcode.captions", "transcode.model_store", "transcode.whisper_convert", "transcode.open_captions",
           "transcode.pack_card"]


def _error_classes() -> dict[str, type]:
    found = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, Exception) and isinstance(getattr(cls, "code", None), str):
                found[f"{name}.{cls_name}"] = cls
    return found


def test_error_codes_are_stable() -> None:
    assert {name: cls.code for name, cls in _error_classes().items()} == SNAPSHOT  # type: ignore[attr-defined]


def test_every_error_has_a_chinese_message() -> None:
    for name, cls in _error_classes().items():
        message = cls.message  # type: ignore[attr-defined]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message), name


SNAPSHOT: dict[str, str] = {
    "ingest.errors.EmptyUpload": "empty_file",
    "ingest.errors.IngestError": "ingest_failed",
    "ingest.errors.ObjectMissing": "object_missing",
    "ingest.errors.StorageConfigError": "storage_config",
    "ingest.errors.StorageUnavailable": "storage_unavailable",
    "ingest.errors.UploadTooLarge": "file_too_large",
    "ingest.errors.ChecksumMismatch": "checksum_mismatch",
    "transcode.errors.CommandFailed": "command_failed",
    "transcode.errors.CommandTimedOut": "transcode_timeout",
    "transcode.errors.CorruptMedia": "corrupt_media",
    "transcode.errors.ImageNotMedia": "image_not_media",
    "transcode.errors.NoAudio": "no_audio",
    "transcode.errors.NotMedia": "not_media",
    "transcode.errors.PlaylistRefused": "playlist_refused",
    "transcode.errors.TooLong": "too_long",
    "transcode.errors.TooManyPixels": "too_many_pixels",
    "transcode.errors.TranscodeError": "transcode_failed",
    "catalog.errors.AssetNotFound": "asset_not_found",
    "catalog.errors.CatalogError": "catalog_error",
    "catalog.errors.InvalidMetadata": "invalid_metadata",
    "catalog.errors.LessonNotFound": "lesson_not_found",
    "catalog.errors.UnknownCategory": "unknown_category",
    "catalog.errors.UploadNotFound": "upload_not_found",
    "catalog.errors.UploadExpired": "upload_expired",
    "catalog.errors.UploadTerminated": "upload_terminated",
    "catalog.errors.UploadFailed": "upload_failed",
    "catalog.errors.UploadLocked": "upload_locked",
    "catalog.errors.UploadOffsetMismatch": "upload_offset_mismatch",
    "transcode.asr.AsrLanguageUnsupported": "asr_language_unsupported",
    "transcode.asr_engines.AsrEngineMissing": "asr_engine_missing",
    "transcode.asr_engines.AsrModelUnavailable": "asr_model_unavailable",
    "transcode.captions.CaptionsInvalid": "captions_invalid",
    "transcode.model_store.ModelsMissing": "asr_model_missing",
    "transcode.whisper_convert.ModelConversionFailed": "model_conversion_failed",
    "transcode.open_captions.CaptionFontMissing": "caption_font_missing",
    "catalog.errors.TranscriptNotFound": "transcript_not_found",
    "catalog.errors.CaptionVersionConflict": "caption_version_conflict",
    "catalog.errors.CaptionsNotEditable": "captions_not_editable",
    "catalog.errors.Forbidden": "forbidden",
    "catalog.errors.NotAuthenticated": "not_authenticated",
    "catalog.errors.InvalidCredentials": "invalid_credentials",
    "catalog.errors.LoginThrottled": "too_many_login_failures",
    "catalog.errors.AccountInvalid": "account_invalid",
    "catalog.errors.AccountExists": "account_exists",
    "catalog.errors.AccountNotFound": "account_not_found",
    "catalog.errors.OrgImportInvalid": "org_import_invalid",
    "catalog.errors.InvalidTransition": "invalid_transition",
    "catalog.errors.ReasonRequired": "reason_required",
    "catalog.errors.NotPublished": "not_published",
    "catalog.errors.AlreadyUploaded": "already_uploaded",
    "catalog.errors.InvalidDetails": "invalid_details",
    "catalog.errors.SpeakerNotFound": "speaker_not_found",
    "catalog.errors.SeriesNotFound": "series_not_found",
    "catalog.errors.EpisodeTaken": "episode_taken",
    "transcode.errors.NotAPhoto": "not_a_photo",
    "transcode.errors.Mp3Invalid": "mp3_invalid",
    "transcode.errors.Mp3ParamsMismatch": "mp3_params_mismatch",
    "transcode.errors.Mp3JoinUnsafe": "mp3_join_unsafe",
    "transcode.errors.TtsModelMissing": "tts_model_missing",
    "transcode.errors.SpeechSynthesisFailed": "tts_failed",
    "catalog.errors.InvalidPack": "invalid_pack",
    "catalog.errors.PackEmpty": "pack_empty",
    "catalog.errors.PackLessonsUnavailable": "pack_lessons_unavailable",
    "catalog.errors.PackNotFound": "pack_not_found",
    "catalog.errors.PackNotReady": "pack_not_ready",
    "transcode.pack_card.CardError": "card_write_failed",
    "transcode.pack_card.CardTooSmall": "card_too_small",
    "transcode.pack_card.CardNotEmpty": "card_not_empty",
    "transcode.pack_card.CardVerifyFailed": "card_verify_failed",
    "catalog.errors.InvalidReportPeriod": "invalid_period",
    "catalog.errors.TownshipNotFound": "township_not_found",
    "catalog.errors.RatingsDisabled": "ratings_disabled",
    "catalog.errors.InvalidRating": "invalid_rating",
    "catalog.errors.RatingNotAllowed": "rating_not_allowed",
}
