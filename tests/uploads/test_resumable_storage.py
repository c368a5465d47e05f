"""The storage side of resumable uploads (no database): append, re-run from saved progress, checksum, publish."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from ingest import keys
from ingest.errors import ChecksumMismatch, UploadTooLarge
from ingest.folder_store import FolderStore
from ingest.resumable import ChunkCheck, Progress, ResumableStore, resumable_store_for
from ingest.resumable_hash import AVAILABLE, load_sha256, new_sha256
from ingest.storage import Storage


@pytest.fixture(params=["folder", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "folder":
        return FolderStore(tmp_path / "store")
    from ingest.s3_store import S3Store

    server = request.getfixturevalue("s3_server")
    s3 = S3Store.from_url(server.storage_url(f"weike-test-{uuid.uuid4().hex[:12]}", part_size_mb=5))
    s3.ensure_bucket()
    return s3


@pytest.fixture
def resumable(storage: Storage, tmp_path: Path) -> ResumableStore:
    return resumable_store_for(storage, buffer_dir=tmp_path / "buffers")


def _read(storage: Storage, key: str) -> bytes:
    with storage.open(key) as fh:
        return fh.read()


def test_resumable_sha256_survives_saving_its_state() -> None:
    assert AVAILABLE, "libcrypto's SHA256_* should be usable on Debian 12"
    data = os.urandom(3_000_001)
    hasher = new_sha256()
    assert hasher is not None
    offset = 0
    for cut in (1, 63, 64, 65, 1_000_000, 2_999_999, 3_000_001):
        hasher.update(data[offset:cut])
        offset = cut
        hasher = load_sha256(hasher.state())
        assert hasher is not None
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()
    assert load_sha256(b"not a state") is None


def test_appends_from_saved_progress_build_the_file(storage: Storage, resumable: ResumableStore) -> None:
    data = os.urandom(12 << 20)  # on S3: two full 5 MiB parts and a buffered tail
    upload_id = uuid.uuid4().hex
    progress = resumable.begin(upload_id)
    saved: list[Progress] = []
    for start in range(0, len(data), 3_000_000):
        piece = data[start:start + 3_000_000]
        progress = resumable.append(upload_id, progress, [piece[:1000], piece[1000:]], max_bytes=len(data) - start,
                                    checkpoint=saved.append)
        assert progress.offset == start + len(piece)
    staged = resumable.assemble(upload_id, progress, length=len(data))
    assert staged.sha256 == hashlib.sha256(data).hexdigest() and staged.size_bytes == len(data)
    original, created = resumable.publish(upload_id, staged)
    assert created and original.key == keys.original(staged.sha256)
    resumable.discard(upload_id, progress)
    assert _read(storage, original.key) == data
    assert not storage.exists(keys.upload_staging(upload_id))
    again, created_again = resumable.publish(upload_id, staged)
    assert not created_again and again.key == original.key


def test_a_request_that_was_never_saved_is_simply_sent_again(storage: Storage, resumable: ResumableStore) -> None:
    data = os.urandom(7 << 20)
    upload_id = uuid.uuid4().hex
    start = resumable.begin(upload_id)
    first = resumable.append(upload_id, start, [data[:2_000_000]], max_bytes=len(data))
    # The next request wrote bytes (and on S3 sent a part) but the process died before saving its progress.
    resumable.append(upload_id, first, [os.urandom(4_000_000)], max_bytes=len(data))
    retried = resumable.append(upload_id, first, [data[2_000_000:]], max_bytes=len(data))
    staged = resumable.assemble(upload_id, retried, length=len(data))
    resumable.publish(upload_id, staged)
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert _read(storage, keys.original(staged.sha256)) == data


def test_a_bad_checksum_or_too_many_bytes_leave_the_progress(storage: Storage, resumable: ResumableStore) -> None:
    data = os.urandom(6 << 20)
    upload_id = uuid.uuid4().hex
    progress = resumable.begin(upload_id)
    wrong = ChunkCheck("sha256", hashlib.sha256(b"other").digest())
    with pytest.raises(ChecksumMismatch):
        resumable.append(upload_id, progress, [data], max_bytes=len(data), check=wrong)
    with pytest.raises(UploadTooLarge):
        resumable.append(upload_id, progress, [data, b"x"], max_bytes=len(data))
    right = ChunkCheck("sha1", hashlib.sha1(data).digest())
    progress = resumable.append(upload_id, progress, [data], max_bytes=len(data), check=right)
    staged = resumable.assemble(upload_id, progress, length=len(data))
    assert staged.sha256 == hashlib.sha256(data).hexdigest()


def test_a_lost_hash_state_is_made_good_by_reading_again(resumable: ResumableStore) -> None:
    data = os.urandom(300_000)
    upload_id = uuid.uuid4().hex
    progress = resumable.begin(upload_id)
    progress = resumable.append(upload_id, progress, [data], max_bytes=len(data))
    staged = resumable.assemble(upload_id, Progress(**{**progress.__dict__, "sha256_state": None}), length=len(data))
    assert staged.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("storage", ["s3"], indirect=True)  # only S3 buffers bytes on local disk
def test_a_lost_local_buffer_rewinds_to_the_last_part(tmp_path: Path, resumable: ResumableStore) -> None:
    from ingest.resumable_s3 import S3Resumable

    assert isinstance(resumable, S3Resumable)
    data = os.urandom(6 << 20)
    upload_id = uuid.uuid4().hex
    progress = resumable.append(upload_id, resumable.begin(upload_id), [data], max_bytes=len(data) + 10)
    assert len(progress.parts) == 1 and progress.buffered_bytes == len(data) - (5 << 20)
    for path in (tmp_path / "buffers").iterdir():
        path.unlink()
    rewound = resumable.check(upload_id, progress)
    assert rewound.offset == 5 << 20 and rewound.buffered_bytes == 0 and rewound.sha256_state is None
    done = resumable.append(upload_id, rewound, [data[5 << 20:], b"0123456789"], max_bytes=len(data) + 10)
    staged = resumable.assemble(upload_id, done, length=len(data) + 10)
    assert staged.sha256 == hashlib.sha256(data + b"0123456789").hexdigest()


def test_a_file_smaller_than_a_part_never_needs_a_multipart_upload(storage: Storage,
                                                                  resumable: ResumableStore) -> None:
    data = os.urandom(1_500_000)
    upload_id = uuid.uuid4().hex
    progress = resumable.begin(upload_id)
    for start in range(0, len(data), 500_000):
        progress = resumable.append(upload_id, progress, [data[start:start + 500_000]], max_bytes=len(data) - start)
    assert progress.multipart_upload_id is None and progress.parts == ()
    staged = resumable.assemble(upload_id, progress, length=len(data))
    original, created = resumable.publish(upload_id, staged)
    resumable.discard(upload_id, progress)
    assert created and _read(storage, original.key) == data
    assert not storage.exists(keys.upload_staging(upload_id))


def test_one_long_request_saves_progress_on_the_way(storage: Storage, resumable: ResumableStore,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.resumable

    monkeypatch.setattr(ingest.resumable, "FOLDER_CHECKPOINT_BYTES", 1 << 20)
    data = os.urandom(12 << 20)
    upload_id = uuid.uuid4().hex
    saved: list[Progress] = []
    blocks = [data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    resumable.append(upload_id, resumable.begin(upload_id), blocks, max_bytes=len(data), checkpoint=saved.append)
    assert len(saved) >= 2
    # The process died after a checkpoint half-way: the client resumes from the offset that was saved.
    last = [p for p in saved if 0 < p.offset < len(data)][-1]
    done = resumable.append(upload_id, last, [data[last.offset:]], max_bytes=len(data) - last.offset)
    staged = resumable.assemble(upload_id, done, length=len(data))
    resumable.publish(upload_id, staged)
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert _read(storage, keys.original(staged.sha256)) == data
