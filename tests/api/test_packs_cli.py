"""`weike packs write`: a ready pack onto a card, in track order. On a FAT32 image (mkfs.vfat; a loop mount is not
possible here, so the image is written with mtools), the directory entries come in track order, as cheap players
play them, and every file reads back identical; a card too small or holding other files is refused before a byte
is written, with the reason in Chinese. A folder (a mounted card) gets the same files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from catalog import packs
from catalog.db import unit_of_work
from catalog.lifecycle import Viewer
from catalog.models import AudioPackVersion, Role
from tests.support.accounts import import_county
from tests.support.packs import published_audio_lesson
from workers.packs import build_version, plan_version
from workers.wiring import context_for

ROOT = Path(__file__).resolve().parents[2]
UTF8 = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def _weike(settings: object, *args: str | Path) -> subprocess.CompletedProcess[str]:
    from tests.support.stacks import settings_env

    env = {**os.environ, **settings_env(settings), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "api.cli", *map(str, args)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        if os.environ.get("WEIKE_REQUIRE_SERVICES"):
            pytest.fail(f"{name} is missing (scripts/install-system.sh installs it)")
        pytest.skip(f"{name} is not installed")
    return found


@pytest.fixture
def ready_pack(tmp_path: Path, audio_edition_mp3: Path) -> tuple[Any, int, Path]:
    """Settings, a ready pack of five lessons with awkward titles, and a copy of its ZIP."""
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    import_county(settings)
    titles = ["党课/第一讲：初心?", "学习[二十大]精神🌾", "重复的标题", "重复的标题", "……"]
    ids = [published_audio_lesson(settings, t, audio_edition_mp3) for t in titles]
    ctx = context_for(settings)
    with unit_of_work(ctx.engine) as s:
        pack = packs.create_pack(s, Viewer(username="office", role=Role.REVIEWER), title="2026年第3季度 党课随身听",
                                 lesson_ids=ids)
        version = plan_version(s, pack)
        pack_id, version_id = pack.id or 0, version.id or 0
    build_version(ctx, version_id)
    with unit_of_work(ctx.engine) as s:
        row = s.exec(select(AudioPackVersion).where(AudioPackVersion.id == version_id)).one()
        assert row.status == "ready" and row.key
        with ctx.storage.local_copy(row.key) as path:
            zip_copy = tmp_path / "pack.zip"
            shutil.copyfile(path, zip_copy)
    return settings, pack_id, zip_copy


def _fat_image(path: Path, size_kib: int, *, fat32: bool = True) -> Path:
    subprocess.run([_tool("mkfs.vfat"), "-C", *(["-F", "32"] if fat32 else []), "-n", "WEIKE", str(path),
                    str(size_kib)], capture_output=True, check=True)
    return path


def _zip_names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()


def test_a_pack_goes_onto_a_fat32_card_in_track_order(ready_pack: tuple[Any, int, Path], tmp_path: Path) -> None:
    settings, pack_id, zip_path = ready_pack
    image = _fat_image(tmp_path / "card.img", 64 * 1024)
    done = _weike(settings, "packs", "write", pack_id, image)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "已写入并核对" in done.stdout
    names = _zip_names(zip_path)
    assert names[0].startswith("01_") and names[4].startswith("05_") and "播放列表.m3u" in names
    # The directory as a player reads it: mtools lists entries in directory order.
    listing = subprocess.run([_tool("mdir"), "-i", str(image), "-b", "::/"], capture_output=True, check=True,
                             env={**os.environ, **UTF8}).stdout.decode("utf-8").splitlines()
    assert [line.removeprefix("::/") for line in listing] == names
    with zipfile.ZipFile(zip_path) as zf:
        for name in names:
            out = tmp_path / "back"
            out.unlink(missing_ok=True)
            subprocess.run([_tool("mcopy"), "-n", "-i", str(image), f"::/{name}", str(out)], check=True,
                           capture_output=True, env={**os.environ, **UTF8})
            assert out.read_bytes() == zf.read(name), name


def test_a_card_too_small_or_already_used_is_refused_before_writing(ready_pack: tuple[Any, int, Path],
                                                                     tmp_path: Path) -> None:
    settings, pack_id, zip_path = ready_pack
    small = _fat_image(tmp_path / "small.img", 160, fat32=False)  # the pack is larger than the card
    assert zip_path.stat().st_size > 160 * 1024
    done = _weike(settings, "packs", "write", pack_id, small)
    assert done.returncode == 1 and "存储卡空间不够" in done.stdout
    assert "No files" in subprocess.run([_tool("mdir"), "-i", str(small), "::/"], capture_output=True,
                                        env={**os.environ, **UTF8}, text=True).stdout

    used = _fat_image(tmp_path / "used.img", 64 * 1024)
    old = tmp_path / "去年的课.mp3"
    old.write_bytes(b"old")
    subprocess.run([_tool("mcopy"), "-i", str(used), str(old), "::/去年的课.mp3"], check=True, capture_output=True,
                   env={**os.environ, **UTF8})
    done = _weike(settings, "packs", "write", pack_id, used)
    assert done.returncode == 1 and "请先清空" in done.stdout
    done = _weike(settings, "packs", "write", pack_id, used, "--allow-existing")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_pack_goes_into_a_mounted_cards_folder(ready_pack: tuple[Any, int, Path], tmp_path: Path) -> None:
    settings, pack_id, zip_path = ready_pack
    card = tmp_path / "media" / "card"
    card.mkdir(parents=True)
    (card / "System Volume Information").mkdir()  # what Windows leaves on a card: not in the way
    done = _weike(settings, "packs", "write", pack_id, card)
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            assert (card / name).read_bytes() == zf.read(name)
    assert _weike(settings, "packs", "write", pack_id, card).returncode == 1  # a second pack on top: refused
    listed = _weike(settings, "packs", "list")
    assert listed.returncode == 0 and "2026年第3季度" in listed.stdout and "ready" in listed.stdout


def test_a_pack_that_is_not_ready_or_missing_is_not_written(tmp_path: Path) -> None:
    from tests.support.stacks import build_embedded

    settings = build_embedded(tmp_path / "var")
    done = _weike(settings, "packs", "write", "42", tmp_path)
    assert done.returncode == 2 and "找不到该音频包" in done.stdout
