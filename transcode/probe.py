"""Deciding what an uploaded file is: sniff its first bytes, then ffprobe it under whitelists and a time limit."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from transcode import runner
from transcode.command import (
    FORMAT_WHITELIST,
    PROGRESS,
    PROTOCOL_WHITELIST,
    QUIET,
    compile_ffmpeg,
    file_url,
    open_input,
)
from transcode.errors import (
    CommandFailed,
    CorruptMedia,
    ImageNotMedia,
    NotMedia,
    PlaylistRefused,
    TooLong,
    TooManyPixels,
)
from transcode.limits import MediaLimits

SNIFF_BYTES = 4096

# Codecs that, as a one-frame video stream, are a picture rather than a video.
_IMAGE_CODECS = frozenset({"mjpeg", "png", "bmp", "gif", "webp", "tiff", "jpeg2000"})


@dataclass(frozen=True)
class VideoInfo:
    index: int
    codec: str
    profile: str | None
    pix_fmt: str | None
    width: int
    height: int
    rotation_deg: int
    display_width: int
    display_height: int
    fps: float
    is_vfr: bool
    bit_rate: int | None
    level: int | None
    interlaced: bool = False  # fields, not frames (DV, broadcast cameras, 1080i): deinterlaced before scaling
    # ffprobe's colour names: HDR phone video says smpte2084 (PQ) or arib-std-b67 (HLG) with bt2020 (tone_map.py).
    color_transfer: str | None = None
    color_primaries: str | None = None
    color_space: str | None = None
    color_range: str | None = None


@dataclass(frozen=True)
class AudioInfo:
    index: int
    codec: str
    profile: str | None
    sample_rate: int
    channels: int
    bit_rate: int | None


@dataclass(frozen=True)
class ProbeResult:
    format_name: str
    duration_s: float
    size_bytes: int
    bit_rate: int | None
    video: VideoInfo | None
    audio: AudioInfo | None
    audio_stream_count: int
    cover_art_index: int | None
    cover_art_width: int | None = None
    cover_art_height: int | None = None

    @property
    def kind(self) -> Literal["video", "audio"]:
        return "video" if self.video is not None else "audio"


def probe_media(
    path: Path, *, limits: MediaLimits, ffprobe_bin: str = "ffprobe", ffmpeg_bin: str = "ffmpeg"
) -> ProbeResult:
    """Describe `path`, or raise the TranscodeError that says why it is refused.

    `ffmpeg_bin` is used only when the container states no duration (browser-recorded WebM): the streams are
    then read through, without decoding, to at most just past the duration limit.
    """
    head = sniff_file(path)
    try:
        info = ffprobe_json(path, timeout_s=limits.probe_timeout_s, ffprobe_bin=ffprobe_bin)
    except CommandFailed as exc:
        if has_media_signature(head):
            raise CorruptMedia(f"ffprobe could not read {path.name}: {exc.detail}") from exc
        raise NotMedia(f"no known signature and ffprobe could not read {path.name}: {exc.detail}") from exc
    result = parse_probe(info, size_bytes=path.stat().st_size, max_pixels=limits.max_pixels)
    if result.duration_s <= 0:
        duration_s = measure_duration_by_demuxing(path, limits=limits, ffmpeg_bin=ffmpeg_bin)
        if duration_s <= 0:
            raise CorruptMedia(f"{path.name} has no readable packets")
        result = replace(result, duration_s=duration_s)
    check_limits(result, limits)
    return result


def measure_duration_by_demuxing(path: Path, *, limits: MediaLimits, ffmpeg_bin: str = "ffmpeg") -> float:
    """Duration found by copying every packet to nowhere, stopping just past `limits.max_duration_s`."""
    node = open_input(path).output("-", format="null", c="copy", t=f"{limits.max_duration_s + 1:.0f}")
    args = compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin, global_args=(*QUIET, *PROGRESS))
    try:
        result = runner.run(args, timeout_s=limits.probe_timeout_s)
    except CommandFailed as exc:
        raise CorruptMedia(f"could not read through {path.name}: {exc.detail}") from exc
    out_time_s = 0.0
    for line in result.stdout.decode("ascii", "replace").splitlines():
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().lstrip("-").isdigit():
            out_time_s = max(out_time_s, int(value) / 1_000_000)
    return out_time_s


def ffprobe_json(path: Path, *, timeout_s: float, ffprobe_bin: str = "ffprobe") -> dict[str, Any]:
    """Run ffprobe under the whitelists; CommandFailed when it refuses or cannot read the file."""
    args = [
        ffprobe_bin, "-v", "error", "-hide_banner",
        "-protocol_whitelist", PROTOCOL_WHITELIST, "-format_whitelist", FORMAT_WHITELIST,
        "-show_format", "-show_streams", "-of", "json", file_url(path),
    ]  # fmt: skip
    result = runner.run(args, timeout_s=timeout_s)
    try:
        data = json.loads(result.stdout.decode("utf-8", "replace"))
    except ValueError as exc:
        raise CommandFailed(f"ffprobe printed no JSON for {path.name}") from exc
    if not isinstance(data, dict) or "format" not in data:
        raise CommandFailed(f"ffprobe found no container in {path.name}")
    return data


# --- sniffing ---------------------------------------------------------------------------------------------------

_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
    b"\x00\x00\x01\x00",  # ICO
)
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"avif"})
_PLAYLIST_MARKERS = (
    "#extm3u", "#extinf", "ffconcat", "[playlist]", "<asx", "<smil", "<mpd", "<?wpl", "#ext-x-",
)  # fmt: skip


def sniff_file(path: Path) -> bytes:
    """Refuse what the first bytes already give away, without running ffmpeg on it; return those bytes."""
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head:
        raise NotMedia(f"{path.name} is empty")
    if _looks_like_image(head):
        raise ImageNotMedia(f"{path.name} starts with an image signature")
    text = _as_text(head)
    if text is None:
        return head
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    if any(marker in lowered[:1024] for marker in _PLAYLIST_MARKERS) or _names_other_files(lowered):
        raise PlaylistRefused(f"{path.name} is a playlist or script naming other inputs")
    raise NotMedia(f"{path.name} is text")


_MEDIA_MAGIC = (
    b"ID3", b"OggS", b"fLaC", b"#!AMR", b"\x1a\x45\xdf\xa3", b"FLV", b"\x00\x00\x01\xba", b".snd", b"caff",
    b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", b"ADIF", b".RMF", b"wvpk", b"MAC ", b"\x06\x0e\x2b\x34",
    b"\x0b\x77", b"\x7f\xfe\x80\x01", b"\x1f\x07\x00",
)  # fmt: skip
_MP4_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"})


def has_media_signature(head: bytes) -> bool:
    """Whether the first bytes look like one of the accepted containers (to tell corrupt media from junk)."""
    if head.startswith(_MEDIA_MAGIC) or head[4:8] in _MP4_BOXES:
        return True
    if head[:4] in (b"RIFF", b"RF64", b"FORM", b"riff"):
        return True  # WAV, AVI, AIFF, Wave64
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return True  # MPEG audio or ADTS frame sync
    return len(head) > 188 and head[0] == 0x47 and head[188] == 0x47  # MPEG-TS packets


def _looks_like_image(head: bytes) -> bool:
    if head.startswith(_IMAGE_MAGIC):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00":
        return True  # BMP: signature, size, then four reserved zero bytes
    return head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS


def _as_text(head: bytes) -> str | None:
    """The head as text when it is text (UTF-8 or GB18030, no NULs, few control characters), else None."""
    if b"\x00" in head:
        return None
    controls = sum(1 for b in head if b < 0x20 and b not in b"\t\n\r\f\x1b")
    if controls > len(head) * 0.02:
        return None
    for encoding in ("utf-8", "gb18030"):
        try:
            return head.decode(encoding)
        except UnicodeDecodeError:
            # The cut at SNIFF_BYTES may split a character; judge what precedes it.
            try:
                return head[:-4].decode(encoding) if len(head) == SNIFF_BYTES else None
            except UnicodeDecodeError:
                continue
    return None


def _names_other_files(text: str) -> bool:
    """A text file whose lines are URLs or `file '...'` directives is an indirect input of some kind."""
    for line in text.splitlines()[:50]:
        stripped = line.strip()
        if "://" in stripped or stripped.startswith(("file ", "file:", "http:", "https:")):
            return True
    return False


# --- parsing ffprobe's answer ------------------------------------------------------------------------------------


def parse_probe(info: dict[str, Any], *, size_bytes: int, max_pixels: int | None = None) -> ProbeResult:
    fmt: dict[str, Any] = info.get("format") or {}
    streams: list[dict[str, Any]] = [s for s in info.get("streams") or [] if isinstance(s, dict)]

    videos: list[dict[str, Any]] = []
    covers: list[dict[str, Any]] = []
    for s in streams:
        if s.get("codec_type") != "video":
            continue
        (covers if _is_cover_art(s) else videos).append(s)
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not videos and not audios:
        raise NotMedia("no audio or video stream")

    video = _video_info(_pick_default(videos)) if videos else None
    audio = _audio_info(_pick_default(audios)) if audios else None
    cover = None
    if covers and video is None:
        w, h = _int(covers[0].get("width")) or 0, _int(covers[0].get("height")) or 0
        if max_pixels is None or w * h <= max_pixels:  # an oversized cover is ignored, never decoded
            cover = covers[0]

    duration_s = _float(fmt.get("duration"))
    if duration_s is None or duration_s <= 0:
        durations = [d for s in videos + audios if (d := _float(s.get("duration"))) is not None]
        duration_s = max(durations, default=0.0)  # 0: unknown, measured by probe_media

    return ProbeResult(
        format_name=str(fmt.get("format_name", "")),
        duration_s=duration_s,
        size_bytes=size_bytes,
        bit_rate=_int(fmt.get("bit_rate")),
        video=video,
        audio=audio,
        audio_stream_count=len(audios),
        cover_art_index=_int(cover.get("index")) if cover else None,
        cover_art_width=_int(cover.get("width")) if cover else None,
        cover_art_height=_int(cover.get("height")) if cover else None,
    )


def check_limits(result: ProbeResult, limits: MediaLimits) -> None:
    if result.duration_s > limits.max_duration_s:
        raise TooLong(
            f"duration {result.duration_s:.0f} s over {limits.max_duration_s:.0f} s",
            message=f"时长超过上限（{_number(limits.max_duration_s / 60)} 分钟）",
        )
    if result.video is not None:
        pixels = result.video.width * result.video.height
        if pixels > limits.max_pixels:
            raise TooManyPixels(
                f"{result.video.width}x{result.video.height} over {limits.max_pixels} pixels",
                message=f"画面尺寸超过上限（最多约 {_number(limits.max_pixels / 10_000)} 万像素）",
            )


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _is_cover_art(s: dict[str, Any]) -> bool:
    if (s.get("disposition") or {}).get("attached_pic"):
        return True
    return s.get("codec_name") in _IMAGE_CODECS and _int(s.get("nb_frames")) == 1


def _pick_default(streams: list[dict[str, Any]]) -> dict[str, Any]:
    for s in streams:
        if (s.get("disposition") or {}).get("default"):
            return s
    return streams[0]


def _video_info(s: dict[str, Any]) -> VideoInfo:
    width, height = _int(s.get("width")) or 0, _int(s.get("height")) or 0
    rotation = _rotation_deg(s)
    # Anamorphic sources (DV, DVD, some camcorders) store non-square pixels: 720x576 at 16:15 shows as 768x576.
    shown_w = round(width * _sample_aspect(s.get("sample_aspect_ratio")))
    display_w, display_h = (height, shown_w) if rotation in (90, 270) else (shown_w, height)
    avg = _rate(s.get("avg_frame_rate"))
    real = _rate(s.get("r_frame_rate"))
    fps = avg or real or 0.0
    is_vfr = bool(avg and real and abs(avg - real) / max(avg, real) > 0.02)
    return VideoInfo(
        index=int(s["index"]),
        codec=str(s.get("codec_name", "")),
        profile=s.get("profile"),
        pix_fmt=s.get("pix_fmt"),
        width=width,
        height=height,
        rotation_deg=rotation,
        display_width=display_w,
        display_height=display_h,
        fps=fps,
        is_vfr=is_vfr,
        bit_rate=_int(s.get("bit_rate")),
        level=_int(s.get("level")),
        interlaced=s.get("field_order") in _INTERLACED_FIELD_ORDERS,
        color_transfer=_known(s.get("color_transfer")),
        color_primaries=_known(s.get("color_primaries")),
        color_space=_known(s.get("color_space")),
        color_range=_known(s.get("color_range")),
    )


def _known(value: object) -> str | None:
    """ffprobe's colour property, None when absent or "unknown"."""
    return value if isinstance(value, str) and value and value != "unknown" else None


def _audio_info(s: dict[str, Any]) -> AudioInfo:
    return AudioInfo(
        index=int(s["index"]),
        codec=str(s.get("codec_name", "")),
        profile=s.get("profile"),
        sample_rate=_int(s.get("sample_rate")) or 0,
        channels=_int(s.get("channels")) or 0,
        bit_rate=_int(s.get("bit_rate")),
    )


def _rotation_deg(s: dict[str, Any]) -> int:
    """Clockwise degrees the coded picture turns for display (0/90/180/270), as the old `rotate` tag said.

    ffprobe's display-matrix `rotation` is counter-clockwise, hence the sign change.
    """
    degrees: float | None = None
    for sd in s.get("side_data_list") or []:
        if isinstance(sd, dict) and sd.get("side_data_type") == "Display Matrix" and "rotation" in sd:
            ccw = _float(sd.get("rotation"))
            degrees = -ccw if ccw is not None else None
            break
    if degrees is None:
        degrees = _float((s.get("tags") or {}).get("rotate"))
    if degrees is None or not math.isfinite(degrees):
        return 0
    return int(round(degrees / 90.0)) * 90 % 360


_INTERLACED_FIELD_ORDERS = frozenset({"tt", "bb", "tb", "bt"})


def _sample_aspect(value: object) -> float:
    """A stream's sample (pixel) aspect ratio, "16:15" -> 1.0667; 1.0 when absent, unknown or absurd."""
    if not isinstance(value, str) or ":" not in value:
        return 1.0
    num, _, den = value.partition(":")
    try:
        ratio = float(num) / float(den)
    except (ValueError, ZeroDivisionError):
        return 1.0
    return ratio if 0.25 <= ratio <= 4.0 and abs(ratio - 1.0) > 0.01 else 1.0


def _rate(value: object) -> float | None:
    if not isinstance(value, str) or "/" not in value:
        return _float(value)
    num, _, den = value.partition("/")
    try:
        n, d = float(num), float(den)
    except ValueError:
        return None
    return n / d if d and n > 0 else None


def _float(value: object) -> float | None:
    if value is None:
        return None
    try:
        result = float(str(value))
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def _int(value: object) -> int | None:
    f = _float(value)
    return int(f) if f is not None else None
