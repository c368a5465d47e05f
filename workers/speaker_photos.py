"""A speaker's photo: the uploaded picture re-encoded (transcode/speaker_photo.py) into a small JPEG, stored under a
key of its own digest (ingest/keys.py), and the speaker pointed at it, with an audit row. The photo it replaces is
removed from the store once the change has committed. The API calls `store_speaker_photo` directly: re-encoding a
picture of a few megabytes takes a fraction of a second, not worth a queue."""

from __future__ import annotations

import hashlib
import logging
import shutil
from typing import BinaryIO

from catalog.db import unit_of_work
from catalog.lifecycle import Viewer
from catalog.speakers import get_speaker, require_manager, set_speaker_photo
from ingest import keys
from transcode.errors import NotAPhoto
from transcode.speaker_photo import encode_speaker_photo
from workers.wiring import Context, scratch_dir

log = logging.getLogger(__name__)

MAX_PHOTO_BYTES = 5 << 20


def store_speaker_photo(ctx: Context, speaker_id: int, data: BinaryIO, viewer: Viewer) -> str:
    """Re-encode the picture in `data` (at most MAX_PHOTO_BYTES) and make it the speaker's photo; returns its key.

    Raises Forbidden and SpeakerNotFound before reading a byte, NotAPhoto for anything but a decodable JPEG, PNG
    or WebP picture (or one too large)."""
    with unit_of_work(ctx.engine) as session:
        require_manager(viewer)
        get_speaker(session, speaker_id)
    with scratch_dir(ctx.settings) as tmp:
        src = tmp / "upload"
        with src.open("wb") as out:
            shutil.copyfileobj(data, out)
        size_bytes = src.stat().st_size
        if size_bytes > MAX_PHOTO_BYTES:
            raise NotAPhoto(f"photo of {size_bytes} bytes", message="照片不能超过 5 MB")
        if size_bytes == 0:
            raise NotAPhoto("empty photo", message="照片文件是空的")
        jpeg = encode_speaker_photo(src, tmp / "photo.jpg", ffmpeg_bin=ctx.settings.ffmpeg_bin)
        digest = hashlib.sha256(jpeg.read_bytes()).hexdigest()
        key = keys.speaker_photo(speaker_id, digest)
        ctx.storage.put(key, jpeg, content_type="image/jpeg")
    with unit_of_work(ctx.engine) as session:
        previous = set_speaker_photo(session, get_speaker(session, speaker_id), viewer, key=key)
    if previous is not None:
        ctx.storage.delete(previous)
        log.info("speaker %s: photo %s replaced by %s", speaker_id, previous, key)
    return key
