"""Reading what is to be stored: a file path or a stream, hashed (SHA-256) and counted on the way."""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ingest.errors import StorageUnavailable

CHUNK_SIZE = 1 << 20

# Errors writing local files that say "the disk", not "this request": worth retrying later.
_TRANSIENT_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})


class HashingReader:
    """Wraps a binary stream; every byte read passes through SHA-256 and the byte count."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()
        self.size_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self._hash.update(data)
            self.size_bytes += len(data)
        return data

    def read_exact(self, size: int) -> bytes:
        """Read `size` bytes, fewer only at the end of the stream (streams may return short reads)."""
        first = self.read(size)
        if len(first) == size or not first:
            return first
        chunks = [first]
        left = size - len(first)
        while left:
            data = self.read(left)
            if not data:
                break
            chunks.append(data)
            left -= len(data)
        return b"".join(chunks)

    def drain(self, chunk_size: int = CHUNK_SIZE) -> None:
        """Read (and hash) the rest of the stream."""
        while self.read(chunk_size):
            pass

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@contextmanager
def open_source(data: BinaryIO | Path) -> Iterator[BinaryIO]:
    """A path is opened (and closed afterwards); a stream is used from where it stands and left open."""
    if isinstance(data, Path):
        with data.open("rb") as f:
            yield f
    else:
        yield data


@contextmanager
def local_write_errors(what: str) -> Iterator[None]:
    """Turn a full or failing local disk into StorageUnavailable; other OSErrors pass unchanged."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _TRANSIENT_WRITE_ERRNOS:
            raise StorageUnavailable(f"{what}: {exc}") from exc
        raise
