"""Resumable uploads on S3: one multipart upload per tus upload, on the staging key ``uploads/<id>``.

S3 wants every part but the last to be at least 5 MiB, while a phone may PATCH any number of bytes. Bytes
short of a full part wait on local disk in ``<buffer_dir>/<id>.<part number>`` (not in memory, not in S3);
a full buffer is sent as that part. Part numbers and buffer files are named by position, so re-sending a part
after a crash overwrites it, and the buffer file the saved progress points at is never cut below what was
saved until a later save has taken over. The buffer folder must survive API restarts (it is under the data
dir); if it is lost anyway, :meth:`S3Resumable.check` rewinds the upload to its last complete part.

Like :mod:`ingest.s3_store`, this uses the minio client's request methods (``_create_multipart_upload``,
``_upload_part``…), the same ones its public put_object is built on.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from minio.commonconfig import ComposeSource, CopySource
from minio.datatypes import Part as MinioPart
from minio.error import S3Error

from ingest import keys
from ingest.errors import IngestError, ObjectMissing, UploadTooLarge
from ingest.resumable import (
    Checkpoint,
    ChunkCheck,
    Hashers,
    Leftover,
    Part,
    Progress,
    whole_sha256,
)
from ingest.resumable_hash import new_sha256
from ingest.s3_errors import s3_errors, translate
from ingest.s3_store import MIN_PART_SIZE, S3Store
from ingest.sources import CHUNK_SIZE, local_write_errors
from ingest.storage import StoredObject

log = logging.getLogger(__name__)
MAX_COPY_BYTES = 5 << 30  # CopyObject's limit; larger objects are copied part by part (compose)
_BUFFER_NAME = re.compile(r"([a-z0-9][a-z0-9_-]{0,63})\.(\d+)")


class S3Resumable:
    def __init__(self, store: S3Store, *, buffer_dir: Path, part_size_bytes: int | None = None) -> None:
        self.store = store
        self.client = store._client  # the same configured client (timeouts, retries)
        self.bucket = store.bucket
        self.part_size = max(MIN_PART_SIZE, part_size_bytes or store.part_size_bytes)
        self.buffer_dir = buffer_dir

    # -- local buffer files --------------------------------------------------------------------------------

    def _buffer(self, upload_id: str, part_number: int) -> Path:
        keys.upload_staging(upload_id)  # validates the id
        return self.buffer_dir / f"{upload_id}.{part_number}"

    def _buffers(self, upload_id: str) -> Iterator[tuple[int, Path]]:
        if not self.buffer_dir.is_dir():
            return
        for entry in os.scandir(self.buffer_dir):
            match = _BUFFER_NAME.fullmatch(entry.name)
            if match and match.group(1) == upload_id:
                yield int(match.group(2)), Path(entry.path)

    def _drop_buffers(self, upload_id: str, *, keep: int | None = None) -> None:
        for number, path in self._buffers(upload_id):
            if number != keep:
                path.unlink(missing_ok=True)

    # -- the protocol --------------------------------------------------------------------------------------

    def begin(self, upload_id: str) -> Progress:
        """Nothing in S3 yet: the multipart upload starts with the first full part, so a file smaller than a
        part never needs one (nor the copy at the end)."""
        keys.upload_staging(upload_id)
        with local_write_errors("creating the upload buffer folder"):
            self.buffer_dir.mkdir(parents=True, exist_ok=True)
        hasher = new_sha256()
        return Progress(sha256_state=hasher.state() if hasher else None)

    def _multipart(self, upload_id: str, progress: Progress, checkpoint: Checkpoint | None) -> Progress:
        """``progress`` with a multipart upload, started (and saved through ``checkpoint``) when it has none."""
        if progress.multipart_upload_id:
            return progress
        key = keys.upload_staging(upload_id)
        with s3_errors(f"starting multipart upload of {key}"):
            mpu = self.client._create_multipart_upload(self.bucket, key, {"Content-Type": "application/octet-stream"})
        started = replace(progress, multipart_upload_id=mpu)
        if checkpoint is not None:
            checkpoint(started)  # the saved progress, now with its multipart upload: never an orphan
        return started

    def check(self, upload_id: str, progress: Progress) -> Progress:
        if progress.buffered_bytes == 0:
            return progress
        path = self._buffer(upload_id, len(progress.parts) + 1)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size >= progress.buffered_bytes:
            return progress
        log.warning("upload %s: local buffer lost (%d of %d bytes); rewinding to the last part",
                    upload_id, size, progress.buffered_bytes)
        return replace(progress, offset=progress.offset - progress.buffered_bytes, buffered_bytes=0,
                       sha256_state=None)

    def append(self, upload_id: str, progress: Progress, chunks: Iterable[bytes], *, max_bytes: int,
               check: ChunkCheck | None = None, checkpoint: Checkpoint | None = None) -> Progress:
        """Without a checksum, full parts go to S3 while the request streams (saved through ``checkpoint``);
        with one, they wait on disk until the request's bytes are verified."""
        stream_parts = check is None
        hashers = Hashers(progress, check)
        parts = list(progress.parts)
        offset, buffered = progress.offset, progress.buffered_bytes
        written = 0
        with local_write_errors("writing an upload buffer"):
            self.buffer_dir.mkdir(parents=True, exist_ok=True)
            current = len(parts) + 1
            self._drop_buffers(upload_id, keep=current)  # saved parts' buffers and unsaved requests' leftovers
            out = self._open_buffer(upload_id, current, buffered)
        try:
            for chunk in chunks:
                written += len(chunk)
                if written > max_bytes:
                    raise UploadTooLarge(f"request passed the upload's remaining {max_bytes} bytes")
                view = memoryview(chunk)
                while view:
                    room = self.part_size - buffered if stream_parts else len(view)
                    piece = view[:room]
                    with local_write_errors("writing an upload buffer"):
                        out.write(piece)
                    hashers.update(chunk if len(piece) == len(chunk) else bytes(piece))
                    buffered += len(piece)
                    offset += len(piece)
                    view = view[len(piece):]
                    if stream_parts and buffered >= self.part_size:
                        out.close()
                        progress = self._multipart(upload_id, progress, checkpoint)
                        parts.append(self._send_part(upload_id, progress, buffer_number=len(parts) + 1,
                                                     part_number=len(parts) + 1))
                        buffered = 0
                        out = self._open_buffer(upload_id, len(parts) + 1, 0)
                        if checkpoint is not None:
                            checkpoint(replace(progress, offset=offset, parts=tuple(parts), buffered_bytes=0,
                                               sha256_state=hashers.state()))
                            self._buffer(upload_id, len(parts)).unlink(missing_ok=True)
            if check is not None and hashers.chunk is not None:
                check.verify(hashers.chunk)
            with local_write_errors("writing an upload buffer"):
                out.flush()
                os.fsync(out.fileno())
        finally:
            out.close()
        if not stream_parts and buffered >= self.part_size:
            progress = self._multipart(upload_id, progress, checkpoint)
            parts, buffered = self._send_full_parts(upload_id, progress, parts, buffered)
        return replace(progress, offset=offset, parts=tuple(parts), buffered_bytes=buffered,
                       sha256_state=hashers.state())

    def _open_buffer(self, upload_id: str, part_number: int, keep_bytes: int) -> BinaryIO:
        path = self._buffer(upload_id, part_number)
        with local_write_errors("opening an upload buffer"):
            out = open(path, "r+b" if path.exists() else "w+b")  # noqa: SIM115 (closed by the caller)
            out.truncate(keep_bytes)
            out.seek(keep_bytes)
        return out

    def _send_part(self, upload_id: str, progress: Progress, *, buffer_number: int, part_number: int,
                   start: int = 0, size: int | None = None) -> Part:
        """Send (a slice of) buffer file ``buffer_number`` as S3 part ``part_number``; one part in memory."""
        source = self._buffer(upload_id, buffer_number)
        with local_write_errors("reading an upload buffer"), source.open("rb") as fh:
            fh.seek(start)
            data = fh.read(size if size is not None else -1)
        key = keys.upload_staging(upload_id)
        assert progress.multipart_upload_id is not None
        with s3_errors(f"uploading part {part_number} of {key}"):
            etag = self.client._upload_part(self.bucket, key, data, None, progress.multipart_upload_id, part_number)
        return Part(number=part_number, etag=etag, size_bytes=len(data))

    def _send_full_parts(self, upload_id: str, progress: Progress, parts: list[Part],
                         buffered: int) -> tuple[list[Part], int]:
        """After a verified request: cut the (possibly long) buffer file into parts; the tail moves on to the
        next part's buffer file (the saved progress's buffer stays intact until the caller saves anew)."""
        number = len(parts) + 1
        start = 0
        while buffered - start >= self.part_size:
            parts.append(self._send_part(upload_id, progress, buffer_number=number, part_number=len(parts) + 1,
                                         start=start, size=self.part_size))
            start += self.part_size
        if start == 0:
            return parts, buffered
        left = rest = buffered - start
        with local_write_errors("moving an upload buffer's tail"), \
                self._buffer(upload_id, number).open("rb") as fh, \
                open(self._buffer(upload_id, len(parts) + 1), "wb") as out:
            fh.seek(start)
            while left and (block := fh.read(min(CHUNK_SIZE, left))):
                out.write(block)
                left -= len(block)
            out.flush()
            os.fsync(out.fileno())
        return parts, rest

    def assemble(self, upload_id: str, progress: Progress, *, length: int) -> StoredObject:
        key = keys.upload_staging(upload_id)
        if not progress.parts:  # smaller than a part: the bytes stay in the local buffer until publish
            local = self._buffer(upload_id, 1)
            size = local.stat().st_size if local.is_file() else None
            if size != length:
                raise ObjectMissing(f"local buffer of upload {upload_id} has {size} bytes, expected {length}")
            sha256 = whole_sha256(progress, lambda: _read_local(local))
            return StoredObject(key=key, size_bytes=length, sha256=sha256)
        size = self.store.stat(key)
        if size is None:  # not assembled yet (or a crash came before CompleteMultipartUpload answered)
            parts = list(progress.parts)
            if progress.buffered_bytes or not parts:
                parts.append(self._send_part(upload_id, progress, buffer_number=len(parts) + 1,
                                             part_number=len(parts) + 1, size=progress.buffered_bytes))
            assert progress.multipart_upload_id is not None
            with s3_errors(f"completing multipart upload of {key}"):
                try:
                    self.client._complete_multipart_upload(
                        self.bucket, key, progress.multipart_upload_id,
                        [MinioPart(p.number, p.etag) for p in parts])
                except S3Error as exc:
                    if exc.code != "NoSuchUpload" or self.store.stat(key) is None:
                        raise
            size = self.store.stat(key)
        if size != length:
            raise ObjectMissing(f"assembled {key} has {size} bytes, expected {length}")
        sha256 = whole_sha256(progress, lambda: _read_object(self.store, key))
        self._drop_buffers(upload_id)
        return StoredObject(key=key, size_bytes=size, sha256=sha256)

    def publish(self, upload_id: str, staged: StoredObject) -> tuple[StoredObject, bool]:
        key = keys.original(staged.sha256)
        obj = StoredObject(key=key, size_bytes=staged.size_bytes, sha256=staged.sha256)
        if self.store.stat(key) is not None:  # content-addressed: the same bytes are there already
            return obj, False
        local = self._buffer(upload_id, 1)
        if local.is_file() and self.store.stat(staged.key) is None:  # never became a multipart upload
            stored, created = self.store.put_if_absent(key, local)
            if stored.sha256 != staged.sha256 or stored.size_bytes != staged.size_bytes:
                raise IngestError(f"local buffer of upload {upload_id} changed before publishing")
            return obj, created
        with s3_errors(f"copying {staged.key} to {key}"):
            if staged.size_bytes <= MAX_COPY_BYTES:
                self.client.copy_object(self.bucket, key, CopySource(self.bucket, staged.key))
            else:
                self.client.compose_object(self.bucket, key, [ComposeSource(self.bucket, staged.key)])
        return obj, True

    def discard(self, upload_id: str, progress: Progress | None = None) -> None:
        key = keys.upload_staging(upload_id)
        if progress is not None and progress.multipart_upload_id:
            self._abort(key, progress.multipart_upload_id)
        self._drop_buffers(upload_id)
        self.store.delete(key)

    def _abort(self, key: str, multipart_upload_id: str) -> None:
        try:
            self.client._abort_multipart_upload(self.bucket, key, multipart_upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise translate(exc, f"aborting multipart upload of {key}") from exc
        except Exception as exc:  # urllib3/minio transport errors
            raise translate(exc, f"aborting multipart upload of {key}") from exc

    def leftovers(self, older_than_s: float) -> list[Leftover]:
        """Incomplete multipart uploads under uploads/ started before the cut-off, and uploads whose finished
        staging object or local buffers were not touched since (one entry each)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        found: list[Leftover] = []
        with s3_errors("listing incomplete multipart uploads"):
            result = self.client._list_multipart_uploads(self.bucket, prefix="uploads/", max_uploads=1000)
        for item in result.uploads:
            upload_id = item.object_name.removeprefix("uploads/")
            initiated = _aware(item.initiated_time)
            if _valid_id(upload_id) and item.upload_id and (initiated is None or initiated < cutoff):
                found.append(Leftover(upload_id=upload_id, multipart_upload_id=item.upload_id))
        seen: set[str] = set()
        # Finished staging objects: a completed multipart upload whose clean-up failed after the upload had
        # become an original (or had failed its check). A live upload completing right now is skipped by the caller.
        with s3_errors("listing staged upload objects"):
            for obj in self.client.list_objects(self.bucket, prefix="uploads/"):
                upload_id = (obj.object_name or "").removeprefix("uploads/")
                modified = _aware(obj.last_modified)
                if (not obj.is_dir and _valid_id(upload_id) and upload_id not in seen
                        and modified is not None and modified < cutoff):
                    seen.add(upload_id)
                    found.append(Leftover(upload_id=upload_id))
        file_cutoff = time.time() - older_than_s
        if self.buffer_dir.is_dir():
            for entry in os.scandir(self.buffer_dir):
                match = _BUFFER_NAME.fullmatch(entry.name)
                if match and match.group(1) not in seen and entry.stat().st_mtime < file_cutoff:
                    seen.add(match.group(1))
                    found.append(Leftover(upload_id=match.group(1)))
        return found

    def remove_leftover(self, leftover: Leftover) -> None:
        """A multipart leftover: abort that multipart upload only. Otherwise: drop the local buffers and the
        finished staging object, if any."""
        if leftover.multipart_upload_id:
            self._abort(keys.upload_staging(leftover.upload_id), leftover.multipart_upload_id)
        else:
            self._drop_buffers(leftover.upload_id)
            self.store.delete(keys.upload_staging(leftover.upload_id))


def _aware(moment: datetime | None) -> datetime | None:
    """An S3 timestamp, read as UTC when the server sent it without a zone."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _valid_id(upload_id: str) -> bool:
    try:
        keys.upload_staging(upload_id)
    except ValueError:
        return False
    return True


def _read_local(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk


def _read_object(store: S3Store, key: str) -> Iterator[bytes]:
    with store.open(key) as stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk

