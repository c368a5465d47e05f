"""A storage backend on a local folder (the embedded default).

Writes go to a temporary file in a hidden staging folder inside the root (same filesystem), are fsynced, then
renamed into place with os.replace, so readers see either nothing or the whole file. put_if_absent publishes with
os.link, which fails when the key exists, so of two concurrent writers only one creates the object.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ingest.errors import ObjectMissing, StorageUnavailable
from ingest.keys import validate_key
from ingest.sources import CHUNK_SIZE, HashingReader, local_write_errors, open_source
from ingest.storage import StoredObject

STAGING_DIR = ".staging"
FILE_MODE = 0o644


class FolderStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.staging = self.root / STAGING_DIR
        with local_write_errors(f"creating {self.staging}"):
            self.staging.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FolderStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _stage(self, data: BinaryIO | Path) -> tuple[Path, int, str]:
        """Copy `data` into a fsynced staging file; returns (path, size, sha256)."""
        with local_write_errors("writing a staging file"):
            fd, name = tempfile.mkstemp(dir=self.staging, prefix="put-")
            tmp = Path(name)
            try:
                with os.fdopen(fd, "wb") as out, open_source(data) as src:
                    reader = HashingReader(src)
                    while chunk := reader.read(CHUNK_SIZE):
                        out.write(chunk)
                    out.flush()
                    os.fchmod(out.fileno(), FILE_MODE)
                    os.fsync(out.fileno())
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return tmp, reader.size_bytes, reader.hexdigest()

    def _stage_by_link(self, source: Path, *, digest: bool = True) -> tuple[Path, int, str] | None:
        """A handed-over file on the store's own disk, linked into staging rather than copied (a built pack of
        hundreds of megabytes is then written once, not twice): only read (hashed) and fsynced. None when it is
        on another disk or the filesystem has no hard links."""
        tmp = self.staging / f"put-{uuid.uuid4().hex}"
        try:
            if not source.is_file() or source.stat().st_dev != self.staging.stat().st_dev:
                return None
            os.link(source, tmp)
        except OSError:
            return None  # another disk, or a filesystem without hard links: copy instead
        try:
            with local_write_errors("writing a staging file"), tmp.open("rb+") as f:
                size, sha256 = os.fstat(f.fileno()).st_size, ""
                if digest:
                    reader = HashingReader(f)
                    reader.drain()
                    size, sha256 = reader.size_bytes, reader.hexdigest()
                os.fchmod(f.fileno(), FILE_MODE)
                os.fsync(f.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, size, sha256

    def put(self, key: str, data: BinaryIO | Path, *, content_type: str = "application/octet-stream",
            handover: bool = False, digest: bool = True) -> StoredObject:
        target = self._path(key)
        linked = self._stage_by_link(data, digest=digest) if handover and isinstance(data, Path) else None
        tmp, size, sha256 = linked or self._stage(data)
        try:
            with local_write_errors(f"publishing {key}"):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
                fsync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return StoredObject(key=key, size_bytes=size, sha256=sha256)

    def put_if_absent(self, key: str, data: BinaryIO | Path, *,
                      content_type: str = "application/octet-stream") -> tuple[StoredObject, bool]:
        target = self._path(key)
        if target.is_file():
            with open_source(data) as src:
                reader = HashingReader(src)
                reader.drain()
            return StoredObject(key=key, size_bytes=reader.size_bytes, sha256=reader.hexdigest()), False
        tmp, size, sha256 = self._stage(data)
        try:
            with local_write_errors(f"publishing {key}"):
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(tmp, target)
                    created = True
                except FileExistsError:
                    created = False
                if created:
                    fsync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return StoredObject(key=key, size_bytes=size, sha256=sha256), created

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectMissing(f"no object {key}") from exc

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """The stored file itself: callers only read it."""
        path = self._path(key)
        if not path.is_file():
            raise ObjectMissing(f"no object {key}")
        yield path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def stat(self, key: str) -> int | None:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size if path.is_file() else None

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            pass

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def presigned_url(self, key: str, *, expires_s: int = 600, download_name: str | None = None,
                      content_type: str | None = None) -> str | None:
        return None

    def check(self) -> None:
        if not self.staging.is_dir() or not os.access(self.staging, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"storage folder {self.root} is missing or not writable")

    def clean_staging(self, older_than_s: float = 86400.0) -> int:
        """Remove staging files left by crashed writers; returns how many were removed."""
        cutoff = time.time() - older_than_s
        removed = 0
        for entry in os.scandir(self.staging):
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


def fsync_dir(path: Path) -> None:
    """Make a rename or link in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
