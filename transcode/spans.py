"""Byte spans: a file built from pieces of other files and bytes in memory, without copying them first.

An audio pack's track is a new ID3 tag, perhaps a spoken intro, and the audio edition's frames as they are; the ZIP
writer streams those pieces straight into the archive, so a pack costs one read and one write of each byte.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class FileSpan:
    """`length` bytes of `path` from `start`."""

    path: Path
    start: int
    length: int


Piece = bytes | FileSpan


def pieces_size(pieces: Sequence[Piece]) -> int:
    return sum(len(p) if isinstance(p, bytes) else p.length for p in pieces)


def iter_piece_chunks(pieces: Sequence[Piece], *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The pieces' bytes in order, a file span read `chunk_bytes` at a time."""
    for piece in pieces:
        if isinstance(piece, bytes):
            if piece:
                yield piece
            continue
        with piece.path.open("rb") as f:
            yield from _read_span(f, piece.start, piece.length, chunk_bytes)


def _read_span(f: BinaryIO, start: int, length: int, chunk_bytes: int) -> Iterator[bytes]:
    f.seek(start)
    left = length
    while left > 0:
        chunk = f.read(min(chunk_bytes, left))
        if not chunk:
            raise EOFError(f"{getattr(f, 'name', 'file')} ended {left} bytes before its span")
        left -= len(chunk)
        yield chunk
