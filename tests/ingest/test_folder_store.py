"""Folder-store specifics: atomic publication, create-only under concurrency, staging clean-up, file: URLs."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest

from ingest.errors import StorageConfigError, StorageUnavailable
from ingest.folder_store import FolderStore
from ingest.storage import storage_from_url


def test_two_writers_cannot_both_create(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "store")
    barrier = threading.Barrier(8)
    results: dict[int, bool] = {}

    def write(i: int) -> None:
        barrier.wait()
        _, results[i] = store.put_if_absent("originals/aa/bb/same", io.BytesIO(f"writer {i}".encode() * 5000))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    winners = [i for i, created in results.items() if created]
    assert len(winners) == 1
    with store.open("originals/aa/bb/same") as f:
        assert f.read() == f"writer {winners[0]}".encode() * 5000
    assert list(store.staging.iterdir()) == []


def test_stored_files_are_readable_by_other_users(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "store")
    store.put("lessons/abc/poster.jpg", io.BytesIO(b"jpeg"))
    assert (tmp_path / "store/lessons/abc/poster.jpg").stat().st_mode & 0o777 == 0o644
    assert store.local_path("lessons/abc/poster.jpg") == tmp_path / "store/lessons/abc/poster.jpg"
    assert store.presigned_url("lessons/abc/poster.jpg") is None


def test_clean_staging_removes_only_stale_files(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "store")
    stale, fresh = store.staging / "put-stale", store.staging / "put-fresh"
    stale.write_bytes(b"left by a crash")
    fresh.write_bytes(b"being written")
    day_ago = time.time() - 86400 - 60
    os.utime(stale, (day_ago, day_ago))

    assert store.clean_staging(older_than_s=86400) == 1
    assert not stale.exists() and fresh.exists()


def test_check_fails_when_the_folder_is_gone(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "store")
    store.staging.rmdir()
    with pytest.raises(StorageUnavailable):
        store.check()


def test_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    relative = storage_from_url("file:var/store", base_dir=tmp_path)
    assert isinstance(relative, FolderStore) and relative.root == tmp_path / "var/store"
    absolute = storage_from_url(f"file://{tmp_path}/abs")
    assert isinstance(absolute, FolderStore) and absolute.root == tmp_path / "abs"
    monkeypatch.chdir(tmp_path)
    assert storage_from_url("file:cwd").root == tmp_path / "cwd"  # type: ignore[attr-defined]
    for bad in ("file://otherhost/x", "file:", "file:x?y=1", "store", ""):
        with pytest.raises(StorageConfigError):
            storage_from_url(bad, base_dir=tmp_path)
