"""Soft subtitles: an SRT muxed into an MP4 rendition as a `mov_text` track, language `chi`, nothing re-encoded.

    out = mux_subtitles(rendition_mp4, subtitles_srt, tmp / "720p-cc1.mp4", limits=limits)

The video and audio streams are copied packet for packet, so the muxed file plays exactly like the plain one (and
costs one read and one write of it); players that show subtitles offer the Chinese track. `+faststart` keeps the
index in front for streaming, as the ladder does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from transcode import runner
from transcode.command import compile_ffmpeg, file_url, open_input, open_subtitle_input
from transcode.errors import CorruptMedia, NotMedia
from transcode.limits import MediaLimits
from transcode.probe import probe_media

# ISO 639-2/B, the code MP4 (and iOS, Android, browsers reading mov_text) use for Chinese.
SUBTITLE_LANGUAGE = "chi"
DURATION_TOLERANCE_S = 0.5


@dataclass(frozen=True)
class MuxedRendition:
    path: Path
    duration_s: float
    size_bytes: int


def mux_subtitles(
    video: Path,
    subtitles_srt: Path,
    dest: Path,
    *,
    limits: MediaLimits,
    language: str = SUBTITLE_LANGUAGE,
    ffmpeg_bin: str = "ffmpeg",
    ffprobe_bin: str = "ffprobe",
) -> MuxedRendition:
    """Write `dest`: the video and audio of `video` (an MP4 we made) plus `subtitles_srt` as a mov_text track."""
    source = probe_media(video, limits=limits, ffprobe_bin=ffprobe_bin)
    if source.video is None:
        raise NotMedia(f"{video.name} has no video stream to add subtitles to")
    inp = open_input(video)
    streams = [inp[str(source.video.index)]]
    if source.audio is not None:
        streams.append(inp[str(source.audio.index)])
    streams.append(open_subtitle_input(subtitles_srt)["0"])
    node = ffmpeg.output(
        *streams,
        file_url(dest),
        **{
            "c:v": "copy",
            "c:a": "copy",
            "c:s": "mov_text",
            "metadata:s:s:0": f"language={language}",
            "map_metadata": -1,
            "map_chapters": -1,
            "movflags": "+faststart",
            "format": "mp4",
        },
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        runner.run(compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin), timeout_s=limits.encode_timeout_s(source.duration_s),
                   cwd=dest.parent)
        out = probe_media(dest, limits=limits, ffprobe_bin=ffprobe_bin)
        if out.duration_s < source.duration_s - DURATION_TOLERANCE_S:
            raise CorruptMedia(f"{dest.name} lasts {out.duration_s:.2f} s, its source {source.duration_s:.2f} s")
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return MuxedRendition(path=dest, duration_s=out.duration_s, size_bytes=out.size_bytes)
