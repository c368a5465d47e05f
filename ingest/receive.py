"""Receiving an upload: stream it to a scratch file with SHA-256 and a size limit, then store the original once."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ingest import keys
from ingest.errors import EmptyUpload, IngestError, UploadTooLarge
from ingest.sources import local_write_errors
from ingest.storage import Storage, StoredObject


@dataclass(frozen=True)
class Received:
    stored: StoredObject
    created: bool  # False when the same bytes were already stored


def receive_original(stream: BinaryIO, storage: Storage, *, max_size_bytes: int, scratch_dir: Path,
                     chunk_size: int = 1 << 20,
                     on_progress: Callable[[int], None] | None = None) -> Received:
    """Store the bytes of `stream` under their content-addressed key, once.

    Memory does not grow with the upload: it is read `chunk_size` at a time into a scratch file (hashing on the
    way), refused with UploadTooLarge as soon as it passes `max_size_bytes` and with EmptyUpload when it has no
    bytes. `on_progress` gets the byte count so far. The scratch file is always removed.
    """
    scratch_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with local_write_errors("writing an upload's scratch file"):
        fd, name = tempfile.mkstemp(dir=scratch_dir, prefix=f"upload-{os.getpid()}-")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(chunk_size):
                size += len(chunk)
                if size > max_size_bytes:
                    raise UploadTooLarge(f"upload passed {max_size_bytes} bytes",
                                         message=f"文件超过大小上限（{format_size(max_size_bytes)}）")
                digest.update(chunk)
                with local_write_errors("writing an upload's scratch file"):
                    out.write(chunk)
                if on_progress is not None:
                    on_progress(size)
        if size == 0:
            raise EmptyUpload("upload has no bytes")
        sha256 = digest.hexdigest()
        stored, created = storage.put_if_absent(keys.original(sha256), tmp)
        if stored.sha256 != sha256 or stored.size_bytes != size:
            raise IngestError(f"scratch file changed while storing: expected {sha256}/{size}, "
                          f"stored {stored.sha256}/{stored.size_bytes}")
        return Received(stored=stored, created=created)
    finally:
        tmp.unlink(missing_ok=True)


def format_size(size_bytes: int) -> str:
    """A limit as people say it: 500 MB, 4 GB, 1.5 GB (binary units, as Windows shows them)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size_bytes >= scale:
            value = size_bytes / scale
            return f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{size_bytes} B"
