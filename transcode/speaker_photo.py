"""A speaker's photo, made safe to serve: whatever was uploaded is decoded and written again as a small JPEG.

The upload is recognised by its first bytes (JPEG, PNG or WebP: never by its name or declared type), decoded by
the matching image demuxer alone (the one format forced and whitelisted, `file:` only), scaled to PHOTO_WIDTH
pixels wide, cut to at most PHOTO_MAX_HEIGHT high, and encoded as a baseline JPEG without metadata (no EXIF, so no
GPS position from a phone). What is served is always our own encoder's output, never the uploaded bytes.
"""

from __future__ import annotations

from pathlib import Path

import ffmpeg

from transcode import runner
from transcode.command import PROTOCOL_WHITELIST, compile_ffmpeg, file_url
from transcode.errors import CommandFailed, NotAPhoto

PHOTO_WIDTH = 256
PHOTO_MAX_HEIGHT = 384  # a 2:3 portrait; taller pictures are cut from the top
JPEG_QUALITY = 4  # mjpeg -q:v, 2 (best) .. 31
PHOTO_TIMEOUT_S = 30.0
MAX_SOURCE_PIXELS = 50_000_000  # about a 8660 x 5770 camera picture; a "pixel bomb" is refused before decoding
TOO_LARGE_MESSAGE = "照片尺寸太大，请换一张小一些的照片"
_OVER_PIXELS = "exceeds specified max pixel count"  # what ffmpeg's image utilities say when max_pixels refuses


def sniff_photo(head: bytes) -> str | None:
    """The ffmpeg demuxer for a JPEG, PNG or WebP picture recognised by its first bytes, else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg_pipe"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png_pipe"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp_pipe"
    return None


def _png_pixels(head: bytes) -> int | None:
    """Width x height from a PNG's IHDR chunk (always first), or None."""
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big") * int.from_bytes(head[20:24], "big")


def encode_speaker_photo(src: Path, out_path: Path, *, ffmpeg_bin: str = "ffmpeg",
                         timeout_s: float = PHOTO_TIMEOUT_S) -> Path:
    """Write `out_path` (JPEG, PHOTO_WIDTH wide) from the picture in `src`; NotAPhoto when `src` is anything else
    or cannot be decoded."""
    with src.open("rb") as fh:
        head = fh.read(64)
    demuxer = sniff_photo(head)
    if demuxer is None:
        raise NotAPhoto(f"{src.name}: not JPEG, PNG or WebP (starts {head[:8]!r})")
    pixels = _png_pixels(head) if demuxer == "png_pipe" else None
    if pixels is not None and pixels > MAX_SOURCE_PIXELS:
        raise NotAPhoto(f"{src.name}: {pixels} pixels", message=TOO_LARGE_MESSAGE)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # The decoder refuses a picture over the limit before allocating it, whatever the format (a 1.5 MB JPEG can
    # declare 16000 x 16000 and take 455 MB to decode); PNG is caught above already, with no process started.
    picture = ffmpeg.input(file_url(src), protocol_whitelist=PROTOCOL_WHITELIST, format_whitelist=demuxer,
                           format=demuxer, max_pixels=MAX_SOURCE_PIXELS)
    scaled = (picture["v:0"]
              .filter("scale", PHOTO_WIDTH, -2, flags="lanczos")
              .filter("crop", "iw", f"min(ih,{PHOTO_MAX_HEIGHT})", 0, 0)
              .filter("format", "yuvj420p"))
    node = ffmpeg.output(scaled, file_url(out_path), format="mjpeg",
                         **{"frames:v": 1, "q:v": JPEG_QUALITY, "map_metadata": -1})
    try:
        runner.run(compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin), timeout_s=timeout_s)
    except CommandFailed as exc:
        out_path.unlink(missing_ok=True)
        if _OVER_PIXELS in str(exc):
            raise NotAPhoto(f"{src.name}: over {MAX_SOURCE_PIXELS} pixels", message=TOO_LARGE_MESSAGE) from exc
        raise NotAPhoto(f"{src.name}: ffmpeg could not decode it: {exc}") from exc
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    if not out_path.exists() or out_path.stat().st_size == 0:
        out_path.unlink(missing_ok=True)
        raise NotAPhoto(f"{src.name}: no frame decoded")
    return out_path
