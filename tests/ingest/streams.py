"""Streams for the ingest tests, generated on the fly."""

from __future__ import annotations

import hashlib
from collections.abc import Callable


class GeneratedStream:
    """`size` bytes made on the fly (never held whole), optionally failing after `fail_after` bytes."""

    def __init__(self, size: int, *, fail_after: int | None = None, seed: int = 0,
                 on_read: Callable[[int], None] | None = None) -> None:
        self.size = size
        self.position = 0
        self.fail_after = fail_after
        self._block = bytes((i * 131 + seed * 7 + i // 251) % 256 for i in range(1 << 16))
        self._on_read = on_read

    def read(self, n: int = -1) -> bytes:
        if self.fail_after is not None and self.position >= self.fail_after:
            raise ConnectionResetError("client went away mid-upload")
        left = self.size - self.position
        n = left if n is None or n < 0 else min(n, left)
        n = min(n, len(self._block))
        if self.fail_after is not None:
            n = min(n, max(self.fail_after - self.position, 1))
        data = self._block[:n]
        self.position += n
        if self._on_read is not None:
            self._on_read(self.position)
        return data


def expected_sha256(size: int, seed: int = 0) -> str:
    digest = hashlib.sha256()
    stream = GeneratedStream(size, seed=seed)
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()
