"""The storage side of resumable (tus) uploads: bytes gather under a staging key, request after request.

No database here: the caller keeps each upload's :class:`Progress` (offset, S3 parts, buffered bytes, the saved
SHA-256 state) and hands it back with the next request. Every method can be re-run from the last saved
progress, so a crash between writing bytes and saving progress loses only that unsaved tail, which the client
sends again (its next HEAD shows the saved offset):

- folder store: one staging file ``uploads/<id>`` in the store, truncated to the saved offset before each append;
  completion hard-links it to ``originals/<sha256>`` (create-only, no copy).
- S3: a multipart upload on ``uploads/<id>`` (see :mod:`ingest.resumable_s3`); bytes short of a part wait in a
  local buffer file. Completion assembles the object and copies it server-side to ``originals/<sha256>``.

Memory stays bounded by one read chunk (folder) or one S3 part (S3), whatever the request size.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from ingest import keys
from ingest.errors import ChecksumMismatch, IngestError, ObjectMissing, UploadTooLarge
from ingest.folder_store import FILE_MODE, FolderStore, fsync_dir
from ingest.resumable_hash import ResumableSha256, load_sha256, new_sha256
from ingest.sources import CHUNK_SIZE, local_write_errors
from ingest.storage import Storage, StoredObject

CHECKSUM_ALGORITHMS = ("sha1", "sha256")
FOLDER_CHECKPOINT_BYTES = 64 << 20


@dataclass(frozen=True)
class Part:
    number: int
    etag: str
    size_bytes: int


@dataclass(frozen=True)
class Progress:
    """What the caller saves after each request to resume the upload later, anywhere."""

    offset: int = 0
    parts: tuple[Part, ...] = ()
    buffered_bytes: int = 0
    multipart_upload_id: str | None = None
    sha256_state: bytes | None = None  # None once lost: the whole file is hashed again on completion


@dataclass(frozen=True)
class ChunkCheck:
    """The digest a client sent for one request's bytes (tus checksum extension)."""

    algorithm: str
    digest: bytes

    def __post_init__(self) -> None:
        if self.algorithm not in CHECKSUM_ALGORITHMS:
            raise ValueError(f"unsupported checksum algorithm {self.algorithm!r}")

    def new(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)

    def verify(self, hasher: hashlib._Hash) -> None:
        if not hmac.compare_digest(hasher.digest(), self.digest):
            raise ChecksumMismatch(f"{self.algorithm} of the chunk differs from Upload-Checksum")


@dataclass(frozen=True)
class Leftover:
    """Staged bytes found in storage (for the expiry sweep): what to remove if no live upload owns them."""

    upload_id: str
    multipart_upload_id: str | None = None


Checkpoint = Callable[[Progress], None]


class ResumableStore(Protocol):
    def begin(self, upload_id: str) -> Progress:
        """Prepare an empty staging area."""
        ...

    def check(self, upload_id: str, progress: Progress) -> Progress:
        """The progress that the staged bytes can really back (smaller when a local buffer was lost)."""
        ...

    def append(self, upload_id: str, progress: Progress, chunks: Iterable[bytes], *, max_bytes: int,
               check: ChunkCheck | None = None, checkpoint: Checkpoint | None = None) -> Progress:
        """Add bytes at ``progress.offset``; returns the new progress for the caller to save.

        More than ``max_bytes`` raises UploadTooLarge, a ``check`` that fails raises ChecksumMismatch: in both
        cases nothing of this call counts (the returned-progress contract: only what the caller saved exists).
        ``checkpoint`` is called with durable intermediate progress (S3: after each part) during long requests.
        """
        ...

    def assemble(self, upload_id: str, progress: Progress, *, length: int) -> StoredObject:
        """Make the staged bytes one object under the staging key; size and SHA-256 of the whole file."""
        ...

    def publish(self, upload_id: str, staged: StoredObject) -> tuple[StoredObject, bool]:
        """Create ``originals/<sha256>`` from the assembled bytes, never overwriting; (object, created)."""
        ...

    def discard(self, upload_id: str, progress: Progress | None = None) -> None:
        """Remove everything staged for the upload (no error when already gone)."""
        ...

    def leftovers(self, older_than_s: float) -> list[Leftover]:
        """Staged uploads untouched for ``older_than_s`` (to compare with the live ones)."""
        ...

    def remove_leftover(self, leftover: Leftover) -> None: ...


def resumable_store_for(storage: Storage, *, buffer_dir: Path) -> ResumableStore:
    """The resumable side of a storage backend; ``buffer_dir`` holds S3's not-yet-a-part bytes."""
    if isinstance(storage, FolderStore):
        return FolderResumable(storage)
    from ingest.s3_store import S3Store

    if isinstance(storage, S3Store):
        from ingest.resumable_s3 import S3Resumable

        return S3Resumable(storage, buffer_dir=buffer_dir)
    raise IngestError(f"no resumable uploads for {storage!r}")


class Hashers:
    """The whole-file SHA-256 (resumed, or None once lost) and the optional per-request checksum."""

    def __init__(self, progress: Progress, check: ChunkCheck | None) -> None:
        self.whole: ResumableSha256 | None = (
            new_sha256() if progress.offset == 0 else load_sha256(progress.sha256_state))
        self.chunk = check.new() if check is not None else None

    def update(self, data: bytes) -> None:
        if self.whole is not None:
            self.whole.update(data)
        if self.chunk is not None:
            self.chunk.update(data)

    def state(self) -> bytes | None:
        return self.whole.state() if self.whole is not None else None


def sha256_of(stream_chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in stream_chunks:
        digest.update(chunk)
    return digest.hexdigest()


def whole_sha256(progress: Progress, read_again: Callable[[], Iterable[bytes]]) -> str:
    """The file's SHA-256 from the saved state, or by reading the staged bytes again when it was lost."""
    hasher = load_sha256(progress.sha256_state)
    if hasher is not None:
        return hasher.hexdigest()
    return sha256_of(read_again())


class FolderResumable:
    def __init__(self, store: FolderStore) -> None:
        self.store = store

    def _path(self, upload_id: str) -> Path:
        path = self.store.local_path(keys.upload_staging(upload_id))
        assert path is not None
        return path

    def begin(self, upload_id: str) -> Progress:
        path = self._path(upload_id)
        with local_write_errors("creating an upload's staging file"):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            os.fchmod(fd, FILE_MODE)
            os.close(fd)
        hasher = new_sha256()
        return Progress(sha256_state=hasher.state() if hasher else None)

    def check(self, upload_id: str, progress: Progress) -> Progress:
        try:
            size = self._path(upload_id).stat().st_size
        except FileNotFoundError:
            size = 0
        if size >= progress.offset:
            return progress
        return Progress(offset=size, sha256_state=None)  # the file lost its tail: rewind, hash again at the end

    def append(self, upload_id: str, progress: Progress, chunks: Iterable[bytes], *, max_bytes: int,
               check: ChunkCheck | None = None, checkpoint: Checkpoint | None = None) -> Progress:
        hashers = Hashers(progress, check)
        written = unsaved = 0
        with local_write_errors("appending to an upload's staging file"):
            with open(self._path(upload_id), "r+b") as out:
                out.truncate(progress.offset)  # drop what an unsaved earlier request left
                out.seek(progress.offset)
                for chunk in chunks:
                    written += len(chunk)
                    if written > max_bytes:
                        raise UploadTooLarge(f"request passed the upload's remaining {max_bytes} bytes")
                    out.write(chunk)
                    hashers.update(chunk)
                    unsaved += len(chunk)
                    if checkpoint is not None and check is None and unsaved >= FOLDER_CHECKPOINT_BYTES:
                        # A long request (a client sending the whole file in one PATCH) keeps its progress
                        # even if this process dies half-way.
                        out.flush()
                        os.fsync(out.fileno())
                        checkpoint(replace(progress, offset=progress.offset + written, sha256_state=hashers.state()))
                        unsaved = 0
                if check is not None and hashers.chunk is not None:
                    check.verify(hashers.chunk)
                out.flush()
                os.fsync(out.fileno())
        return replace(progress, offset=progress.offset + written, sha256_state=hashers.state())

    def assemble(self, upload_id: str, progress: Progress, *, length: int) -> StoredObject:
        path = self._path(upload_id)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise ObjectMissing(f"staging file of upload {upload_id} is gone") from exc
        if size != length:
            raise IngestError(f"staging file of upload {upload_id} has {size} bytes, expected {length}")
        sha256 = whole_sha256(progress, lambda: _read_file(path))
        return StoredObject(key=keys.upload_staging(upload_id), size_bytes=size, sha256=sha256)

    def publish(self, upload_id: str, staged: StoredObject) -> tuple[StoredObject, bool]:
        key = keys.original(staged.sha256)
        target = self.store.local_path(key)
        assert target is not None
        obj = StoredObject(key=key, size_bytes=staged.size_bytes, sha256=staged.sha256)
        if target.is_file():
            return obj, False
        with local_write_errors(f"publishing {key}"):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(self._path(upload_id), target)  # the staging inode becomes the original: no copy
            except FileExistsError:
                return obj, False
            fsync_dir(target.parent)
        return obj, True

    def discard(self, upload_id: str, progress: Progress | None = None) -> None:
        self._path(upload_id).unlink(missing_ok=True)

    def leftovers(self, older_than_s: float) -> list[Leftover]:
        folder = self._path("x").parent
        if not folder.is_dir():
            return []
        cutoff = time.time() - older_than_s
        found = []
        for entry in os.scandir(folder):
            try:
                keys.upload_staging(entry.name)
            except ValueError:
                continue  # not ours
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    found.append(Leftover(upload_id=entry.name))
            except FileNotFoundError:
                continue
        return found

    def remove_leftover(self, leftover: Leftover) -> None:
        self.discard(leftover.upload_id)


def _read_file(path: Path) -> Iterable[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk

