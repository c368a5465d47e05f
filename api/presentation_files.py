"""The files of a lesson's HLS presentation, served from this origin whatever the storage.

hls.js fetches playlists and segments with XHR, which the pages' `connect-src 'self'` confines to this origin, and
resolves every name in a playlist against the playlist's own URL; so, unlike the MP4 renditions, these files are
never redirected to the object store: a folder store answers with Starlette's FileResponse (Range, ETag,
Last-Modified), an S3 store through a stream of the object, with the same single-range Range support and an ETag
from the key and size (every file's key is written once; a new master gets a new key). Conditional requests and
Cache-Control are then api/caching.py's, as for every other asset.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import BinaryIO

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response, StreamingResponse

from catalog.errors import AssetNotFound
from ingest import keys
from ingest.storage import Storage

MASTER_NAME = "master.m3u8"  # what a presentation's URL calls its current master playlist, whatever its key
CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".m4s": "video/mp4", ".mp4": "video/mp4",
                 ".vtt": "text/vtt; charset=utf-8"}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_CHUNK = 1 << 16


def presentation_key(master_key: str, name: str) -> str:
    """The key of `name`, a file of the presentation whose master is `master_key`; AssetNotFound for any name that
    is not a plain file name with a presentation's extension (no folders, no '..', nothing hidden)."""
    if name == MASTER_NAME:
        return master_key
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in CONTENT_TYPES:
        raise AssetNotFound(f"not a presentation file: {name!r}")
    try:
        return keys.sibling(master_key, name)
    except ValueError as exc:
        raise AssetNotFound(f"not a presentation file: {name!r}") from exc


def content_type(name: str) -> str:
    return CONTENT_TYPES["." + name.rsplit(".", 1)[-1]]


def stored_file(storage: Storage, key: str, *, media_type: str, request_headers: Headers) -> Response:
    path = storage.local_path(key)
    if path is not None:
        if not path.is_file():
            raise AssetNotFound(key)
        return FileResponse(path, media_type=media_type)
    size = storage.stat(key)
    if size is None:
        raise AssetNotFound(key)
    etag = '"' + hashlib.sha256(f"{key}:{size}".encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Accept-Ranges": "bytes"}
    if etag in {tag.strip().removeprefix("W/") for tag in request_headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers={"ETag": etag})  # without asking the store for the bytes
    wanted = request_headers.get("range")
    if wanted is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(_read(storage.open(key), 0, size), media_type=media_type, headers=headers)
    found = _RANGE.fullmatch(wanted.strip())
    if found is None or found.group(1) == found.group(2) == "":
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    if found.group(1) == "":  # the last N bytes
        start, end = max(0, size - int(found.group(2))), size - 1
    else:
        start = int(found.group(1))
        end = min(int(found.group(2)), size - 1) if found.group(2) else size - 1
    if start >= size or end < start:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(_read(storage.open(key), start, end + 1), status_code=206, media_type=media_type,
                             headers=headers)


def _read(stream: BinaryIO, start: int, stop: int) -> Iterator[bytes]:
    """Bytes [start, stop) of the stream (the object store's stream cannot seek: the first `start` are skipped)."""
    with stream:
        position = 0
        while position < stop:
            chunk = stream.read(min(_CHUNK, stop - position) if position >= start else min(_CHUNK, start - position))
            if not chunk:
                return
            if position >= start:
                yield chunk
            position += len(chunk)
