"""A JPEG poster: a representative, non-black video frame (upright), or an audio file's cover picture."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from transcode import runner
from transcode.command import compile_ffmpeg, file_url, open_input
from transcode.ladder import upright_frames
from transcode.limits import MediaLimits
from transcode.probe import ProbeResult, VideoInfo
from transcode.tone_map import is_hdr, to_sdr

log = logging.getLogger(__name__)

# Where to look, as fractions of the duration: never the first frame, which is often black or a fade-in.
CANDIDATE_POSITIONS = (1 / 3, 1 / 2, 1 / 5, 2 / 3, 4 / 5)
THUMBNAIL_FRAMES = 24  # frames the `thumbnail` filter compares (and holds in memory) per candidate
# Keyframes the `thumbnail` filter compares when only keyframes are decoded: a phone writes one every second or two.
THUMBNAIL_KEYFRAMES = 12
# How far past the position the keyframes are looked for: without a bound, a file with one keyframe at its start would
# be read to its end (and once per candidate position) only to find none.
KEYFRAME_WINDOW_S = 120
GRAY_SIZE = 16  # the candidate is also decoded to a GRAY_SIZE x GRAY_SIZE gray image to judge blackness
BLACK_MEAN = 24.0  # mean luma (0..255) below which a frame counts as black
JPEG_QUALITY = 3  # mjpeg -q:v, 2 (best) .. 31


@dataclass(frozen=True)
class PosterOutput:
    path: Path
    width: int
    height: int


def make_poster(
    src: Path,
    probe: ProbeResult,
    out_path: Path,
    *,
    limits: MediaLimits,
    max_width: int = 1280,
    ffmpeg_bin: str = "ffmpeg",
) -> PosterOutput | None:
    """Write `out_path` (JPEG); None for audio without a cover picture."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if probe.video is not None:
        width, height = poster_size(probe.video.display_width, probe.video.display_height, max_width)
        return _video_poster(src, probe, out_path, width, height, limits=limits, ffmpeg_bin=ffmpeg_bin)
    if probe.cover_art_index is not None and probe.cover_art_width and probe.cover_art_height:
        width, height = poster_size(probe.cover_art_width, probe.cover_art_height, max_width)
        frame = open_input(src)[str(probe.cover_art_index)]
        node = _jpeg_output(frame.filter("scale", width, height), out_path)
        try:
            runner.run(compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin), timeout_s=limits.encode_timeout_min_s)
        except BaseException:
            out_path.unlink(missing_ok=True)
            raise
        return PosterOutput(path=out_path, width=width, height=height)
    return None


def poster_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """At most `max_width` wide, aspect kept, both even."""
    new_w = max(2, min(width, max_width) // 2 * 2)
    new_h = max(2, int(round(height * new_w / width / 2)) * 2)
    return new_w, new_h


def _video_poster(
    src: Path,
    probe: ProbeResult,
    out_path: Path,
    width: int,
    height: int,
    *,
    limits: MediaLimits,
    ffmpeg_bin: str,
) -> PosterOutput | None:
    assert probe.video is not None
    candidates: list[tuple[float, Path]] = []  # (mean luma, jpeg)
    try:
        for i, fraction in enumerate(CANDIDATE_POSITIONS):
            jpeg = out_path.with_name(f".{out_path.stem}.candidate{i}.jpg")
            position_s = probe.duration_s * fraction
            mean = None
            if not probe.video.interlaced:
                # Keyframes alone first: they decode on their own, so this costs a dozen frames, not the
                # hundreds between the previous keyframe and the position (and they are the sharpest frames).
                mean = _grab_candidate(src, probe.video, position_s, jpeg, width, height,
                                       limits=limits, ffmpeg_bin=ffmpeg_bin, keyframes_only=True)
            if mean is None:  # no keyframe after the position (one at the start only, say): decode everything
                mean = _grab_candidate(src, probe.video, position_s, jpeg, width, height, limits=limits,
                                       ffmpeg_bin=ffmpeg_bin)
            if mean is None:
                continue
            candidates.append((mean, jpeg))
            if mean >= BLACK_MEAN:
                break
        if not candidates:
            # Seeking found no decodable frame (a stream with one keyframe, an MPEG-TS with broken timestamps):
            # the start, read without seeking, is better than no poster.
            jpeg = out_path.with_name(f".{out_path.stem}.candidate-start.jpg")
            mean = _grab_candidate(src, probe.video, 0.0, jpeg, width, height, limits=limits,
                                   ffmpeg_bin=ffmpeg_bin)
            if mean is not None:
                candidates.append((mean, jpeg))
        if not candidates:
            log.warning("no poster frame could be decoded from %s", src.name)
            return None
        brightest = max(candidates, key=lambda c: c[0])[1]
        os.replace(brightest, out_path)
        return PosterOutput(path=out_path, width=width, height=height)
    finally:
        for _, jpeg in candidates:
            jpeg.unlink(missing_ok=True)


def _grab_candidate(
    src: Path,
    video: VideoInfo,
    position_s: float,
    jpeg: Path,
    width: int,
    height: int,
    *,
    limits: MediaLimits,
    ffmpeg_bin: str,
    keyframes_only: bool = False,
) -> float | None:
    """Write the most representative frame near `position_s` to `jpeg`; return its mean luma, None if none.

    With `keyframes_only` the decoder skips all but keyframes and the pick is among the keyframes in the
    KEYFRAME_WINDOW_S after the position (bwdif needs the neighbouring fields, so interlaced sources are not read that way).
    """
    options: dict[str, str] = {"ss": f"{position_s:.3f}"} if position_s > 0 else {}
    if keyframes_only:
        options.update(skip_frame="nokey", t=str(KEYFRAME_WINDOW_S))
    frames = upright_frames(open_input(src, **options), video)
    batch = THUMBNAIL_KEYFRAMES if keyframes_only else THUMBNAIL_FRAMES
    scaled = frames.filter("scale", width, height)
    if is_hdr(video):  # as the renditions are: an HDR phone's picture in SDR, not grey and washed out
        scaled = to_sdr(scaled, video)
    picked = scaled.filter("thumbnail", batch)
    branches = picked.filter_multi_output("split", 2)
    gray = branches[1].filter("scale", GRAY_SIZE, GRAY_SIZE).filter("format", "gray")
    node = ffmpeg.merge_outputs(
        _jpeg_output(branches[0], jpeg),
        ffmpeg.output(gray, "pipe:1", format="rawvideo", **{"frames:v": 1}),
    )
    try:
        result = runner.run(
            compile_ffmpeg(node, ffmpeg_bin=ffmpeg_bin), timeout_s=limits.encode_timeout_min_s
        )
    except BaseException:
        jpeg.unlink(missing_ok=True)
        raise
    pixels = result.stdout
    if len(pixels) < GRAY_SIZE * GRAY_SIZE or not jpeg.exists() or jpeg.stat().st_size == 0:
        jpeg.unlink(missing_ok=True)
        return None
    return sum(pixels[: GRAY_SIZE * GRAY_SIZE]) / (GRAY_SIZE * GRAY_SIZE)


def _jpeg_output(frame: Any, path: Path) -> Any:
    return ffmpeg.output(
        frame.filter("format", "yuvj420p"),
        file_url(path),
        format="mjpeg",
        **{"frames:v": 1, "q:v": JPEG_QUALITY, "map_metadata": -1},
    )
