"""The storage interface: one small Protocol, two backends (a local folder, S3 through minio).

Backends are picked by URL with `storage_from_url`:
    file:var/store                       a folder, relative to base_dir (or the working directory)
    file:///srv/weike/store              a folder, absolute
    s3://bucket?endpoint=http://127.0.0.1:9000&access_key=…&secret_key=…&region=…&secure=0
    http://access:secret@127.0.0.1:9000/bucket?region=…
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

from ingest.errors import StorageConfigError


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    sha256: str


class Storage(Protocol):
    def put(self, key: str, data: BinaryIO | Path, *, content_type: str = "application/octet-stream",
            handover: bool = False, digest: bool = True) -> StoredObject:
        """Store `data` under `key` (replacing any object there); visible only once complete. `handover`: the
        caller never writes to the file `data` again (it may delete it), so a local store may keep it as it is
        rather than copy it. `digest=False`: the caller has no use for the SHA-256, so a store that would read the
        bytes again only to hash them may leave `sha256` empty."""
        ...

    def put_if_absent(self, key: str, data: BinaryIO | Path, *,
                      content_type: str = "application/octet-stream") -> tuple[StoredObject, bool]:
        """Create-only put: never replaces an existing object. Returns (object, created).

        The returned size and SHA-256 are those of `data` (which is read whole either way); for
        content-addressed keys, what put_if_absent is for, they are the stored object's too.
        """
        ...

    def open(self, key: str) -> BinaryIO:
        """A stream of the object's bytes; ObjectMissing when there is none."""
        ...

    def local_copy(self, key: str) -> AbstractContextManager[Path]:
        """A local file with the object's bytes, for reading only; a temporary copy is removed on exit."""
        ...

    def exists(self, key: str) -> bool: ...

    def stat(self, key: str) -> int | None:
        """Size in bytes, or None when there is no such object."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; no error when it is absent."""
        ...

    def local_path(self, key: str) -> Path | None:
        """Where the object lives on local disk (for HTTP Range serving), or None for remote stores."""
        ...

    def presigned_url(self, key: str, *, expires_s: int = 600, download_name: str | None = None,
                      content_type: str | None = None) -> str | None:
        """A short-lived GET URL for remote stores; None for local ones."""
        ...

    def check(self) -> None:
        """Raise StorageUnavailable when the store does not answer."""
        ...


def storage_from_url(url: str, *, base_dir: Path | None = None, scratch_dir: Path | None = None) -> Storage:
    """Build the backend a storage URL names; StorageConfigError when the URL makes no sense.

    `base_dir` anchors relative folder paths (default: the working directory); `scratch_dir` is where S3's
    local_copy downloads (default: the system temp folder).
    """
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "file":
        from ingest.folder_store import FolderStore

        return FolderStore(_folder_path(url, base_dir))
    if scheme in ("s3", "http", "https"):
        from ingest.s3_store import S3Store

        return S3Store.from_url(url, scratch_dir=scratch_dir)
    raise StorageConfigError(f"unsupported storage URL scheme {scheme!r} (use file: or s3://)")


def _folder_path(url: str, base_dir: Path | None) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise StorageConfigError("file storage URL takes a path only: file:relative/dir or file:///abs/dir")
    raw = unquote(parts.path)
    if not raw:
        raise StorageConfigError("file storage URL has no path")
    path = Path(raw)
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    return path
