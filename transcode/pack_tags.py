"""ID3v2.3 tags for an audio pack's tracks, built as bytes, and the MPEG frames of an audio edition to put them on.

    tag = id3_tag_bytes(TrackTags(title="开篇", artist="张三", album="党课随身听 第2版", track_number=1,
                                  track_count=12, year=2026, genre="党课", cover_jpeg=jpeg, lyrics=transcript))
    pieces = [tag, mpeg_audio_span(audio_edition_mp3)]          # a track, never written to disk on its own

Many cheap players read ID3v2.3 only, and text in UTF-16 with a BOM: every text frame is written that way (the
ID3v2.3 encodings are Latin-1 and UTF-16). The tag has no padding: it is never edited in place. Text is cleaned as
file names are (`readable_text`: no control characters, no emoji a GBK player font cannot draw; a title with nothing
readable left is `第N课`, as in the file name); another empty value leaves its frame out. The lyrics (USLT,
language "chi") keep their line breaks.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen.id3

from transcode.errors import CorruptMedia
from transcode.pack_names import display_title, readable_text
from transcode.spans import FileSpan

ID3_VERSION = (2, 3, 0)
LYRICS_LANGUAGE = "chi"  # ISO 639-2 (bibliographic) for Chinese, as players look it up
_ID3V2_HEADER_BYTES = 10
_ID3V1_BYTES = 128
_JPEG_START = b"\xff\xd8\xff"
_id3: Any = mutagen.id3  # mutagen's frames and specs are untyped and not re-exported for mypy


@dataclass(frozen=True)
class TrackTags:
    """What a pack's track says about itself."""

    title: str
    artist: str  # the speaker
    album: str  # the pack's title and version
    track_number: int
    track_count: int
    year: int
    genre: str
    cover_jpeg: bytes | None = None  # a small baseline JPEG (pack_covers.make_track_cover)
    lyrics: str = ""  # the published transcript


def id3_tag_bytes(tags: TrackTags) -> bytes:
    """A complete ID3v2.3 tag (header and frames, no padding), UTF-16 text, to put before a track's MPEG frames."""
    if not 1 <= tags.track_number <= tags.track_count:
        raise ValueError(f"track {tags.track_number} of {tags.track_count}")
    if tags.cover_jpeg is not None and not tags.cover_jpeg.startswith(_JPEG_START):
        raise ValueError("the cover is not a JPEG")
    utf16 = _id3.Encoding.UTF16
    tag = _id3.ID3()
    title = display_title(tags.title, tags.track_number)
    texts = ((_id3.TIT2, title), (_id3.TPE1, tags.artist), (_id3.TALB, tags.album), (_id3.TCON, tags.genre))
    for frame_type, value in texts:
        text = readable_text(value)
        if text:
            tag.add(frame_type(encoding=utf16, text=[text]))
    tag.add(_id3.TRCK(encoding=utf16, text=[f"{tags.track_number}/{tags.track_count}"]))
    if tags.year > 0:
        tag.add(_id3.TYER(encoding=utf16, text=[f"{tags.year:04d}"]))
    lyrics = _lyrics_text(tags.lyrics)
    if lyrics:
        tag.add(_id3.USLT(encoding=utf16, lang=LYRICS_LANGUAGE, desc="", text=lyrics))
    if tags.cover_jpeg is not None:
        # An empty description in Latin-1: what players that read pictures at all understand.
        tag.add(_id3.APIC(encoding=_id3.Encoding.LATIN1, mime="image/jpeg", type=_id3.PictureType.COVER_FRONT,
                          desc="", data=tags.cover_jpeg))
    tag.update_to_v23()
    out = io.BytesIO()
    tag.save(out, v1=0, v2_version=3, padding=lambda info: 0)
    return out.getvalue()


def read_id3_tag(path: Path) -> Any:
    """The ID3v2 tag at the start of `path` as stored (v2.3 frames not translated to v2.4 ones)."""
    return _id3.ID3(path, translate=False)  # a mutagen.id3.ID3


def mpeg_audio_span(path: Path) -> FileSpan:
    """The MPEG audio frames of an MP3 (the Xing/LAME frame included): after its ID3v2 tags, before an ID3v1 tag."""
    size = path.stat().st_size
    with path.open("rb") as f:
        start = 0
        while True:
            f.seek(start)
            header = f.read(_ID3V2_HEADER_BYTES)
            if len(header) < _ID3V2_HEADER_BYTES or not header.startswith(b"ID3"):
                break
            start += _id3v2_length(header)
        f.seek(start)
        sync = f.read(2)
        if len(sync) < 2 or sync[0] != 0xFF or sync[1] & 0xE0 != 0xE0:
            raise CorruptMedia(f"{path.name}: no MPEG frame at byte {start}")
        end = size
        if size - start >= _ID3V1_BYTES:
            f.seek(size - _ID3V1_BYTES)
            if f.read(3) == b"TAG":
                end -= _ID3V1_BYTES
    return FileSpan(path=path, start=start, length=end - start)


def _id3v2_length(header: bytes) -> int:
    """Bytes of the ID3v2 tag whose 10-byte header this is, footer included."""
    body = header[6:10]
    if any(b & 0x80 for b in body):
        raise CorruptMedia("ID3v2 size is not syncsafe")
    length = (body[0] << 21) | (body[1] << 14) | (body[2] << 7) | body[3]
    has_footer = bool(header[5] & 0x10)
    return _ID3V2_HEADER_BYTES + length + (_ID3V2_HEADER_BYTES if has_footer else 0)


def _lyrics_text(text: str) -> str:
    """The transcript with its line breaks, each line cleaned like a title, no empty lines at the ends."""
    lines = [readable_text(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")
