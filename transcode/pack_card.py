"""Writing a built pack onto a player's card: a mounted SD card or USB stick (a folder), or a FAT image file.

Cheap players play files in the order their directory entries were written (FAT directory order), not by name, so
the files go on one by one in track order, each flushed before the next starts. Free space is checked first, and
every file is read back and compared (CRC-32, the ZIP's own) after all are written; on a folder the page cache is
dropped before reading back, so the check reads what the card holds.

A FAT image is written through mtools (`mcopy`), which needs no mount and no root: how the county office's script
prepares one image to copy onto many cards, and how the tests check the directory order (`mdir -b`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from transcode import runner
from transcode.errors import TranscodeError

CHUNK_BYTES = 1 << 20
SPARE_BYTES = 1 << 20  # directory entries and FAT rounding
MTOOLS_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MTOOLS_SKIP_CHECK": "1"}
MTOOLS_TIMEOUT_S = 600.0
_FREE = re.compile(r"([\d ,.]+) bytes free")

Progress = Callable[[int, int], None]


class CardError(TranscodeError):
    code = "card_write_failed"
    message = "写入存储卡失败"


class CardTooSmall(CardError):
    code = "card_too_small"
    message = "存储卡空间不够，请换一张更大的卡或先删除卡上的旧文件"

    def __init__(self, needed: int, free: int) -> None:
        super().__init__(f"needs {needed} bytes, {free} free",
                         message=f"存储卡空间不够：需要 {needed / 1e6:.0f} MB，只剩 {free / 1e6:.0f} MB")
        self.needed, self.free = needed, free


class CardNotEmpty(CardError):
    code = "card_not_empty"
    message = "存储卡上已有别的文件，播放顺序会乱：请先清空（格式化）存储卡"


class CardVerifyFailed(CardError):
    code = "card_verify_failed"
    message = "写入存储卡后核对不一致，这张卡可能已损坏"


@dataclass(frozen=True)
class CardFile:
    name: str
    size_bytes: int
    crc32: int


def pack_files(zip_path: Path) -> list[CardFile]:
    """The ZIP's files in the order they are stored in it (track order, then playlists, contents and cover)."""
    with zipfile.ZipFile(zip_path) as zf:
        return [CardFile(i.filename, i.file_size, i.CRC) for i in zf.infolist() if not i.is_dir()]


def _check_names(files: Sequence[CardFile]) -> None:
    for f in files:
        if "/" in f.name or "\\" in f.name or f.name in ("", ".", "..") or "\x00" in f.name:
            raise CardError(f"refusing entry name {f.name!r}")


def _needed(files: Sequence[CardFile]) -> int:
    return sum(f.size_bytes for f in files) + SPARE_BYTES


# What operating systems put on a card by themselves; anything else on it would play before or between the tracks.
SYSTEM_ENTRIES = frozenset({"System Volume Information", ".Trashes", ".Spotlight-V100", ".fseventsd", "LOST.DIR",
                            "$RECYCLE.BIN", ".DS_Store"})


def write_to_folder(zip_path: Path, target: Path, *, on_progress: Progress | None = None,
                    allow_existing: bool = False) -> list[CardFile]:
    """Copy the pack's files into `target` (the card's mount point or a folder on it) in order, then verify them.
    CardNotEmpty when the folder holds other files (their directory entries would come first), unless allowed."""
    files = pack_files(zip_path)
    _check_names(files)
    target.mkdir(parents=True, exist_ok=True)
    others = [p.name for p in target.iterdir() if p.name not in SYSTEM_ENTRIES]
    if others and not allow_existing:
        raise CardNotEmpty(f"{target} holds {len(others)} entries, e.g. {others[0]!r}")
    free = shutil.disk_usage(target).free
    existing = sum((target / f.name).stat().st_size for f in files if (target / f.name).is_file())
    if _needed(files) - existing > free:
        raise CardTooSmall(_needed(files) - existing, free)
    total, done = 2 * sum(f.size_bytes for f in files), 0
    with zipfile.ZipFile(zip_path) as zf:
        for f in files:
            with zf.open(f.name) as src, (target / f.name).open("wb") as out:
                while chunk := src.read(CHUNK_BYTES):
                    out.write(chunk)
                    done += len(chunk)
                    if on_progress:
                        on_progress(done, total)
                out.flush()
                os.fsync(out.fileno())
    _fsync_dir(target)
    for f in files:
        crc = 0
        with (target / f.name).open("rb") as back:
            _drop_cache(back.fileno())
            while chunk := back.read(CHUNK_BYTES):
                crc = zlib.crc32(chunk, crc)
                done += len(chunk)
                if on_progress:
                    on_progress(done, total)
        if crc != f.crc32 or (target / f.name).stat().st_size != f.size_bytes:
            raise CardVerifyFailed(f"{f.name}: read back differs")
    return files


def _drop_cache(fd: int) -> None:
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fat_free_bytes(image: Path, *, mdir_bin: str = "mdir") -> int:
    result = runner.run([mdir_bin, "-i", str(image), "::/"], timeout_s=60, env=MTOOLS_ENV)
    found = _FREE.search(result.stdout.decode("utf-8", "replace"))
    if found is None:
        raise CardError(f"mdir did not report free space for {image}")
    return int(re.sub(r"\D", "", found.group(1)))


def fat_directory_order(image: Path, *, mdir_bin: str = "mdir") -> list[str]:
    """The names in the image's root directory, in directory-entry order."""
    result = runner.run([mdir_bin, "-i", str(image), "-b", "::/"], timeout_s=60, env=MTOOLS_ENV)
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    return [line.removeprefix("::/") for line in lines if line.startswith("::/")]


def write_to_fat_image(zip_path: Path, image: Path, *, on_progress: Progress | None = None,
                       allow_existing: bool = False, mcopy_bin: str = "mcopy",
                       mdir_bin: str = "mdir") -> list[CardFile]:
    """Copy the pack's files into the root of a FAT image in order, then read each back and verify it and the
    directory order."""
    files = pack_files(zip_path)
    _check_names(files)
    present = fat_directory_order(image, mdir_bin=mdir_bin)
    if present and not allow_existing:
        raise CardNotEmpty(f"{image} holds {len(present)} entries, e.g. {present[0]!r}")
    free = fat_free_bytes(image, mdir_bin=mdir_bin)
    if _needed(files) > free:
        raise CardTooSmall(_needed(files), free)
    total, done = 2 * sum(f.size_bytes for f in files), 0
    with tempfile.TemporaryDirectory(prefix="weike-card-") as tmp, zipfile.ZipFile(zip_path) as zf:
        staged = Path(tmp) / "file"
        for f in files:
            with zf.open(f.name) as src, staged.open("wb") as out:
                shutil.copyfileobj(src, out, CHUNK_BYTES)
            runner.run([mcopy_bin, "-i", str(image), "-o", str(staged), f"::/{f.name}"], timeout_s=MTOOLS_TIMEOUT_S,
                       env=MTOOLS_ENV)
            done += f.size_bytes
            if on_progress:
                on_progress(done, total)
        back = Path(tmp) / "back"
        for f in files:
            back.unlink(missing_ok=True)
            runner.run([mcopy_bin, "-i", str(image), "-n", f"::/{f.name}", str(back)], timeout_s=MTOOLS_TIMEOUT_S,
                       env=MTOOLS_ENV)
            data_crc, size = 0, 0
            with back.open("rb") as r:
                while chunk := r.read(CHUNK_BYTES):
                    data_crc, size = zlib.crc32(chunk, data_crc), size + len(chunk)
            if data_crc != f.crc32 or size != f.size_bytes:
                raise CardVerifyFailed(f"{f.name}: read back from {image.name} differs")
            done += f.size_bytes
            if on_progress:
                on_progress(done, total)
    order = fat_directory_order(image, mdir_bin=mdir_bin)
    written = [n for n in order if n in {f.name for f in files}]
    if written != [f.name for f in files]:
        raise CardVerifyFailed(f"directory order {written[:5]}… is not the pack's order")
    return files
