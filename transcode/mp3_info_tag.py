"""The Xing/Info tag with its LAME extension (and Fraunhofer's VBRI) in an MP3's first frame: reading and writing.

The tag is a frame holding no audio, first in the stream. Players take the duration from its frame count (a phone
otherwise guesses from the first frame's bit rate and the file size), seek with its table of contents, and trim the
encoder delay and padding that the LAME extension declares. Layout (offsets from the tag, as LAME's `VbrTag.c` and
ffmpeg's `mp3enc.c` write it, all fields present):

    0 "Xing" (VBR) or "Info" (CBR) | 4 flags 0x0F | 8 frames | 12 bytes | 16 TOC[100] | 116 quality
    120 encoder[9] | 129 revision/method | 130 lowpass | 131 peak | 135 track gain | 137 album gain | 139 flags
    140 bit rate | 141 delay:12 padding:12 | 144 misc | 145 mp3gain | 146 preset | 148 music length | 152 music CRC
    154 tag CRC                                                                                         (156 bytes)

"frames" counts audio frames (not the tag's own); "bytes" and "music length" run from the tag frame's first byte to
the last audio frame's last; "music CRC" covers the audio frames. CRCs are CRC-16/ARC (LAME's and ffmpeg's
AV_CRC_16_ANSI_LE). The tag CRC covers the frame's bytes before it, as LAME computes it; ffmpeg covers 190 bytes with
the field zeroed, the same thing for stereo MPEG-1 and not for mono, so reading accepts either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from transcode.spans import FileSpan, iter_piece_chunks

TAG_BYTES = 156
TOC_ENTRIES = 100
LAME_OFFSET = 120  # from the tag's first byte
_FLAGS_ALL = 0x0F  # frames, bytes, TOC, quality
_MAX_DELAY_OR_PADDING = (1 << 12) - 1
_FFMPEG_TAG_CRC_BYTES = 190


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC16_TABLE = _crc16_table()


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC (reflected polynomial 0x8005, initial 0) of `data`, continuing from `crc`."""
    table = _CRC16_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def crc16_of_span(span: FileSpan) -> int:
    crc = 0
    for chunk in iter_piece_chunks([span]):
        crc = crc16(chunk, crc)
    return crc


def combine_crc16(crc_a: int, crc_b: int, length_b: int) -> int:
    """CRC-16 of A followed by B from the CRCs of each and B's length, without reading either (as zlib's
    crc32_combine): this CRC is linear, so crc(A+B) = crc(A) run through len(B) zero bytes, xor crc(B)."""
    # The effect of one zero byte on the 16-bit state is a linear map; square it for 2, 4, 8, ... bytes.
    step = [(1 << bit >> 8) ^ _CRC16_TABLE[(1 << bit) & 0xFF] for bit in range(16)]
    state, n = crc_a, length_b
    while n:
        if n & 1:
            state = _apply(step, state)
        step = [_apply(step, column) for column in step]
        n >>= 1
    return state ^ crc_b


def _apply(columns: Sequence[int], value: int) -> int:
    result, bit = 0, 0
    while value:
        if value & 1:
            result ^= columns[bit]
        value >>= 1
        bit += 1
    return result


@dataclass(frozen=True)
class LameTag:
    encoder: bytes  # 9 bytes, e.g. b"LAME3.100" or ffmpeg's b"Lavc59.37"
    delay_samples: int  # encoder delay at the start (the decoder's 529 samples not included)
    padding_samples: int  # added at the end to fill the last frame
    music_length_bytes: int
    music_crc: int
    tag_crc: int
    tag_crc_ok: bool
    raw: bytes  # the 36 bytes as read


@dataclass(frozen=True)
class InfoTag:
    kind: Literal["Xing", "Info", "VBRI"]
    frames: int | None
    size_bytes: int | None  # the tag frame and the audio frames
    toc: bytes | None
    quality: int | None
    lame: LameTag | None


def read_info_tag(frame: bytes, tag_offset: int) -> InfoTag | None:
    """The Xing/Info tag at `tag_offset` in the first frame, or a VBRI tag at its fixed place; None without one."""
    if frame[36:40] == b"VBRI" and len(frame) >= 54:
        return InfoTag("VBRI", frames=_be(frame, 50, 4), size_bytes=_be(frame, 46, 4), toc=None, quality=None, lame=None)
    kind = frame[tag_offset : tag_offset + 4]
    if kind not in (b"Xing", b"Info") or len(frame) < tag_offset + 8:
        return None
    flags = _be(frame, tag_offset + 4, 4)
    pos = tag_offset + 8
    values: dict[str, int | bytes | None] = {"frames": None, "bytes": None, "toc": None, "quality": None}
    for flag, name, size in ((1, "frames", 4), (2, "bytes", 4), (4, "toc", TOC_ENTRIES), (8, "quality", 4)):
        if flags & flag:
            if len(frame) < pos + size:
                return None
            values[name] = frame[pos : pos + size] if name == "toc" else _be(frame, pos, size)
            pos += size
    frames, size_bytes, toc, quality = values["frames"], values["bytes"], values["toc"], values["quality"]
    assert not isinstance(frames, bytes) and not isinstance(size_bytes, bytes) and not isinstance(quality, bytes)
    assert toc is None or isinstance(toc, bytes)
    return InfoTag(
        kind="Xing" if kind == b"Xing" else "Info", frames=frames, size_bytes=size_bytes, toc=toc, quality=quality,
        lame=_read_lame(frame, pos),
    )  # fmt: skip


def _read_lame(frame: bytes, pos: int) -> LameTag | None:
    raw = frame[pos : pos + 36]
    if len(raw) < 36 or not all(32 <= b < 127 for b in raw[:4]):  # "LAME", "Lavc", "Lavf", "L3.9"
        return None
    delay_padding = _be(raw, 21, 3)
    stored_crc = _be(raw, 34, 2)
    lame_crc = crc16(frame[: pos + 34])
    zeroed = bytearray(frame[:_FFMPEG_TAG_CRC_BYTES])
    zeroed[pos + 34 : pos + 36] = b"\0\0"
    return LameTag(
        encoder=raw[:9], delay_samples=delay_padding >> 12, padding_samples=delay_padding & 0xFFF,
        music_length_bytes=_be(raw, 28, 4), music_crc=_be(raw, 32, 2), tag_crc=stored_crc,
        tag_crc_ok=stored_crc in (lame_crc, crc16(bytes(zeroed))), raw=raw,
    )  # fmt: skip


def build_info_frame(
    header: bytes,
    *,
    frame_bytes: int,
    tag_offset: int,
    audio_frame_offsets: Sequence[int],
    audio_bytes: int,
    delay_samples: int,
    padding_samples: int,
    music_crc: int,
    template: LameTag | None,
    quality: int | None,
    cbr: bool,
) -> bytes:
    """A complete tag frame for a stream of `audio_frame_offsets` (from the first audio frame) and `audio_bytes`.

    `header` is the 4-byte frame header (no CRC, a bit rate whose frame holds the tag). From `template` (the LAME
    tag of the stream whose end this is) come the encoder string and settings; the peak and replay-gain fields,
    which described that stream alone, are cleared.
    """
    if frame_bytes < tag_offset + TAG_BYTES:
        raise ValueError(f"a {frame_bytes}-byte frame cannot hold the tag at {tag_offset}")
    if not 0 <= delay_samples <= _MAX_DELAY_OR_PADDING or not 0 <= padding_samples <= _MAX_DELAY_OR_PADDING:
        raise ValueError(f"delay {delay_samples} or padding {padding_samples} does not fit in 12 bits")
    total = frame_bytes + audio_bytes
    count = len(audio_frame_offsets)
    toc = bytearray(TOC_ENTRIES)
    for i in range(1, TOC_ENTRIES):
        toc[i] = min(255, 256 * (frame_bytes + audio_frame_offsets[i * count // TOC_ENTRIES]) // total)
    lame = bytearray(template.raw if template is not None else b"Lavf".ljust(36, b"\0"))
    lame[11:19] = bytes(8)  # peak, track gain, album gain
    lame[21:24] = (delay_samples << 12 | padding_samples).to_bytes(3, "big")
    lame[28:32] = total.to_bytes(4, "big")
    lame[32:34] = music_crc.to_bytes(2, "big")
    frame = bytearray(frame_bytes)
    frame[:4] = header
    tag = b"".join((
        b"Info" if cbr else b"Xing", _FLAGS_ALL.to_bytes(4, "big"), count.to_bytes(4, "big"), total.to_bytes(4, "big"),
        bytes(toc), (quality or 0).to_bytes(4, "big"), bytes(lame),
    ))  # fmt: skip
    frame[tag_offset : tag_offset + TAG_BYTES] = tag
    crc_at = tag_offset + TAG_BYTES - 2
    frame[crc_at : crc_at + 2] = crc16(bytes(frame[:crc_at])).to_bytes(2, "big")
    return bytes(frame)


def _be(data: bytes, offset: int, size: int) -> int:
    return int.from_bytes(data[offset : offset + size], "big")
