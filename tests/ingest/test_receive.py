"""Receiving uploads: SHA-256 on the way, stored once, limits, and memory that does not grow with the file."""

from __future__ import annotations

import gc
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest import keys
from ingest.errors import EmptyUpload, UploadTooLarge
from ingest.folder_store import FolderStore
from ingest.receive import Received, format_size, receive_original
from ingest.s3_store import S3Store
from ingest.storage import Storage
from tests.ingest.streams import GeneratedStream, expected_sha256
from tests.support.s3server import S3Server

MiB = 1 << 20


def test_same_bytes_are_stored_once(store: Storage, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    progress: list[int] = []
    first = receive_original(GeneratedStream(3 * MiB), store, max_size_bytes=10 * MiB,  # type: ignore[arg-type]
                             scratch_dir=scratch, on_progress=progress.append)
    again = receive_original(GeneratedStream(3 * MiB), store, max_size_bytes=10 * MiB,  # type: ignore[arg-type]
                             scratch_dir=scratch)

    sha = expected_sha256(3 * MiB)
    assert first.created and not again.created
    assert first.stored == again.stored
    assert (first.stored.key, first.stored.size_bytes, first.stored.sha256) == (keys.original(sha), 3 * MiB, sha)
    assert store.stat(keys.original(sha)) == 3 * MiB
    assert progress[-1] == 3 * MiB and progress == sorted(progress)
    assert list(scratch.iterdir()) == []


def test_upload_over_the_limit_is_refused_as_soon_as_it_passes(store: Storage, tmp_path: Path) -> None:
    stream = GeneratedStream(50 * MiB)
    with pytest.raises(UploadTooLarge) as excinfo:
        receive_original(stream, store, max_size_bytes=2 * MiB, scratch_dir=tmp_path / "scratch",  # type: ignore[arg-type]
                         chunk_size=256 * 1024)
    assert stream.position <= 2 * MiB + 256 * 1024  # stopped reading at the limit
    assert excinfo.value.code == "file_too_large" and "2 MB" in excinfo.value.message
    assert list((tmp_path / "scratch").iterdir()) == []


def test_empty_upload_is_refused(store: Storage, tmp_path: Path) -> None:
    with pytest.raises(EmptyUpload):
        receive_original(io.BytesIO(b""), store, max_size_bytes=MiB, scratch_dir=tmp_path / "scratch")
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_broken_upload_stores_nothing(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "store")
    with pytest.raises(ConnectionResetError):
        receive_original(GeneratedStream(4 * MiB, fail_after=3 * MiB), store,  # type: ignore[arg-type]
                         max_size_bytes=10 * MiB, scratch_dir=tmp_path / "scratch")
    assert list((tmp_path / "scratch").iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == [".staging"]


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/self/status")


def _peak_rss_growth_bytes(action: Callable[[Callable[[int], None]], object]) -> int:
    """How far RSS rose above where it was while `action` ran (it gets a callback to sample with)."""
    gc.collect()
    baseline = peak = _rss_kib("VmRSS")

    def sample(_: int = 0) -> None:
        nonlocal peak
        peak = max(peak, _rss_kib("VmRSS"))

    try:  # reset the kernel's high-water mark, so VmHWM covers the action only (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        hwm = True
    except OSError:
        hwm = False
    action(sample)
    sample()
    if hwm:
        peak = max(peak, _rss_kib("VmHWM"))
    return (peak - baseline) * 1024


def test_receiving_200_mb_does_not_grow_memory(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "store")
    size = 200 * MiB
    received: list[Received] = []

    growth = _peak_rss_growth_bytes(lambda sample: received.append(receive_original(
        GeneratedStream(size), store, max_size_bytes=size, scratch_dir=tmp_path / "scratch",  # type: ignore[arg-type]
        on_progress=sample)))

    assert received[0].created and received[0].stored.size_bytes == size
    assert growth < 50 * MiB, f"RSS grew by {growth // MiB} MiB"


def test_receiving_into_s3_holds_one_part_at_a_time(s3_server: S3Server, tmp_path: Path) -> None:
    store = S3Store.from_url(s3_server.storage_url("weike-memory", part_size_mb=5))
    store.ensure_bucket()
    size = 64 * MiB

    growth = _peak_rss_growth_bytes(lambda sample: receive_original(
        GeneratedStream(size), store, max_size_bytes=size, scratch_dir=tmp_path,  # type: ignore[arg-type]
        on_progress=sample))

    assert store.stat(keys.original(expected_sha256(size))) == size
    assert growth < 20 * MiB, f"RSS grew by {growth // MiB} MiB"


def test_format_size() -> None:
    assert [format_size(n) for n in (4 << 30, 1536 << 20, 500 << 20, 2048, 10)] == [
        "4 GB", "1.5 GB", "500 MB", "2 KB", "10 B"]
