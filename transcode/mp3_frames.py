"""MPEG audio Layer III frames: finding them in a file, reading their parameters, joining two streams without
re-encoding either.

An audio pack's track may begin with a spoken intro. The intro is encoded at the audio edition's exact parameters
(`Mp3Params`), and the track is then [one new Info frame for the whole] + [the intro's audio frames] + [the edition's
audio frames], byte for byte as they are in their files (`join_with_intro`), so a 60-minute lesson is never decoded
again. Frame layout and the Xing/Info/LAME tag follow LAME's `VbrTag.c` and ffmpeg's `mp3enc.c`; the tag itself is
read and written in `transcode/mp3_info_tag.py`.

A join is safe at a frame boundary when the second stream's first frame borrows nothing from the frames before it
(its `main_data_begin` is 0, as at the start of every encoder's stream): `join_streams` checks it.
"""

from __future__ import annotations

import functools
import mmap
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from transcode.errors import Mp3Invalid, Mp3JoinUnsafe, Mp3ParamsMismatch
from transcode.mp3_info_tag import (
    TAG_BYTES,
    InfoTag,
    build_info_frame,
    combine_crc16,
    crc16_of_span,
    read_info_tag,
)
from transcode.spans import FileSpan, Piece

MpegVersion = Literal["1", "2", "2.5"]
ChannelMode = Literal["stereo", "joint_stereo", "dual_channel", "mono"]

_VERSIONS: dict[int, MpegVersion] = {0: "2.5", 2: "2", 3: "1"}  # 1 is reserved
_BITRATES_KBPS: dict[MpegVersion, tuple[int, ...]] = {
    "1": (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    "2": (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    "2.5": (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES: dict[MpegVersion, tuple[int, int, int]] = {
    "1": (44100, 48000, 32000), "2": (22050, 24000, 16000), "2.5": (11025, 12000, 8000),
}  # fmt: skip
_MODES: tuple[ChannelMode, ...] = ("stereo", "joint_stereo", "dual_channel", "mono")
_FIRST_FRAME_SEARCH_BYTES = 64 * 1024  # junk tolerated between the ID3v2 tag and the first frame
_ID3V1_BYTES = 128
_ID3V1_EXTENDED_BYTES = 227  # "TAG+", before an ID3v1 tag
_APE_FOOTER_BYTES = 32


@dataclass(frozen=True)
class FrameHeader:
    """The 4-byte header of one MPEG audio Layer III frame."""

    version: MpegVersion
    bitrate_kbps: int
    sample_rate: int
    padding: bool
    protected: bool  # a CRC-16 follows the header
    channel_mode: ChannelMode
    raw: int

    @property
    def samples_per_frame(self) -> int:
        return 1152 if self.version == "1" else 576

    @property
    def channels(self) -> int:
        return 1 if self.channel_mode == "mono" else 2

    @property
    def size_bytes(self) -> int:
        return (144000 if self.version == "1" else 72000) * self.bitrate_kbps // self.sample_rate + self.padding

    @property
    def side_info_bytes(self) -> int:
        if self.version == "1":
            return 17 if self.channels == 1 else 32
        return 9 if self.channels == 1 else 17

    @property
    def info_tag_offset(self) -> int:
        """Where a Xing/Info tag starts in the frame: after the header and the (empty) side information."""
        return 4 + self.side_info_bytes


@dataclass(frozen=True)
class Mp3Params:
    """What must be equal for two streams to be joined: the audio edition's encoding parameters."""

    version: MpegVersion
    sample_rate: int
    channels: int
    bitrate_kbps: int | None  # None: the bit rate varies from frame to frame

    @property
    def cbr(self) -> bool:
        return self.bitrate_kbps is not None

    def describe(self) -> str:
        rate = f"{self.bitrate_kbps} kbit/s CBR" if self.bitrate_kbps else "VBR"
        return f"MPEG-{self.version} Layer III, {self.sample_rate} Hz, {self.channels} ch, {rate}"


@dataclass(frozen=True)
class Mp3Stream:
    """The MPEG audio frames of one file: where they are, what they carry, and the header frame's tag."""

    path: Path
    start: int  # first byte of the first frame (the Xing/Info/VBRI frame when there is one)
    end: int  # one past the last complete frame
    info_frame: FrameHeader | None  # the Xing/Info/VBRI frame, which holds no audio
    info: InfoTag | None
    first: FrameHeader  # the first audio frame
    params: Mp3Params
    first_main_data_begin: int  # bytes the first audio frame borrows from earlier frames (bit reservoir)
    frame_offsets: array[int] = field(repr=False, compare=False)  # absolute offset of every audio frame

    @property
    def frame_count(self) -> int:
        return len(self.frame_offsets)

    @property
    def audio_start(self) -> int:
        return self.frame_offsets[0]

    @property
    def audio_bytes(self) -> int:
        return self.end - self.audio_start

    @property
    def delay_samples(self) -> int:
        return self.info.lame.delay_samples if self.info and self.info.lame else 0

    @property
    def padding_samples(self) -> int:
        return self.info.lame.padding_samples if self.info and self.info.lame else 0

    @property
    def frames_duration_s(self) -> float:
        """Frames x samples per frame: the duration ffprobe and mutagen report for an ffmpeg-written file."""
        return self.frame_count * self.first.samples_per_frame / self.params.sample_rate

    @property
    def duration_s(self) -> float:
        """The decoded duration, less the encoder delay and padding the LAME tag declares (gapless players)."""
        samples = self.frame_count * self.first.samples_per_frame - self.delay_samples - self.padding_samples
        return max(0, samples) / self.params.sample_rate


def parse_frame_header(data: bytes | mmap.mmap, offset: int = 0) -> FrameHeader | None:
    """The Layer III frame header at `offset`, or None when those 4 bytes are not one (free format included)."""
    if len(data) < offset + 4:
        return None
    return _header(int.from_bytes(data[offset : offset + 4], "big"))


@functools.lru_cache(maxsize=256)
def _header(h: int) -> FrameHeader | None:
    version = _VERSIONS.get((h >> 19) & 3)
    bitrate_index, rate_index = (h >> 12) & 15, (h >> 10) & 3
    if (h >> 21) != 0x7FF or version is None or (h >> 17) & 3 != 1:  # sync, version, Layer III
        return None
    if bitrate_index in (0, 15) or rate_index == 3 or h & 3 == 2:  # free format, bad index, reserved emphasis
        return None
    return FrameHeader(
        version=version,
        bitrate_kbps=_BITRATES_KBPS[version][bitrate_index],
        sample_rate=_SAMPLE_RATES[version][rate_index],
        padding=bool(h >> 9 & 1),
        protected=not h >> 16 & 1,
        channel_mode=_MODES[h >> 6 & 3],
        raw=h,
    )


def scan_mp3(path: Path) -> Mp3Stream:
    """Find the audio frames of an MP3 file (after ID3v2 tags, before ID3v1/APEv2 tags). Raises Mp3Invalid."""
    size = path.stat().st_size
    if size < 4:
        raise Mp3Invalid(f"{path.name}: {size} bytes")
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _scan(path, data, size)


def _scan(path: Path, data: mmap.mmap, size: int) -> Mp3Stream:
    end = _frames_end(data, size)
    start = _find_first_frame(data, _skip_id3v2(data, size), end)
    first = _header(int.from_bytes(data[start : start + 4], "big"))
    assert first is not None
    info = read_info_tag(data[start : start + first.size_bytes], first.info_tag_offset)
    pos = start + first.size_bytes if info is not None else start
    offsets: array[int] = array("q")
    bitrates: set[int] = set()
    same_stream = first.raw & 0xFFFE0C00  # sync, version, layer, sample rate
    mono = first.channel_mode == "mono"
    sizes: dict[int, int] = {}
    while pos + 4 <= end:
        h = int.from_bytes(data[pos : pos + 4], "big")
        frame_size = sizes.get(h >> 6)
        if frame_size is None:
            header = _header(h)
            ok = header is not None and h & 0xFFFE0C00 == same_stream and (header.channel_mode == "mono") == mono
            frame_size = header.size_bytes if ok and header is not None else 0
            sizes[h >> 6] = frame_size
            if frame_size:
                bitrates.add(h >> 12 & 15)
        if not frame_size or pos + frame_size > end:
            break  # not a frame of this stream, or truncated: the frames end here
        offsets.append(pos)
        pos += frame_size
    if not offsets:
        raise Mp3Invalid(f"{path.name}: no audio frames after the header frame")
    audio = _header(int.from_bytes(data[offsets[0] : offsets[0] + 4], "big"))
    assert audio is not None
    params = Mp3Params(
        version=audio.version, sample_rate=audio.sample_rate, channels=audio.channels,
        bitrate_kbps=audio.bitrate_kbps if len(bitrates) == 1 else None,
    )  # fmt: skip
    return Mp3Stream(
        path=path, start=start, end=pos, info_frame=first if info is not None else None, info=info, first=audio,
        params=params, first_main_data_begin=_main_data_begin(data[offsets[0] : offsets[0] + 8], audio),
        frame_offsets=offsets,
    )  # fmt: skip


def _skip_id3v2(data: mmap.mmap, size: int) -> int:
    """Offset after the ID3v2 tags at the start (several may follow one another; v2.4 may have a footer)."""
    pos = 0
    while data[pos : pos + 3] == b"ID3" and size >= pos + 10:
        flags, raw_size = data[pos + 5], data[pos + 6 : pos + 10]
        if any(b & 0x80 for b in raw_size):
            raise Mp3Invalid("ID3v2 tag size is not synchsafe")
        tag_size = (raw_size[0] << 21) | (raw_size[1] << 14) | (raw_size[2] << 7) | raw_size[3]
        pos += 10 + tag_size + (10 if flags & 0x10 else 0)
    return pos


def _frames_end(data: mmap.mmap, size: int) -> int:
    """Where the frames must end: before an ID3v1 tag (and its "TAG+" extension) and an APEv2 tag at the end."""
    end = size
    if end >= _ID3V1_BYTES and data[end - _ID3V1_BYTES : end - _ID3V1_BYTES + 3] == b"TAG":
        end -= _ID3V1_BYTES
        if end >= _ID3V1_EXTENDED_BYTES and data[end - _ID3V1_EXTENDED_BYTES : end - 223] == b"TAG+":
            end -= _ID3V1_EXTENDED_BYTES
    if end >= _APE_FOOTER_BYTES and data[end - 32 : end - 24] == b"APETAGEX":
        footer = data[end - 32 : end]
        tag_size = int.from_bytes(footer[12:16], "little")  # items and footer, not the header
        has_header = bool(int.from_bytes(footer[20:24], "little") & 0x80000000)
        end = max(0, end - tag_size - (32 if has_header else 0))
    return end


def _find_first_frame(data: mmap.mmap, pos: int, end: int) -> int:
    """The first frame header that is followed by another of the same stream (or ends the file exactly)."""
    limit = min(end, pos + _FIRST_FRAME_SEARCH_BYTES)
    while True:
        pos = data.find(b"\xff", pos, limit)
        if pos < 0:
            raise Mp3Invalid("no MPEG audio Layer III frame found")
        header = parse_frame_header(data, pos)
        if header is not None:
            after = pos + header.size_bytes
            following = parse_frame_header(data, after) if after + 4 <= end else None
            if after == end or (following is not None and following.raw & 0xFFFE0C00 == header.raw & 0xFFFE0C00):
                return pos
        pos += 1


def _main_data_begin(frame: bytes, header: FrameHeader) -> int:
    side = frame[6:8] if header.protected else frame[4:6]
    return (side[0] << 1 | side[1] >> 7) if header.version == "1" else side[0]


def read_params(path: Path) -> Mp3Params:
    """The encoding parameters of an MP3 file's audio frames (to encode an intro that joins it)."""
    return scan_mp3(path).params


def audio_frames_span(path: Path) -> FileSpan:
    """The file's frames, its Xing/Info frame included, without ID3v2, ID3v1 or APE tags."""
    stream = scan_mp3(path)
    return FileSpan(path, stream.start, stream.end - stream.start)


def track_pieces(path: Path) -> list[Piece]:
    """A track with no intro: the edition's frames as they are (the caller puts a new ID3v2 tag before them)."""
    return [audio_frames_span(path)]


def join_with_intro(intro: Path, edition: Path) -> list[Piece]:
    """[a new Info frame for the whole, the intro's audio frames, the edition's audio frames], ready to stream.

    Raises Mp3ParamsMismatch when the two differ in version, sample rate, channels or bit rate, Mp3JoinUnsafe when a
    stream's first frame borrows from the bit reservoir, Mp3Invalid when either is not an MP3.
    """
    return join_streams(scan_mp3(intro), scan_mp3(edition))


def join_streams(intro: Mp3Stream, edition: Mp3Stream) -> list[Piece]:
    """`join_with_intro` on streams already scanned."""
    if intro.params != edition.params:
        raise Mp3ParamsMismatch(
            f"intro {intro.path.name} is {intro.params.describe()}, edition {edition.path.name} is "
            f"{edition.params.describe()}"
        )
    for stream in (intro, edition):
        if stream.first_main_data_begin != 0:
            raise Mp3JoinUnsafe(
                f"{stream.path.name}: first audio frame has main_data_begin={stream.first_main_data_begin}"
            )
    intro_span = FileSpan(intro.path, intro.audio_start, intro.audio_bytes)
    edition_span = FileSpan(edition.path, edition.audio_start, edition.audio_bytes)
    relative = [o - intro.audio_start for o in intro.frame_offsets]
    relative += [intro.audio_bytes + o - edition.audio_start for o in edition.frame_offsets]
    music_crc = combine_crc16(crc16_of_span(intro_span), _edition_crc(edition, edition_span), edition.audio_bytes)
    lame = edition.info.lame if edition.info else None
    header, frame_bytes, tag_offset = _info_frame_header(edition.first)
    frame = build_info_frame(
        header, frame_bytes=frame_bytes, tag_offset=tag_offset, audio_frame_offsets=relative,
        audio_bytes=intro.audio_bytes + edition.audio_bytes, delay_samples=intro.delay_samples,
        padding_samples=edition.padding_samples, music_crc=music_crc, template=lame,
        quality=edition.info.quality if edition.info else None, cbr=edition.params.cbr,
    )  # fmt: skip
    return [frame, intro_span, edition_span]


def _info_frame_header(audio: FrameHeader) -> tuple[bytes, int, int]:
    """A header like the stream's (version, rate, mode; its bit rate when the tag fits), no CRC, no padding."""
    base = audio.raw & 0xFFFE0CC0 | 0x00010000  # keep sync, version, layer, rate, mode; set "no CRC"
    for index in range(audio.raw >> 12 & 15, 15):
        header = _header(base | index << 12)
        if header is not None and header.size_bytes >= header.info_tag_offset + TAG_BYTES:
            return (base | index << 12).to_bytes(4, "big"), header.size_bytes, header.info_tag_offset
    raise Mp3Invalid(f"no {audio.version} Layer III frame at {audio.sample_rate} Hz can hold an Info tag")


def _edition_crc(edition: Mp3Stream, span: FileSpan) -> int:
    """The CRC-16 of the edition's audio frames: from its LAME tag when the tag describes these very frames."""
    lame = edition.info.lame if edition.info else None
    if lame is not None and edition.info_frame is not None:
        if lame.music_length_bytes == edition.info_frame.size_bytes + edition.audio_bytes:
            return lame.music_crc
    return crc16_of_span(span)  # a foreign file: read it all once


__all__ = [
    "ChannelMode", "FrameHeader", "Mp3Params", "Mp3Stream", "MpegVersion", "audio_frames_span",
    "join_streams", "join_with_intro", "parse_frame_header", "read_params", "scan_mp3", "track_pieces",
]  # fmt: skip
