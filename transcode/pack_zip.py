"""A stored (uncompressed) ZIP streamed from pieces: an audio pack, built at about the speed of copying its bytes.

    entries = [ZipEntry("01_开篇.mp3", [tag_bytes, FileSpan(edition, start, length)]), ZipEntry("目录.txt", [toc])]
    write_stored_zip(out, entries, modified=published_at, on_progress=report)

MP3 frames do not deflate, so every entry is stored: each byte is read once, checksummed and written once, in 1 MiB
chunks, the CRC-32 of one chunk taken on a helper thread while the main thread writes it and reads the next: zlib's
CRC-32 is about as fast as the page cache takes writes, so done in line it would halve the speed of a pack written
to memory. ISA-L's CRC-32 (the `isal` package, used when installed) is an order of magnitude faster still;
`bench/pack_zip.py` measures both against a plain copy. Sizes are known from the pieces before anything is written, so each local header
is written with its final sizes and only its CRC-32 is patched once the entry's bytes are through (no data
descriptors, which some extractors handle badly); the archive's exact size is known in advance too
(`stored_zip_size`).

Every entry carries the UTF-8 name flag (0x800), entries appear in the order given (cheap players play in the FAT
directory order extraction leaves behind), all get the same modification time, Unix mode 0644, no extra fields and
no comments: the same entries give the same bytes. ZIP64 records appear only where a value does not fit 32 bits (an
entry or an offset at 4 GiB or more, or 65535 entries or more).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from io import FileIO
from pathlib import Path
from typing import BinaryIO

from transcode.spans import FileSpan, Piece, pieces_size

try:  # ISA-L's CRC-32 (carry-less multiplication): the same values as zlib's, many times faster
    from isal.isal_zlib import crc32
except ImportError:  # isal is optional
    from zlib import crc32

ZIP64_LIMIT = 0xFFFFFFFF  # a 32-bit size or offset this large or larger goes into a ZIP64 field
ZIP_COUNT_LIMIT = 0xFFFF  # as many entries or more: a ZIP64 end record
_MAX32 = 0xFFFFFFFF  # what a 32-bit field holds when the value is in the ZIP64 field instead
_MAX16 = 0xFFFF
CHUNK_BYTES = 1 << 20
PROGRESS_STEP_BYTES = 16 << 20  # on_progress is called at most about once per this many bytes, and at the end
UTF8_NAME_FLAG = 0x0800
STORED = 0
VERSION_DEFAULT = 20  # 2.0
VERSION_ZIP64 = 45  # 4.5
MADE_BY_UNIX = 3
FILE_MODE = 0o100644  # a regular file, rw-r--r--, in the high 16 bits of the external attributes

_LOCAL = struct.Struct("<IHHHHHIIIHH")  # 30 bytes
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # 46 bytes
_END = struct.Struct("<IHHHHIIH")  # 22 bytes
_END64 = struct.Struct("<IQHHIIQQQQ")  # 56 bytes
_LOCATOR64 = struct.Struct("<IIQI")  # 20 bytes
_EXTRA_HEADER = struct.Struct("<HH")
_ZIP64_EXTRA_ID = 0x0001
_CRC_OFFSET = 14  # of the CRC-32 in a local header


@dataclass(frozen=True)
class ZipEntry:
    """A file in the archive: its name (`/` separates folders) and the pieces its bytes come from, in order."""

    name: str
    pieces: Sequence[Piece]


@dataclass(frozen=True)
class _Placed:
    entry: ZipEntry
    name: bytes
    size: int
    offset: int  # of the local header

    @property
    def zip64_sizes(self) -> bool:
        return self.size >= ZIP64_LIMIT

    @property
    def zip64_offset(self) -> bool:
        return self.offset >= ZIP64_LIMIT

    @property
    def version(self) -> int:
        return VERSION_ZIP64 if self.zip64_sizes or self.zip64_offset else VERSION_DEFAULT

    @property
    def local_extra(self) -> bytes:
        if not self.zip64_sizes:
            return b""
        return _EXTRA_HEADER.pack(_ZIP64_EXTRA_ID, 16) + struct.pack("<QQ", self.size, self.size)

    @property
    def central_extra(self) -> bytes:
        values = [self.size, self.size] if self.zip64_sizes else []
        if self.zip64_offset:
            values.append(self.offset)
        if not values:
            return b""
        return _EXTRA_HEADER.pack(_ZIP64_EXTRA_ID, 8 * len(values)) + struct.pack(f"<{len(values)}Q", *values)

    @property
    def local_header_bytes(self) -> int:
        return _LOCAL.size + len(self.name) + len(self.local_extra)

    @property
    def central_header_bytes(self) -> int:
        return _CENTRAL.size + len(self.name) + len(self.central_extra)


@dataclass(frozen=True)
class _Layout:
    placed: list[_Placed]
    central_offset: int
    central_bytes: int

    @property
    def zip64_end(self) -> bool:
        return (len(self.placed) >= ZIP_COUNT_LIMIT or self.central_offset >= ZIP64_LIMIT
                or self.central_bytes >= ZIP64_LIMIT)

    @property
    def total_bytes(self) -> int:
        end = _END.size + (_END64.size + _LOCATOR64.size if self.zip64_end else 0)
        return self.central_offset + self.central_bytes + end


def stored_zip_size(entries: Sequence[ZipEntry]) -> int:
    """The exact size in bytes of the archive `write_stored_zip` writes for `entries`."""
    return _lay_out(entries).total_bytes


def write_stored_zip(
    out_path: Path,
    entries: Sequence[ZipEntry],
    *,
    modified: datetime,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Write `entries`, stored, in order, to `out_path`; `on_progress(bytes_written, total_bytes)` as it goes.

    `modified` (its wall-clock fields, at DOS's two-second precision) is every entry's modification time. The
    callback may raise to cancel; on any failure the partial archive is removed.
    """
    layout = _lay_out(entries)
    progress = _Progress(layout.total_bytes, on_progress)
    try:
        with out_path.open("wb") as out:
            copier = _ChecksummedCopy(out, progress)
            try:
                _write_archive(out, layout, copier, _dos_time(modified))
            finally:
                copier.close()
            if out.tell() != layout.total_bytes:
                raise AssertionError(f"wrote {out.tell()} bytes, planned {layout.total_bytes}")
        progress.finish()
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise


def _write_archive(out: BinaryIO, layout: _Layout, copier: _ChecksummedCopy, dos_time_date: tuple[int, int]) -> None:
    crcs = []
    for item in layout.placed:
        out.write(_local_header(item, *dos_time_date, crc=0))
        copier.progress.add(item.local_header_bytes)
        crc, written = copier.copy(item.entry.pieces)
        if written != item.size:  # cannot happen: a span past its file's end raises EOFError
            raise AssertionError(f"{item.entry.name}: {written} bytes, planned {item.size}")
        crcs.append(crc)
        end = out.tell()
        out.seek(item.offset + _CRC_OFFSET)
        out.write(struct.pack("<I", crc))
        out.seek(end)
    for item, crc in zip(layout.placed, crcs, strict=True):
        out.write(_central_header(item, *dos_time_date, crc))
    out.write(_end_records(layout))


class _Progress:
    def __init__(self, total: int, callback: Callable[[int, int], None] | None) -> None:
        self.total = total
        self.written = 0
        self._callback = callback
        self._reported = 0

    def add(self, count: int) -> None:
        self.written += count
        if self._callback is not None and self.written - self._reported >= PROGRESS_STEP_BYTES:
            self._reported = self.written
            self._callback(self.written, self.total)

    def finish(self) -> None:
        if self._callback is not None:
            self._callback(self.total, self.total)


def _lay_out(entries: Sequence[ZipEntry]) -> _Layout:
    seen: set[str] = set()
    placed = []
    offset = 0
    for entry in entries:
        name = _checked_name(entry.name)
        if entry.name in seen:
            raise ValueError(f"two entries named {entry.name!r}")
        seen.add(entry.name)
        item = _Placed(entry=entry, name=name, size=pieces_size(entry.pieces), offset=offset)
        placed.append(item)
        offset += item.local_header_bytes + item.size
    central_bytes = sum(item.central_header_bytes for item in placed)
    return _Layout(placed=placed, central_offset=offset, central_bytes=central_bytes)


def _checked_name(name: str) -> bytes:
    parts = name.split("/")
    if not name or "\\" in name or "\x00" in name or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a relative file name: {name!r}")
    encoded = name.encode("utf-8")  # raises on a lone surrogate
    if len(encoded) > 0xFFFF:
        raise ValueError("entry name too long")
    return encoded


class _ChecksummedCopy:
    """Writes pieces to `out` and returns their CRC-32: a file span is read into one of two buffers while a helper
    thread checksums the other and the main thread writes it (zlib and file I/O release the GIL), so on two cores
    the CRC costs little time, and it is always taken over exactly the bytes written."""

    def __init__(self, out: BinaryIO, progress: _Progress) -> None:
        self._out = out
        self.progress = progress
        self._buffers = (bytearray(CHUNK_BYTES), bytearray(CHUNK_BYTES))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zip-crc")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def copy(self, pieces: Sequence[Piece]) -> tuple[int, int]:
        """(CRC-32, bytes written) of `pieces`, written in order."""
        crc = written = 0
        for piece in pieces:
            if isinstance(piece, bytes):
                crc = crc32(piece, crc)
                self._out.write(piece)
                self.progress.add(len(piece))
                written += len(piece)
            else:
                crc = self._copy_span(piece, crc)
                written += piece.length
        return crc, written

    def _copy_span(self, span: FileSpan, crc: int) -> int:
        with span.path.open("rb", buffering=0) as f:
            f.seek(span.start)
            left = span.length
            which = 0
            count = self._read(f, which, left)
            while count:
                chunk = memoryview(self._buffers[which])[:count]
                pending = self._pool.submit(crc32, chunk, crc)
                try:
                    self._out.write(chunk)
                    left -= count
                    which ^= 1
                    count = self._read(f, which, left)  # into the other buffer, while the CRC runs
                finally:
                    crc = pending.result()
                self.progress.add(len(chunk))
        return crc

    def _read(self, f: FileIO, which: int, left: int) -> int:
        if left <= 0:
            return 0
        view = memoryview(self._buffers[which])[:min(CHUNK_BYTES, left)]
        count = f.readinto(view)
        if count is None or count == 0:
            raise EOFError(f"{getattr(f, 'name', 'file')} ended {left} bytes before its span")
        return count


def _dos_time(moment: datetime) -> tuple[int, int]:
    """(time, date) in MS-DOS format, clamped to the years it can hold (1980 to 2107)."""
    if moment.year < 1980:
        moment = datetime(1980, 1, 1)
    elif moment.year > 2107:
        moment = datetime(2107, 12, 31, 23, 59, 58)
    dos_time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    dos_date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    return dos_time, dos_date


def _clip32(value: int) -> int:
    return _MAX32 if value >= ZIP64_LIMIT else value


def _local_header(item: _Placed, dos_time: int, dos_date: int, *, crc: int) -> bytes:
    size = _MAX32 if item.zip64_sizes else item.size
    extra = item.local_extra
    header = _LOCAL.pack(0x04034B50, item.version, UTF8_NAME_FLAG, STORED, dos_time, dos_date, crc, size, size,
                         len(item.name), len(extra))
    return header + item.name + extra


def _central_header(item: _Placed, dos_time: int, dos_date: int, crc: int) -> bytes:
    size = _MAX32 if item.zip64_sizes else item.size
    extra = item.central_extra
    header = _CENTRAL.pack(0x02014B50, (MADE_BY_UNIX << 8) | item.version, item.version, UTF8_NAME_FLAG, STORED,
                           dos_time, dos_date, crc, size, size, len(item.name), len(extra), 0, 0, 0,
                           FILE_MODE << 16, _clip32(item.offset))
    return header + item.name + extra


def _end_records(layout: _Layout) -> bytes:
    count = len(layout.placed)
    records = b""
    if layout.zip64_end:
        end64_offset = layout.central_offset + layout.central_bytes
        records += _END64.pack(0x06064B50, _END64.size - 12, (MADE_BY_UNIX << 8) | VERSION_ZIP64, VERSION_ZIP64,
                               0, 0, count, count, layout.central_bytes, layout.central_offset)
        records += _LOCATOR64.pack(0x07064B50, 0, end64_offset, 1)
    short_count = _MAX16 if count >= ZIP_COUNT_LIMIT else count
    records += _END.pack(0x06054B50, 0, 0, short_count, short_count, _clip32(layout.central_bytes),
                         _clip32(layout.central_offset), 0)
    return records
