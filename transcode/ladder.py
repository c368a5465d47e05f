"""The H.264/AAC MP4 rendition ladder: plan the rungs, then make them all in one ffmpeg process.

The source is decoded once: ffmpeg applies the display rotation (autorotate), one `fps` filter makes the frame
rate constant, and the scalers cascade from the largest rung down (1080p -> 720p -> 360p), each feeding its own
x264 encoder: scaling a 1080x1920 frame is most of a scaler's cost, so it is done once. Bilinear scaling is the
right filter for these downscales (swscale widens it to the ratio) and measured 4 s faster than bicubic on a 60 s
1080x1920 clip on two cores (bench/pipeline.py). A rung whose picture the source already fits is a stream copy of
it, written by the same process (with the sound copied or encoded, as for the other rungs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ffmpeg

from transcode import runner
from transcode.command import PROGRESS, QUIET, compile_ffmpeg, file_url, open_input
from transcode.errors import CorruptMedia
from transcode.limits import MediaLimits
from transcode.probe import AudioInfo, ProbeResult, VideoInfo, probe_media
from transcode.tone_map import SDR_TAGS, is_hdr, to_sdr

log = logging.getLogger(__name__)

MAX_FPS = 30.0
CRF = 23
# A keyframe every 4 s: the renditions are progressive MP4s, not 2 s HLS segments, and each keyframe costs several
# frames' bits. On three generated 720p contents (bench/x264_settings.py) 4 s instead of 2 s took 5-11% off the
# bits at equal PSNR; a seek then decodes at most 4 s of video before it plays.
KEYFRAME_INTERVAL_S = 4.0
# Rungs this large (short side) get `LARGE_RUNG_X264_PARAMS` on top of the preset: at veryfast, subme=1 (one
# SAD-based sub-pixel refinement instead of two SATD ones) takes a quarter to a third off a 720p encode, the
# largest share of a lesson's processing, for 3-13% more bits at equal PSNR. With the 4 s keyframes the 720p rung
# still came out 8% and 2.5% smaller than with the old settings (veryfast, 2 s) on a still scene and a handheld pan,
# and 7% larger on a synthetic test pattern. Smaller rungs keep the preset: their viewers have the weakest signal.
# Measured for veryfast only: other presets (ultrafast has subme=0, slow has 8) stand as they are.
LARGE_RUNG_SHORT_SIDE = 720
LARGE_RUNG_X264_PARAMS = "subme=1"
LARGE_RUNG_TUNED_PRESET = "veryfast"
COPYABLE_PROFILES = frozenset({"constrained baseline", "baseline", "main", "high"})
COPYABLE_AUDIO = frozenset({"aac"})
# An encoded rung copies the source's AAC-LC sound when its bit rate is at most this much over the rung's own.
AUDIO_COPY_HEADROOM = 1.4
# An output shorter than its source by more than this is a truncated source.
TRUNCATION_TOLERANCE_S = 1.0
TRUNCATION_TOLERANCE_RATIO = 0.02


@dataclass(frozen=True)
class RenditionSpec:
    label: str
    width: int
    height: int
    copy: bool
    fps: float


@dataclass(frozen=True)
class RenditionOutput:
    spec: RenditionSpec
    path: Path
    width: int
    height: int
    duration_s: float
    size_bytes: int
    bit_rate: int | None


def max_video_kbps(short_side: int) -> int:
    """The x264 `maxrate` for a rung, and the most a stream-copied source may use."""
    for min_short, kbps in ((1080, 5000), (720, 2500), (540, 1800), (480, 1400), (360, 900), (240, 500)):
        if short_side >= min_short:
            return kbps
    return 300


def x264_options(short_side: int, fps: float, *, preset: str, large_rung_params: str = LARGE_RUNG_X264_PARAMS
                 ) -> dict[str, Any]:
    """H.264 High at CRF 23 under the rung's peak rate, a keyframe every KEYFRAME_INTERVAL_S (scene cuts add more)."""
    kbps = max_video_kbps(short_side)
    options: dict[str, Any] = {
        "c:v": "libx264",
        "preset": preset,
        "crf": CRF,
        "maxrate": f"{kbps}k",
        "bufsize": f"{kbps * 2}k",
        "profile:v": "high",
        "g": max(1, round((fps if fps > 0 else MAX_FPS) * KEYFRAME_INTERVAL_S)),
    }
    if large_rung_params and short_side >= LARGE_RUNG_SHORT_SIDE and preset == LARGE_RUNG_TUNED_PRESET:
        options["x264-params"] = large_rung_params
    return options


def audio_kbps(short_side: int) -> int:
    return 128 if short_side >= 720 else 96


def audio_copyable(audio: AudioInfo, video: VideoInfo, short_side: int) -> bool:
    """Whether an encoded rung can keep the source's sound as it is: AAC-LC stereo or mono at a web sample rate and
    a bit rate near the rung's, on a constant-rate video (variable-rate phone video may have gaps in its sound, which
    only resampling closes). Saves an AAC encode per rung, and a generation of audio loss."""
    return (
        audio.codec in COPYABLE_AUDIO
        and (audio.profile or "").upper() == "LC"
        and audio.channels <= 2
        and audio.sample_rate in (44100, 48000)
        and 0 < (audio.bit_rate or 0) <= audio_kbps(short_side) * 1000 * AUDIO_COPY_HEADROOM
        and not video.is_vfr
    )


def plan_ladder(probe: ProbeResult, *, rungs: Sequence[int] = (720, 360)) -> list[RenditionSpec]:
    """Rungs by the short side, never upscaled; empty for audio-only sources."""
    video = probe.video
    if video is None or not rungs:
        return []
    source_short = min(video.display_width, video.display_height)
    ordered = sorted({r for r in rungs if r > 0}, reverse=True)
    top = min(ordered[0], source_short)
    targets = [top] + [r for r in ordered[1:] if r < top]
    fps = min(video.fps, MAX_FPS) if video.fps > 0 else MAX_FPS
    specs = []
    for target in targets:
        width, height = _scaled_size(video.display_width, video.display_height, target)
        short = min(width, height)
        specs.append(
            RenditionSpec(
                label=f"{short}p",
                width=width,
                height=height,
                copy=_source_fits(probe, video, width, height),
                fps=fps,
            )
        )
    return specs


def _even_floor(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _scaled_size(display_w: int, display_h: int, short_target: int) -> tuple[int, int]:
    short, long = min(display_w, display_h), max(display_w, display_h)
    new_short = _even_floor(min(short_target, short))
    new_long = max(2, int(round(long * new_short / short / 2)) * 2)
    return (new_long, new_short) if display_w >= display_h else (new_short, new_long)


def _source_fits(probe: ProbeResult, video: VideoInfo, width: int, height: int) -> bool:
    """Whether the source's picture can be the rung as it is (its sound is judged apart: `_copied_output`)."""
    video_kbps = (video.bit_rate or probe.bit_rate or 0) / 1000
    return (
        video.codec == "h264"
        and (video.profile or "").lower() in COPYABLE_PROFILES
        and video.pix_fmt == "yuv420p"
        and video.rotation_deg == 0
        and (video.display_width, video.display_height) == (video.width, video.height) == (width, height)
        and not video.is_vfr
        and not video.interlaced
        and not is_hdr(video)
        and 0 < video.fps <= MAX_FPS + 0.5
        and 0 < video_kbps <= max_video_kbps(min(width, height)) * 1.1
    )


def encode_ladder(
    src: Path,
    probe: ProbeResult,
    specs: Sequence[RenditionSpec],
    out_dir: Path,
    *,
    limits: MediaLimits,
    on_progress: Callable[[float], None] | None = None,
    ffmpeg_bin: str = "ffmpeg",
    ffprobe_bin: str = "ffprobe",
    preset: str = "veryfast",
    large_rung_params: str = LARGE_RUNG_X264_PARAMS,
) -> list[RenditionOutput]:
    """Write `<label>.mp4` for each spec into `out_dir`, in one ffmpeg run; check each output's duration."""
    video = probe.video
    if video is None or not specs:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{spec.label}.mp4" for spec in specs]
    inp = open_input(src)
    outputs = []
    encoded = [(spec, path) for spec, path in zip(specs, paths, strict=True) if not spec.copy]
    outputs += _encoded_outputs(inp, video, probe.audio, encoded, preset=preset, large_rung_params=large_rung_params)
    for spec, path in zip(specs, paths, strict=True):
        if spec.copy:
            outputs.append(_copied_output(inp, video, probe.audio, spec, path))
    args = compile_ffmpeg(
        ffmpeg.merge_outputs(*outputs), ffmpeg_bin=ffmpeg_bin, global_args=(*QUIET, *PROGRESS)
    )
    try:
        runner.run(
            args,
            timeout_s=limits.encode_timeout_s(probe.duration_s),
            cwd=out_dir,
            on_progress=on_progress,
            progress_total_s=probe.duration_s,
        )
        return [
            _checked_output(spec, path, probe, limits=limits, ffprobe_bin=ffprobe_bin)
            for spec, path in zip(specs, paths, strict=True)
        ]
    except BaseException:
        for path in paths:  # nothing half-written stays behind
            path.unlink(missing_ok=True)
        raise


def upright_frames(inp: Any, video: VideoInfo) -> Any:
    """The video stream as whole frames: interlaced sources are deinterlaced (bwdif, one frame per frame)."""
    frames = inp[str(video.index)]
    if video.interlaced:
        frames = frames.filter("bwdif", mode="send_frame", deint="all")
    return frames


def _container_options() -> dict[str, Any]:
    # No source metadata (phones store GPS location and device names) and no chapters in the renditions.
    return {"movflags": "+faststart", "map_metadata": -1, "map_chapters": -1, "format": "mp4"}


def _copied_output(inp: Any, video: VideoInfo, audio: AudioInfo | None, spec: RenditionSpec, path: Path) -> Any:
    """The source's picture as it is; its sound too where an encoded rung would keep it, else encoded once here
    (a fitting phone clip with AMR, 5.1 or loud sound still has its picture copied)."""
    streams = [inp[str(video.index)]]
    options: dict[str, Any] = {"c:v": "copy", **_container_options()}
    if audio is not None:
        streams.append(inp[str(audio.index)])
        short = min(spec.width, spec.height)
        options.update({"c:a": "copy"} if audio_copyable(audio, video, short) else _audio_encoding(audio, short))
    return ffmpeg.output(*streams, file_url(path), **options)


def _audio_encoding(audio: AudioInfo, short_side: int) -> dict[str, Any]:
    """AAC at the rung's bit rate, mono kept mono, at 44.1 or 48 kHz."""
    return {
        "c:a": "aac",
        "b:a": f"{audio_kbps(short_side)}k",
        "ac": 1 if audio.channels == 1 else 2,
        "ar": audio.sample_rate if audio.sample_rate in (44100, 48000) else 48000,
    }


def _encoded_outputs(
    inp: Any,
    video: VideoInfo,
    audio: AudioInfo | None,
    encoded: list[tuple[RenditionSpec, Path]],
    *,
    preset: str,
    large_rung_params: str,
) -> list[Any]:
    if not encoded:
        return []
    encoded = sorted(encoded, key=lambda item: item[0].width * item[0].height, reverse=True)
    rate = Fraction(encoded[0][0].fps).limit_denominator(1001)
    frames = upright_frames(inp, video)
    if video.is_vfr or abs(video.fps - float(rate)) > 0.01:
        # Variable or too high a frame rate: made constant here (the output's -r and cfr mode then agree). A
        # constant-rate source skips the filter, which costs half a second per minute of 1080x1920 video.
        frames = frames.filter("fps", fps=str(rate))
    # The rungs whose sound is encoded (the others copy it), each with its branch of one resampled stream.
    resampled = [] if audio is None else [
        spec.label for spec, _ in encoded if not audio_copyable(audio, video, min(spec.width, spec.height))
    ]
    sound_for: dict[str, Any] = {}
    if audio is not None and resampled:
        sound = inp[str(audio.index)].filter("aresample", **{"async": 1, "first_pts": 0})
        branches = sound.filter_multi_output("asplit", len(resampled)) if len(resampled) > 1 else None
        sound_for = {label: branches[i] if branches is not None else sound for i, label in enumerate(resampled)}
    outputs = []
    hdr = is_hdr(video)
    larger = frames  # each rung is scaled from the one above it
    for i, (spec, path) in enumerate(encoded):
        scaled = larger.filter("scale", spec.width, spec.height, flags="bilinear").filter("setsar", 1)
        if i == 0 and hdr:
            scaled = to_sdr(scaled, video)  # at the top rung's size; the smaller rungs are scaled from it
        scaled = scaled.filter("format", "yuv420p")
        if i < len(encoded) - 1:
            split = scaled.filter_multi_output("split", 2)
            scaled, larger = split[0], split[1]
        short = min(spec.width, spec.height)
        options: dict[str, Any] = {
            **x264_options(short, float(rate), preset=preset, large_rung_params=large_rung_params),
            "fps_mode": "cfr",
            "r": str(rate),
            **(SDR_TAGS if hdr else {}),
            **_container_options(),
        }
        streams = [scaled]
        if audio is not None and spec.label not in sound_for:
            streams.append(inp[str(audio.index)])
            options["c:a"] = "copy"
        elif audio is not None:
            streams.append(sound_for[spec.label])
            options.update(_audio_encoding(audio, short))
        outputs.append(ffmpeg.output(*streams, file_url(path), **options))
    return outputs


def _checked_output(
    spec: RenditionSpec, path: Path, source: ProbeResult, *, limits: MediaLimits, ffprobe_bin: str
) -> RenditionOutput:
    out = probe_media(path, limits=limits, ffprobe_bin=ffprobe_bin)
    tolerance_s = max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_RATIO * source.duration_s)
    if out.duration_s < source.duration_s - tolerance_s:
        raise CorruptMedia(
            f"{spec.label} lasts {out.duration_s:.2f} s but the source claims {source.duration_s:.2f} s"
        )
    assert out.video is not None
    return RenditionOutput(
        spec=spec,
        path=path,
        width=out.video.display_width,
        height=out.video.display_height,
        duration_s=out.duration_s,
        size_bytes=out.size_bytes,
        bit_rate=out.bit_rate,
    )
