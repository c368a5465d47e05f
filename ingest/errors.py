"""Ingest errors: stable English codes, Chinese messages for users, English detail for logs.

IngestError
 ├── EmptyUpload
 ├── UploadTooLarge
 ├── StorageUnavailable   (retryable: connection errors, time-outs, 5xx from S3, a full disk)
 ├── ObjectMissing
 ├── StorageConfigError   (a bad storage URL, refused credentials)
 └── ChecksumMismatch     (a resumable upload's chunk or whole file is not what the client said)
"""

from __future__ import annotations


class IngestError(Exception):
    code = "ingest_failed"
    message = "文件接收失败"
    retryable = False

    def __init__(self, detail: str = "", *, message: str | None = None) -> None:
        super().__init__(detail or self.code)
        if message is not None:
            self.message = message


class EmptyUpload(IngestError):
    code = "empty_file"
    message = "上传的文件是空的"


class UploadTooLarge(IngestError):
    code = "file_too_large"
    message = "文件超过大小上限"


class StorageUnavailable(IngestError):
    code = "storage_unavailable"
    message = "存储服务暂时不可用，请稍后重试"
    retryable = True


class ObjectMissing(IngestError):
    code = "object_missing"
    message = "文件不存在"


class StorageConfigError(IngestError):
    code = "storage_config"
    message = "存储服务配置有误"


class ChecksumMismatch(IngestError):
    code = "checksum_mismatch"
    message = "数据校验不一致，这一段已丢弃，请重新发送"
