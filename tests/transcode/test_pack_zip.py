"""The audio pack's ZIP: stored entries streamed from bytes and spans of real MP3s, in order, with UTF-8 names,
that Python's zipfile and Info-ZIP's unzip open, the same bytes every time."""

from __future__ import annotations

import os
import struct
import subprocess
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.media import run_tool
from tests.support.services import require_tool
from transcode import pack_zip
from transcode.pack_zip import ZipEntry, stored_zip_size, write_stored_zip
from transcode.spans import FileSpan, Piece, iter_piece_chunks

MODIFIED = datetime(2026, 7, 1, 9, 30, 17)
UNZIP_ENV = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def make_mp3(path: Path, *, frequency: int, duration_s: float) -> Path:
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"sine=f={frequency}:d={duration_s}", "-ac", "1", "-c:a", "libmp3lame",
             "-b:a", "64k", "-id3v2_version", "3", "-metadata", "title=old", path)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def mp3s(media_dir: Path) -> list[Path]:
    return [make_mp3(media_dir / "pack tone 1.mp3", frequency=440, duration_s=3),
            make_mp3(media_dir / "pack tone 2.mp3", frequency=660, duration_s=2)]


def pack_entries(mp3s: list[Path]) -> list[ZipEntry]:
    first, second = mp3s
    half = second.stat().st_size // 2
    return [
        ZipEntry("01_开篇：学习党章.mp3", [b"ID3 tag bytes", FileSpan(first, 0, first.stat().st_size)]),
        ZipEntry("02_𠮷野家＂故事＂.mp3", [b"", FileSpan(second, 0, half), b"-",
                                            FileSpan(second, half, second.stat().st_size - half)]),
        ZipEntry("03_Lesson é.mp3", [FileSpan(first, 100, 5000)]),
        ZipEntry("播放列表.m3u8", ["#EXTM3U\r\n01_开篇：学习党章.mp3\r\n".encode()]),
        ZipEntry("空的.txt", []),
    ]


def joined(pieces: list[Piece]) -> bytes:
    return b"".join(iter_piece_chunks(pieces))


def test_pack_opens_with_zipfile_in_order_stored_with_utf8_names_and_exact_contents(
    mp3s: list[Path], tmp_path: Path
) -> None:
    entries = pack_entries(mp3s)
    out = tmp_path / "pack.zip"
    write_stored_zip(out, entries, modified=MODIFIED)
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        assert [i.filename for i in infos] == [e.name for e in entries]
        for info, entry in zip(infos, entries, strict=True):
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.flag_bits & 0x800
            assert info.date_time == (2026, 7, 1, 9, 30, 16)  # DOS time: two-second steps
            assert archive.read(info) == joined(list(entry.pieces))
    assert out.stat().st_size == stored_zip_size(entries)


def test_local_headers_carry_the_final_crc_sizes_and_the_utf8_flag(mp3s: list[Path], tmp_path: Path) -> None:
    entries = pack_entries(mp3s)
    out = tmp_path / "pack.zip"
    write_stored_zip(out, entries, modified=MODIFIED)
    data = out.read_bytes()
    with zipfile.ZipFile(out) as archive:
        for info, entry in zip(archive.infolist(), entries, strict=True):
            (sig, _, flags, method, _, _, crc, csize, usize, name_len, extra_len) = struct.unpack_from(
                "<IHHHHHIIIHH", data, info.header_offset)
            content = joined(list(entry.pieces))
            assert sig == 0x04034B50 and flags == 0x800 and method == 0 and extra_len == 0
            assert crc == info.CRC == zlib.crc32(content)
            assert csize == usize == len(content)
            assert data[info.header_offset + 30:info.header_offset + 30 + name_len].decode() == entry.name


def test_unzip_tests_and_extracts_the_pack_with_its_names(mp3s: list[Path], tmp_path: Path) -> None:
    require_tool("unzip")
    entries = pack_entries(mp3s)
    out = tmp_path / "pack.zip"
    write_stored_zip(out, entries, modified=MODIFIED)
    tested = subprocess.run(["unzip", "-t", str(out)], capture_output=True, text=True, env=UNZIP_ENV, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "No errors detected" in tested.stdout
    target = tmp_path / "card"
    subprocess.run(["unzip", "-q", str(out), "-d", str(target)], env=UNZIP_ENV, check=True)
    assert sorted(p.name for p in target.iterdir()) == sorted(e.name for e in entries)
    for entry in entries:
        assert (target / entry.name).read_bytes() == joined(list(entry.pieces))
    listed = subprocess.run(["unzip", "-Z1", str(out)], capture_output=True, text=True, env=UNZIP_ENV, check=True)
    assert listed.stdout.splitlines() == [e.name for e in entries]


def test_the_same_entries_give_the_same_bytes(mp3s: list[Path], tmp_path: Path) -> None:
    write_stored_zip(tmp_path / "a.zip", pack_entries(mp3s), modified=MODIFIED)
    write_stored_zip(tmp_path / "b.zip", pack_entries(mp3s), modified=MODIFIED)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_progress_counts_up_to_the_archive_size(mp3s: list[Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pack_zip, "PROGRESS_STEP_BYTES", 4096)
    calls: list[tuple[int, int]] = []
    entries = pack_entries(mp3s)
    write_stored_zip(tmp_path / "pack.zip", entries, modified=MODIFIED, on_progress=lambda d, t: calls.append((d, t)))
    total = stored_zip_size(entries)
    assert len(calls) > 3
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1] == (total, total)


def test_a_progress_callback_that_raises_cancels_and_leaves_no_archive(mp3s: list[Path], tmp_path: Path) -> None:
    def cancel(done: int, total: int) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "pack.zip"
    with pytest.raises(KeyboardInterrupt):
        write_stored_zip(out, pack_entries(mp3s), modified=MODIFIED, on_progress=cancel)
    assert not out.exists()


def test_a_span_past_the_end_of_its_file_fails_and_leaves_no_archive(mp3s: list[Path], tmp_path: Path) -> None:
    size = mp3s[0].stat().st_size
    out = tmp_path / "pack.zip"
    with pytest.raises(EOFError):
        write_stored_zip(out, [ZipEntry("01.mp3", [FileSpan(mp3s[0], 10, size)])], modified=MODIFIED)
    assert not out.exists()


@pytest.mark.parametrize("name", ["", "../evil.mp3", "/abs.mp3", "a\\b.mp3", "a//b", "nul\x00.mp3", "./a"])
def test_names_that_would_escape_or_confuse_an_extractor_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_stored_zip(tmp_path / "pack.zip", [ZipEntry(name, [b"x"])], modified=MODIFIED)


def test_two_entries_with_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_stored_zip(tmp_path / "pack.zip", [ZipEntry("a", [b"1"]), ZipEntry("a", [b"2"])], modified=MODIFIED)


def test_zip64_records_are_written_where_sizes_or_counts_need_them(
    mp3s: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Packs over 4 GiB are real (long recordings) but too big for a test: the limits are lowered instead, so the
    # same ZIP64 fields are written for small entries, where readers must accept them too.
    monkeypatch.setattr(pack_zip, "ZIP64_LIMIT", 3000)
    monkeypatch.setattr(pack_zip, "ZIP_COUNT_LIMIT", 3)
    entries = pack_entries(mp3s)
    out = tmp_path / "pack64.zip"
    write_stored_zip(out, entries, modified=MODIFIED)
    assert out.stat().st_size == stored_zip_size(entries)
    data = out.read_bytes()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data  # ZIP64 end record and locator
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None
        assert [i.filename for i in archive.infolist()] == [e.name for e in entries]
        for info, entry in zip(archive.infolist(), entries, strict=True):
            assert archive.read(info) == joined(list(entry.pieces))
        big = [i for i in archive.infolist() if i.file_size >= 3000]
        assert big and all(i.extract_version == 45 for i in big)
    require_tool("unzip")
    tested = subprocess.run(["unzip", "-t", str(out)], capture_output=True, text=True, env=UNZIP_ENV, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_small_packs_have_no_zip64_records(mp3s: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "pack.zip"
    write_stored_zip(out, pack_entries(mp3s), modified=MODIFIED)
    data = out.read_bytes()
    assert b"PK\x06\x06" not in data
    with zipfile.ZipFile(out) as archive:
        assert all(i.extract_version == 20 and not i.extra for i in archive.infolist())


def test_an_empty_pack_is_a_valid_empty_archive(tmp_path: Path) -> None:
    out = tmp_path / "empty.zip"
    write_stored_zip(out, [], modified=MODIFIED)
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == []
    assert out.stat().st_size == stored_zip_size([]) == 22
