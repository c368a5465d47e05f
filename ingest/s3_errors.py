"""Translating minio and urllib3 errors into ingest errors, where S3 calls are made (as httpx's map_exceptions)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import urllib3.exceptions
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from ingest.errors import IngestError, ObjectMissing, StorageConfigError, StorageUnavailable

_MISSING = frozenset({"NoSuchKey", "NoSuchObject"})
_CONFIG = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidBucketName",
                     "AuthorizationHeaderMalformed", "InvalidToken", "ExpiredToken"})
_TRANSIENT = frozenset({"NoSuchBucket", "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
                        "RequestTimeTooSkewed", "ConditionalRequestConflict", "OperationAborted"})


def translate(exc: Exception, what: str) -> IngestError:
    """The ingest error for a foreign one raised while doing `what` (English, for logs)."""
    if isinstance(exc, S3Error):
        code = exc.code or ""
        status = exc.response.status if exc.response is not None else 0
        detail = f"{what}: S3 {status} {code}: {exc.message}"
        if code in _MISSING:
            return ObjectMissing(detail)
        if code in _CONFIG:
            return StorageConfigError(detail)
        if code in _TRANSIENT or status >= 500:
            return StorageUnavailable(detail)
        return IngestError(detail)
    if isinstance(exc, ServerError):
        if exc.status_code >= 500:
            return StorageUnavailable(f"{what}: {exc}")
        return IngestError(f"{what}: {exc}")
    if isinstance(exc, InvalidResponseError):
        # A non-XML answer: typically a proxy's error page in front of the store.
        return StorageUnavailable(f"{what}: {exc}")
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return StorageUnavailable(f"{what}: {type(exc).__name__}: {exc}")
    return IngestError(f"{what}: {type(exc).__name__}: {exc}")


@contextmanager
def s3_errors(what: str) -> Iterator[None]:
    try:
        yield
    except (MinioException, urllib3.exceptions.HTTPError) as exc:
        raise translate(exc, what) from exc
