"""Adaptive playback (HLS) from the MP4 renditions, by stream copy: nothing is encoded a second time.

    variant = package_rendition(rendition_mp4, out_dir, name="720p", limits=limits)
        # out_dir/720p-init.mp4, 720p-00000.m4s, ..., and 720p.m3u8 (written by ffmpeg after its segments)
    text = master_playlist([variant_360p, variant_720p], subtitles=SubtitleRendition("subtitles-1a2b.m3u8"))

Each rung becomes one fMP4 media playlist (`-hls_segment_type fmp4`, 4 s segments: the ladder puts a keyframe every
4 s, so segments cut there) with its audio beside the video. The master playlist is written here, not by ffmpeg, so it
carries what players choose by: BANDWIDTH (the peak segment bit rate) and AVERAGE-BANDWIDTH (measured from the
segments written), RESOLUTION, FRAME-RATE and CODECS (avc1 profile, constraints and level from the init segment's
avcC box, falling back to ffprobe's profile and level; mp4a.40.2 for AAC-LC), and the Chinese WebVTT subtitles as a
SUBTITLES group: a one-segment media playlist naming the VTT file.

Every name in a presentation is relative and flat (no folders), so a presentation can live under any one prefix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from transcode import runner
from transcode.command import compile_ffmpeg, file_url, open_input
from transcode.errors import CorruptMedia, NotMedia
from transcode.limits import MediaLimits
from transcode.probe import ProbeResult, probe_media

SEGMENT_S = 4
PLAYLIST_MIME = "application/vnd.apple.mpegurl"
SEGMENT_MIME = "video/mp4"  # the init segment and the .m4s media segments alike
SUBTITLES_MIME = "text/vtt"
SUBTITLE_GROUP = "subs"
# What a presentation's files may be called: a rung or a subtitle file, then -init, -00042 or nothing.
FILE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.(?:m3u8|m4s|mp4|vtt)")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
DURATION_TOLERANCE_S = 0.5

# ffprobe's H.264 profile names -> profile_idc and constraint flags, for when the init segment has no avcC box.
_AVC_PROFILES = {
    "constrained baseline": (0x42, 0xC0), "baseline": (0x42, 0x00), "main": (0x4D, 0x40),
    "extended": (0x58, 0x00), "high": (0x64, 0x00), "high 10": (0x6E, 0x00),
}  # fmt: skip
_AAC_OBJECT_TYPES = {"lc": 2, "he-aac": 5, "he-aacv2": 29, "main": 1, "ltp": 4}


@dataclass(frozen=True)
class HlsVariant:
    """One rung as an fMP4 media playlist, and what the master playlist says about it."""

    name: str
    playlist: str  # e.g. 720p.m3u8
    files: tuple[str, ...]  # every file written, the media playlist last
    bandwidth: int  # peak segment bit rate, bits/s
    average_bandwidth: int
    width: int
    height: int
    frame_rate: float | None
    codecs: str
    duration_s: float


@dataclass(frozen=True)
class SubtitleRendition:
    playlist: str  # the subtitle media playlist's name, e.g. subtitles-1a2b3c.m3u8
    name: str = "中文"
    language: str = "zh-CN"


@dataclass(frozen=True)
class MediaSegment:
    uri: str
    duration_s: float


def package_rendition(
    src: Path,
    out_dir: Path,
    *,
    name: str,
    limits: MediaLimits,
    segment_s: int = SEGMENT_S,
    ffmpeg_bin: str = "ffmpeg",
    ffprobe_bin: str = "ffprobe",
) -> HlsVariant:
    """Write `name`.m3u8, `name`-init.mp4 and `name`-NNNNN.m4s into `out_dir`: `src`'s video and audio, copied."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid variant name {name!r}")
    source = probe_media(src, limits=limits, ffprobe_bin=ffprobe_bin)
    if source.video is None:
        raise NotMedia(f"{src.name} has no video stream to package")
    out_dir.mkdir(parents=True, exist_ok=True)
    playlist = out_dir / f"{name}.m3u8"
    inp = open_input(src)
    streams = [inp[str(source.video.index)]]
    if source.audio is not None:
        streams.append(inp[str(source.audio.index)])
    node = ffmpeg.output(*streams, file_url(playlist), **{
        "c": "copy", "map_metadata": -1, "map_chapters": -1, "format": "hls",
        "hls_segment_type": "fmp4", "hls_time": segment_s, "hls_playlist_type": "vod",
        "hls_flags": "independent_segments", "hls_fmp4_init_filename": f"{name}-init.mp4",
        "hls_segment_filename": file_url(out_dir / f"{name}-%05d.m4s"),
    })  # fmt: skip
    runner.run(compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin), timeout_s=limits.encode_timeout_s(source.duration_s),
               cwd=out_dir)
    init, segments = parse_media_playlist(playlist.read_text(encoding="utf-8"))
    if init is None or not segments:
        raise CorruptMedia(f"packaging {src.name} wrote no segments")
    duration_s = sum(s.duration_s for s in segments)
    if duration_s < source.duration_s - DURATION_TOLERANCE_S:
        raise CorruptMedia(f"{name}: segments last {duration_s:.2f} s, the rendition {source.duration_s:.2f} s")
    sizes = [(out_dir / s.uri).stat().st_size for s in segments]
    peak = max(8 * size / max(s.duration_s, 0.1) for size, s in zip(sizes, segments, strict=True))
    init_path = out_dir / init
    return HlsVariant(
        name=name, playlist=playlist.name, files=(init, *(s.uri for s in segments), playlist.name),
        bandwidth=math.ceil(peak), average_bandwidth=math.ceil(8 * sum(sizes) / duration_s),
        width=source.video.display_width, height=source.video.display_height,
        frame_rate=source.video.fps or None, codecs=codecs_of(source, init_path.read_bytes()),
        duration_s=duration_s,
    )  # fmt: skip


def parse_media_playlist(text: str) -> tuple[str | None, list[MediaSegment]]:
    """The init segment's name (EXT-X-MAP) and the media segments of a media playlist we wrote."""
    init: str | None = None
    segments: list[MediaSegment] = []
    duration: float | None = None
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("#EXT-X-MAP:"):
            found = re.search(r'URI="([^"]+)"', line)
            init = _checked_name(found.group(1)) if found else None
        elif line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:"):].split(",", 1)[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append(MediaSegment(_checked_name(line), duration))
            duration = None
    return init, segments


def _checked_name(name: str) -> str:
    if not FILE_NAME.fullmatch(name):
        raise CorruptMedia(f"unexpected file name in a media playlist: {name!r}")
    return name


def codecs_of(probe: ProbeResult, init_segment: bytes = b"") -> str:
    """The RFC 6381 CODECS value: avc1.PPCCLL (from the avcC box when there is one), then the audio's."""
    assert probe.video is not None
    codecs = [_avc1(probe, init_segment)]
    if probe.audio is not None:
        audio = probe.audio.codec
        if audio == "aac":
            codecs.append(f"mp4a.40.{_AAC_OBJECT_TYPES.get((probe.audio.profile or 'lc').lower(), 2)}")
        elif audio == "mp3":
            codecs.append("mp4a.40.34")
        else:
            codecs.append(audio)
    return ",".join(codecs)


def _avc1(probe: ProbeResult, init_segment: bytes) -> str:
    at = init_segment.find(b"avcC")
    if at >= 0 and len(init_segment) >= at + 8:
        profile, constraints, level = init_segment[at + 5], init_segment[at + 6], init_segment[at + 7]
        return f"avc1.{profile:02x}{constraints:02x}{level:02x}"
    assert probe.video is not None
    if probe.video.codec != "h264":
        raise CorruptMedia(f"renditions are H.264, this one is {probe.video.codec}")
    profile, constraints = _AVC_PROFILES.get((probe.video.profile or "high").lower(), (0x64, 0x00))
    return f"avc1.{profile:02x}{constraints:02x}{probe.video.level or 31:02x}"


def master_playlist(variants: Sequence[HlsVariant], *, subtitles: SubtitleRendition | None = None) -> str:
    """The master playlist: every rung, lowest bandwidth first (where a phone on a weak signal starts)."""
    if not variants:
        raise ValueError("a presentation needs at least one variant")
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if subtitles is not None:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLE_GROUP}",NAME="{subtitles.name}",'
            f'LANGUAGE="{subtitles.language}",DEFAULT=YES,AUTOSELECT=YES,URI="{_checked_name(subtitles.playlist)}"')
    for v in sorted(variants, key=lambda v: (v.bandwidth, v.height)):
        attrs = [f"BANDWIDTH={v.bandwidth}", f"AVERAGE-BANDWIDTH={v.average_bandwidth}", f'CODECS="{v.codecs}"',
                 f"RESOLUTION={v.width}x{v.height}"]
        if v.frame_rate:
            attrs.append(f"FRAME-RATE={v.frame_rate:.3f}")
        if subtitles is not None:
            attrs.append(f'SUBTITLES="{SUBTITLE_GROUP}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), _checked_name(v.playlist)]
    return "\n".join(lines) + "\n"


def subtitle_playlist(vtt_name: str, *, duration_s: float) -> str:
    """A media playlist of one WebVTT segment covering the whole lesson."""
    return "\n".join([
        "#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{max(1, math.ceil(duration_s))}",
        "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", f"#EXTINF:{duration_s:.3f},", _checked_name(vtt_name),
        "#EXT-X-ENDLIST",
    ]) + "\n"  # fmt: skip


def webvtt_for_hls(vtt: str) -> str:
    """The WebVTT with the X-TIMESTAMP-MAP header HLS players expect (cue times are the media timeline's, from 0)."""
    lines = vtt.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].startswith("WEBVTT"):
        raise ValueError("not a WebVTT file")
    body = [line for line in lines[1:] if not line.startswith("X-TIMESTAMP-MAP=")]
    return "\n".join([lines[0], "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000", *body]) + "\n"
