"""A storage backend on S3 (MinIO, or any S3-protocol server) through the minio client.

Memory stays bounded by the part size: data is read one part at a time and sent with PutObject (one part) or a
multipart upload, which S3 makes visible only when completed (and which is aborted on any failure).

Create-only writes: put_if_absent sends `If-None-Match: *` on PutObject and on CompleteMultipartUpload, so a
server that supports conditional writes (AWS S3, recent MinIO, moto) answers 412 instead of overwriting. minio's
public put_object cannot send that header (metadata becomes X-Amz-Meta-If-None-Match), so the upload loop here
uses the client's request method `_execute`, as minio 7.2's own put_object does. put_if_absent also stats first;
on a server that ignores If-None-Match, two concurrent writers of one key can both create it (for content-addressed
keys they write the same bytes, so the race costs an upload, not data).

Presigned URLs: SigV4 signs the Host header, so a URL signed for the internal endpoint (http://minio:9000) cannot
be rewritten to the public one afterwards. With `public_endpoint` (the reverse proxy browsers reach), a second
client, configured with the region so that it never asks the server for it, signs URLs for the public host; it
sends no requests.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from minio.helpers import DictType
from urllib3.response import BaseHTTPResponse

from ingest.errors import ObjectMissing, StorageConfigError, StorageUnavailable
from ingest.keys import validate_key
from ingest.s3_errors import s3_errors, translate
from ingest.sources import HashingReader, open_source
from ingest.storage import StoredObject

DEFAULT_PART_SIZE = 16 << 20
MIN_PART_SIZE = 5 << 20  # S3's floor for every part but the last
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_FOREIGN_ERRORS = (MinioException, urllib3.exceptions.HTTPError)
log = logging.getLogger(__name__)
_URL_OPTIONS = frozenset({"endpoint", "public_endpoint", "access_key", "secret_key", "region", "secure",
                          "part_size_mb", "connect_timeout_s", "read_timeout_s", "retries"})


class S3Store:
    def __init__(self, *, bucket: str, endpoint: str = "s3.amazonaws.com", access_key: str | None = None,
                 secret_key: str | None = None, region: str = "us-east-1", secure: bool = True,
                 part_size_bytes: int = DEFAULT_PART_SIZE, connect_timeout_s: float = 5.0,
                 read_timeout_s: float = 120.0, retries: int = 3, scratch_dir: Path | None = None,
                 public_endpoint: str | None = None) -> None:
        """`endpoint` is host[:port]; timeouts and retries bound how long a dead store can hold a caller.

        `public_endpoint` (http(s)://host[:port]) is where browsers reach the store; presigned URLs name it.
        """
        if not _BUCKET.fullmatch(bucket):
            raise StorageConfigError(f"invalid bucket name {bucket!r}")
        if part_size_bytes < MIN_PART_SIZE:
            raise StorageConfigError(f"part size must be at least {MIN_PART_SIZE} bytes")
        if bool(access_key) != bool(secret_key):
            raise StorageConfigError("S3 access key and secret key go together")
        self.bucket = bucket
        self.endpoint = endpoint
        self.secure = secure
        self.part_size_bytes = part_size_bytes
        self.scratch_dir = scratch_dir
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
            maxsize=10,
            retries=urllib3.Retry(total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504],
                                 respect_retry_after_header=False),
        )
        try:
            self._client = Minio(endpoint, access_key=access_key or None, secret_key=secret_key or None,
                                 secure=secure, region=region, http_client=http)
        except ValueError as exc:
            raise StorageConfigError(f"bad S3 endpoint {endpoint!r}: {exc}") from exc
        self.public_endpoint = public_endpoint or None
        self._presigner = self._client
        if public_endpoint:
            public_host, public_secure = _split_endpoint(public_endpoint, option="public_endpoint")
            try:
                self._presigner = Minio(public_host, access_key=access_key or None, secret_key=secret_key or None,
                                        secure=public_secure, region=region, http_client=http)
            except ValueError as exc:
                raise StorageConfigError(f"bad S3 public_endpoint {public_endpoint!r}: {exc}") from exc

    def __repr__(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"S3Store({scheme}://{self.endpoint}/{self.bucket})"

    @classmethod
    def from_url(cls, url: str, *, scratch_dir: Path | None = None) -> S3Store:
        """s3://bucket?endpoint=http://host:port&access_key=…&secret_key=…&region=…&secure=0,
        or http(s)://[access_key:secret_key@]host:port/bucket?region=…  (error details never echo the URL).

        Either form takes public_endpoint=https://host[:port]: the address presigned URLs are signed for.
        """
        try:
            parts = urlsplit(url)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            port = parts.port
        except ValueError as exc:
            raise StorageConfigError("unreadable S3 storage URL") from exc
        unknown = sorted(set(query) - _URL_OPTIONS)
        if unknown:
            raise StorageConfigError(f"unknown S3 storage URL options: {', '.join(unknown)}")
        scheme = parts.scheme.lower()
        access_key = query.get("access_key") or (unquote(parts.username) if parts.username else None)
        secret_key = query.get("secret_key") or (unquote(parts.password) if parts.password else None)
        if scheme == "s3":
            bucket = parts.hostname or ""
            if parts.path not in ("", "/"):
                raise StorageConfigError("s3:// URL names only a bucket: s3://bucket?endpoint=…")
            endpoint, secure = _split_endpoint(query.get("endpoint", "https://s3.amazonaws.com"))
        else:
            bucket = parts.path.strip("/")
            if not parts.hostname:
                raise StorageConfigError("S3 storage URL has no host")
            endpoint = parts.hostname + (f":{port}" if port else "")
            secure = scheme == "https"
        if "secure" in query:
            secure = _flag(query["secure"])
        try:
            part_size_bytes = int(float(query.get("part_size_mb", DEFAULT_PART_SIZE / (1 << 20))) * (1 << 20))
            connect_timeout_s = float(query.get("connect_timeout_s", 5.0))
            read_timeout_s = float(query.get("read_timeout_s", 120.0))
            retries = int(query.get("retries", 3))
        except ValueError as exc:
            raise StorageConfigError("S3 storage URL has a non-numeric option") from exc
        return cls(bucket=bucket, endpoint=endpoint, access_key=access_key, secret_key=secret_key,
                   region=query.get("region") or "us-east-1", secure=secure, part_size_bytes=part_size_bytes,
                   connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s, retries=retries,
                   scratch_dir=scratch_dir, public_endpoint=query.get("public_endpoint") or None)

    # -- writing -------------------------------------------------------------------------------------------

    def put(self, key: str, data: BinaryIO | Path, *, content_type: str = "application/octet-stream",
            handover: bool = False, digest: bool = True) -> StoredObject:
        validate_key(key)
        with open_source(data) as src:
            reader = HashingReader(src)
            self._upload(key, reader, content_type=content_type, create_only=False)
        return StoredObject(key=key, size_bytes=reader.size_bytes, sha256=reader.hexdigest())

    def put_if_absent(self, key: str, data: BinaryIO | Path, *,
                      content_type: str = "application/octet-stream") -> tuple[StoredObject, bool]:
        validate_key(key)
        with open_source(data) as src:
            reader = HashingReader(src)
            if self.stat(key) is not None:
                reader.drain()
                created = False
            else:
                created = self._upload(key, reader, content_type=content_type, create_only=True)
        return StoredObject(key=key, size_bytes=reader.size_bytes, sha256=reader.hexdigest()), created

    def _upload(self, key: str, reader: HashingReader, *, content_type: str, create_only: bool) -> bool:
        """Send the stream to its end, part by part; False when create_only and the key already exists."""
        headers = {"Content-Type": content_type or "application/octet-stream"}
        condition = {"If-None-Match": "*"} if create_only else {}
        first = reader.read_exact(self.part_size_bytes)
        if len(first) < self.part_size_bytes:
            return self._send(create_only, f"putting {key}", "PUT", key, body=first,
                              headers={**headers, **condition})
        with s3_errors(f"starting multipart upload of {key}"):
            upload_id = self._client._create_multipart_upload(self.bucket, key, dict(headers))
        completed = False
        try:
            etags: list[str] = []
            part, first = first, b""  # one part in memory at a time
            while part:
                with s3_errors(f"uploading part {len(etags) + 1} of {key}"):
                    etags.append(self._client._upload_part(self.bucket, key, part, None, upload_id, len(etags) + 1))
                part = b""  # let the sent part go before reading the next
                part = reader.read_exact(self.part_size_bytes)
            body = _complete_body(etags)
            completed = self._send(
                create_only, f"completing multipart upload of {key}", "POST", key, body=body,
                headers={"Content-Type": "application/xml", "Content-MD5": _md5_b64(body), **condition},
                query={"uploadId": upload_id}, check_body=True,
            )
            return completed
        finally:
            if not completed:  # failed, interrupted or refused (412): drop the parts
                self._abort_quietly(key, upload_id)

    def _send(self, create_only: bool, what: str, method: str, key: str, *, body: bytes,
              headers: dict[str, str], query: dict[str, str] | None = None, check_body: bool = False) -> bool:
        """One PUT or POST; False when create_only and the server refused it with 412 (the key exists)."""
        try:
            response = self._client._execute(method, self.bucket, key, body=body, headers=cast("DictType", headers),
                                             query_params=cast("DictType", query), no_body_trace=True)
        except S3Error as exc:
            if create_only and (exc.code == "PreconditionFailed" or exc.response.status == 412):
                return False
            raise translate(exc, what) from exc
        except _FOREIGN_ERRORS as exc:
            raise translate(exc, what) from exc
        if check_body:
            _raise_for_error_document(response, what)
        return True

    def _abort_quietly(self, key: str, upload_id: str) -> None:
        try:
            self._client._abort_multipart_upload(self.bucket, key, upload_id)
        except _FOREIGN_ERRORS as exc:  # the error that got us here matters more; S3 lifecycle rules can sweep
            log.warning("could not abort multipart upload of %s: %s", key, exc)

    # -- reading -------------------------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        with s3_errors(f"opening {key}"):
            response = self._client.get_object(self.bucket, key)
        return cast(BinaryIO, io.BufferedReader(_ResponseStream(response, key), buffer_size=1 << 20))

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """Download into a private temporary folder, removed on exit."""
        validate_key(key)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f"s3copy-{os.getpid()}-", dir=self.scratch_dir))
        try:
            path = tmp_dir / key.rsplit("/", 1)[-1]
            with self.open(key) as src, path.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            yield path
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def stat(self, key: str) -> int | None:
        validate_key(key)
        try:
            info = self._client.stat_object(self.bucket, key)
        except _FOREIGN_ERRORS as exc:
            error = translate(exc, f"stat {key}")
            if isinstance(error, ObjectMissing):
                return None
            raise error from exc
        return int(info.size or 0)

    def delete(self, key: str) -> None:
        validate_key(key)
        with s3_errors(f"deleting {key}"):
            self._client.remove_object(self.bucket, key)

    def local_path(self, key: str) -> Path | None:
        return None

    def presigned_url(self, key: str, *, expires_s: int = 600, download_name: str | None = None,
                      content_type: str | None = None) -> str | None:
        validate_key(key)
        params: dict[str, str] = {}
        if download_name:
            params["response-content-disposition"] = content_disposition(download_name)
        if content_type:
            params["response-content-type"] = content_type
        with s3_errors(f"presigning {key}"):
            return self._presigner.presigned_get_object(self.bucket, key, expires=timedelta(seconds=expires_s),
                                                        response_headers=cast("DictType", params) or None)

    # -- the bucket ----------------------------------------------------------------------------------------

    def check(self) -> None:
        with s3_errors(f"checking bucket {self.bucket}"):
            found = self._client.bucket_exists(self.bucket)
        if not found:
            raise StorageUnavailable(f"bucket {self.bucket} does not exist")

    def ensure_bucket(self) -> None:
        """Create the bucket when missing (a no-op when it exists, also when another process just made it)."""
        with s3_errors(f"checking bucket {self.bucket}"):
            if self._client.bucket_exists(self.bucket):
                return
        try:
            self._client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise translate(exc, f"creating bucket {self.bucket}") from exc
        except _FOREIGN_ERRORS as exc:
            raise translate(exc, f"creating bucket {self.bucket}") from exc


class _ResponseStream(io.RawIOBase):
    """An object's body as a raw stream; connection errors mid-read become StorageUnavailable."""

    def __init__(self, response: BaseHTTPResponse, key: str) -> None:
        self._response = response
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._response.read(len(buffer))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise translate(exc, f"reading {self._key}") from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._response.release_conn()
        super().close()


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition with an ASCII fallback and the real (e.g. Chinese) name as RFC 5987 filename*."""
    clean = "".join(ch for ch in filename if ch.isprintable() and ch not in "\\/\"") or "download"
    fallback = "".join(ch if ch.isascii() and ch not in ";%" else "_" for ch in clean)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean, safe='')}"


def _split_endpoint(endpoint: str, *, option: str = "endpoint") -> tuple[str, bool]:
    """http://host:port -> ("host:port", False); a bare host:port is https."""
    if "://" not in endpoint:
        return endpoint.strip("/"), True
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
            or parts.query or parts.username:
        raise StorageConfigError(f"S3 {option} must look like http://host:port")
    return parts.netloc, parts.scheme == "https"


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off", "")


def _complete_body(etags: list[str]) -> bytes:
    root = ET.Element("CompleteMultipartUpload")
    for number, etag in enumerate(etags, start=1):
        part = ET.SubElement(root, "Part")
        ET.SubElement(part, "PartNumber").text = str(number)
        ET.SubElement(part, "ETag").text = f'"{etag}"'
    return ET.tostring(root)


def _md5_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def _raise_for_error_document(response: BaseHTTPResponse, what: str) -> None:
    """S3 may answer CompleteMultipartUpload with 200 and an <Error> document."""
    try:
        root = ET.fromstring(response.data or b"<empty/>")
    except ET.ParseError:
        return
    if root.tag.rsplit("}", 1)[-1] == "Error":
        code = root.findtext("Code") or "unknown"
        raise StorageUnavailable(f"{what}: S3 error after 200: {code}")

