"""Pieces every ffmpeg/ffprobe command line shares: input whitelists, `file:` names, compiling ffmpeg-python graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg

# Demuxers ffmpeg may open, by their ffmpeg 5.1 names. A demuxer whose name lists several ("mov,mp4,m4a,3gp,3g2,mj2",
# "matroska,webm") is accepted when any one of them is listed. Everything that reads other files or URLs (hls,
# concat, dash, image2, sdp, ...) and every image demuxer stays out.
# The county's archive holds more than phone clips: RealMedia (.rm/.rmvb, once the usual way to share video in China),
# DV camcorder tapes, MXF from the television station's cameras, and AC-3/DTS/WavPack/APE/AU sound.
ACCEPTED_DEMUXERS = (
    "mov", "matroska", "avi", "flv", "mpegts", "mpeg", "asf", "ogg", "wav", "w64", "rm", "dv", "mxf",
    "mp3", "aac", "amr", "amrnb", "amrwb", "flac", "aiff", "caf", "ac3", "eac3", "dts", "wv", "ape", "au",
)  # fmt: skip
FORMAT_WHITELIST = ",".join(ACCEPTED_DEMUXERS)
PROTOCOL_WHITELIST = "file"
# Subtitle files we wrote ourselves (captions.write_srt), opened only by `open_subtitle_input`, never an upload.
SUBTITLE_DEMUXERS = ("srt",)

QUIET = ("-hide_banner", "-nostats", "-loglevel", "error")
PROGRESS = ("-progress", "pipe:1")


def input_options() -> dict[str, str]:
    """Options every ffmpeg/ffprobe input gets (always together with a `file_url` name)."""
    return {"protocol_whitelist": PROTOCOL_WHITELIST, "format_whitelist": FORMAT_WHITELIST}


def file_url(path: Path) -> str:
    """`file:/abs/path`: never read as another protocol, an option (leading `-`) or an image pattern."""
    return f"file:{path.resolve()}"


def open_input(path: Path, **options: Any) -> Any:
    """An ffmpeg-python input node for a local file, with the whitelists."""
    return ffmpeg.input(file_url(path), **input_options(), **options)


def open_subtitle_input(path: Path) -> Any:
    """An input node for an SRT file we wrote: the SRT demuxer forced, nothing else allowed."""
    return ffmpeg.input(file_url(path), protocol_whitelist=PROTOCOL_WHITELIST,
                        format_whitelist=",".join(SUBTITLE_DEMUXERS), format="srt")


def compile_ffmpeg(node: Any, *, ffmpeg_bin: str, global_args: tuple[str, ...] = QUIET) -> list[str]:
    """Compile an ffmpeg-python output node, with global options placed first (ffmpeg-python puts them last).

    Outputs are overwritten (`-y`): they are always our own files in a scratch folder, and a retry rewrites them.
    """
    args: list[str] = node.compile(cmd=ffmpeg_bin)
    return [args[0], "-y", *global_args, *args[1:]]
