"""What every storage backend promises, checked on the folder store and on S3 (moto on loopback)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from ingest.errors import ObjectMissing
from ingest.folder_store import FolderStore
from ingest.s3_store import S3Store
from ingest.storage import Storage
from tests.ingest.streams import GeneratedStream, expected_sha256

MiB = 1 << 20


def leftovers(store: Storage) -> list[str]:
    """Traces of unfinished writes: staging files, or open multipart uploads."""
    if isinstance(store, FolderStore):
        return sorted(p.name for p in store.staging.iterdir())
    assert isinstance(store, S3Store)
    result = store._client._list_multipart_uploads(store.bucket)
    return [upload.object_name for upload in result.uploads]


def test_round_trip_reports_size_and_sha256(store: Storage) -> None:
    data = b"\x00weike \xe5\xbe\xae\xe8\xaf\xbe\n" * 1000
    stored = store.put("lessons/abc/720p.mp4", io.BytesIO(data), content_type="video/mp4")

    assert (stored.key, stored.size_bytes, stored.sha256) == ("lessons/abc/720p.mp4", len(data),
                                                              hashlib.sha256(data).hexdigest())
    assert store.exists("lessons/abc/720p.mp4")
    assert store.stat("lessons/abc/720p.mp4") == len(data)
    with store.open("lessons/abc/720p.mp4") as f:
        assert f.read() == data


def test_put_from_a_path_and_replace(store: Storage, tmp_path: Path) -> None:
    src = tmp_path / "poster.jpg"
    src.write_bytes(b"first")
    store.put("lessons/abc/poster.jpg", src)
    src.write_bytes(b"second version")
    stored = store.put("lessons/abc/poster.jpg", src)

    assert stored.size_bytes == len(b"second version")
    with store.open("lessons/abc/poster.jpg") as f:
        assert f.read() == b"second version"


def test_a_handed_over_file_is_stored_whole_and_outlives_its_name(store: Storage, tmp_path: Path) -> None:
    data = b"PK\x03\x04 a built pack " * 50_000
    src = tmp_path / "pack.zip"
    src.write_bytes(data)
    stored = store.put("packs/1/v1.zip", src, content_type="application/zip", handover=True)
    src.unlink()  # the builder's scratch folder goes

    assert (stored.size_bytes, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    with store.open("packs/1/v1.zip") as f:
        assert f.read() == data
    assert leftovers(store) == []

    src.write_bytes(data[:1000])
    quick = store.put("packs/1/v2.zip", src, handover=True, digest=False)  # no SHA-256 wanted
    assert quick.size_bytes == 1000 and quick.sha256 in ("", hashlib.sha256(data[:1000]).hexdigest())
    with store.open("packs/1/v2.zip") as f:
        assert f.read() == data[:1000]


def test_missing_objects(store: Storage) -> None:
    assert not store.exists("lessons/none/720p.mp4")
    assert store.stat("lessons/none/720p.mp4") is None
    with pytest.raises(ObjectMissing):
        store.open("lessons/none/720p.mp4")
    with pytest.raises(ObjectMissing):
        with store.local_copy("lessons/none/720p.mp4"):
            pass
    store.delete("lessons/none/720p.mp4")  # no error when absent


def test_delete(store: Storage) -> None:
    store.put("lessons/abc/audio.mp3", io.BytesIO(b"id3"))
    store.delete("lessons/abc/audio.mp3")
    assert not store.exists("lessons/abc/audio.mp3")


def test_put_if_absent_never_overwrites(store: Storage) -> None:
    first, created = store.put_if_absent("originals/aa/bb/x", io.BytesIO(b"original bytes"))
    assert created and first.size_bytes == len(b"original bytes")

    again, created_again = store.put_if_absent("originals/aa/bb/x", io.BytesIO(b"other bytes"))
    assert not created_again
    assert again.sha256 == hashlib.sha256(b"other bytes").hexdigest()  # describes the data offered
    with store.open("originals/aa/bb/x") as f:
        assert f.read() == b"original bytes"
    assert leftovers(store) == []


def test_multipart_sized_object_round_trips(store: Storage) -> None:
    size = 20 * MiB + 123  # five parts on S3 with 5 MiB parts, the last one short
    stored = store.put("lessons/big/720p.mp4", GeneratedStream(size))  # type: ignore[arg-type]

    assert stored.size_bytes == size
    assert stored.sha256 == expected_sha256(size)
    assert store.stat("lessons/big/720p.mp4") == size
    digest = hashlib.sha256()
    with store.open("lessons/big/720p.mp4") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    assert digest.hexdigest() == stored.sha256


def write(store: Storage, key: str, data: GeneratedStream, *, create_only: bool) -> None:
    if create_only:
        store.put_if_absent(key, data)  # type: ignore[arg-type]
    else:
        store.put(key, data)  # type: ignore[arg-type]


@pytest.mark.parametrize("create_only", [False, True], ids=["put", "put_if_absent"])
def test_object_is_invisible_until_complete_and_a_failed_write_leaves_nothing(
        store: Storage, create_only: bool) -> None:
    key = "lessons/half/720p.mp4"
    seen_while_writing: list[int | None] = []

    def look(position: int) -> None:
        if position >= 7 * MiB and not seen_while_writing:  # past the first 5 MiB part on S3
            seen_while_writing.append(store.stat(key))

    complete = GeneratedStream(12 * MiB, on_read=look)
    write(store, key, complete, create_only=create_only)
    assert seen_while_writing == [None]
    store.delete(key)

    failing = GeneratedStream(12 * MiB, fail_after=11 * MiB)
    with pytest.raises(ConnectionResetError):
        write(store, key, failing, create_only=create_only)
    assert not store.exists(key)
    assert leftovers(store) == []


def test_local_copy_gives_the_bytes(store: Storage) -> None:
    store.put("originals/cc/dd/y", io.BytesIO(b"media bytes"))
    with store.local_copy("originals/cc/dd/y") as path:
        assert path.read_bytes() == b"media bytes"
    if isinstance(store, S3Store):
        assert not path.exists()
        assert not path.parent.exists()
    else:
        assert path.exists()  # the folder store lends the stored file itself


@pytest.mark.parametrize("key", ["../../etc/x", "/etc/passwd", "-rf", "lessons/-x/720p.mp4", "a//b", "A.MP4",
                                 "lessons/../x", ".staging/x", "a b", "lessons/x/", ""])
def test_unsafe_keys_are_refused(store: Storage, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, io.BytesIO(b"x"))
    with pytest.raises(ValueError):
        store.exists(key)


def test_check_passes_on_a_working_store(store: Storage) -> None:
    store.check()
