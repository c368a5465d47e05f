"""What each media step does: call transcode on local files, publish outputs to storage.

No database here: steps get a :class:`~workers.step_io.LessonInput` and return a
:class:`~workers.step_io.StepOutcome` that the pipeline records.
"""

from __future__ import annotations

from pathlib import Path

from catalog.assets import AssetFacts
from catalog.models import AssetKind
from ingest import keys
from transcode import silk
from transcode.audio_edition import encode_audio_edition
from transcode.ladder import encode_ladder, plan_ladder
from transcode.poster import make_poster
from transcode.probe import ProbeResult, probe_media
from workers.step_io import LessonInput, StepIO, StepOutcome
from workers.wiring import Context

# Demuxer name (first of ffprobe's comma list) -> MIME type of the original, by media kind.
_ORIGINAL_MIME = {
    "mov": ("video/mp4", "audio/mp4"),
    "matroska": ("video/x-matroska", "audio/x-matroska"),
    "avi": ("video/x-msvideo", "video/x-msvideo"),
    "flv": ("video/x-flv", "video/x-flv"),
    "mpegts": ("video/mp2t", "video/mp2t"),
    "mpeg": ("video/mpeg", "audio/mpeg"),
    "asf": ("video/x-ms-asf", "audio/x-ms-wma"),
    "ogg": ("video/ogg", "audio/ogg"),
    "wav": ("audio/wav", "audio/wav"),
    "w64": ("audio/wav", "audio/wav"),
    "mp3": ("audio/mpeg", "audio/mpeg"),
    "aac": ("audio/aac", "audio/aac"),
    "amr": ("audio/amr", "audio/amr"),
    "flac": ("audio/flac", "audio/flac"),
    "aiff": ("audio/aiff", "audio/aiff"),
    "caf": ("audio/x-caf", "audio/x-caf"),
}


def original_mime(probe: ProbeResult) -> str:
    name = probe.format_name.split(",")[0]
    if name == "matroska" and "webm" in probe.format_name:
        name = "matroska"
    video_mime, audio_mime = _ORIGINAL_MIME.get(name, ("application/octet-stream", "application/octet-stream"))
    return video_mime if probe.kind == "video" else audio_mime


def _probe(ctx: Context, src: Path) -> ProbeResult:
    s = ctx.settings
    return probe_media(src, limits=s.media_limits, ffprobe_bin=s.ffprobe_bin)


def _publish(ctx: Context, lesson_id: str, name: str, path: Path, mime: str) -> tuple[str, int, str]:
    stored = ctx.storage.put(keys.lesson_asset(lesson_id, name), path, content_type=mime)
    return stored.key, stored.size_bytes, stored.sha256


def probe_step(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
    """What the lesson is: its kind and duration, the original's type; the pipeline adds the steps that want it."""
    probe = _probe(ctx, io.src)
    mime = silk.MIME_TYPE if io.decoded_from == silk.FORMAT_NAME else original_mime(probe)
    original = AssetFacts(key=lesson.original_key, mime_type=mime, size_bytes=lesson.original_size_bytes,
                          sha256=lesson.original_sha256, duration_s=probe.duration_s)
    return StepOutcome(assets=[(AssetKind.ORIGINAL, "", original)], media_kind=probe.kind,
                       duration_s=probe.duration_s, probe=probe)


def renditions_step(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
    s = ctx.settings
    probe = _probe(ctx, io.src)
    specs = plan_ladder(probe, rungs=s.rungs)
    outputs = encode_ladder(io.src, probe, specs, io.tmp, limits=s.media_limits, on_progress=io.progress,
                            ffmpeg_bin=s.ffmpeg_bin, ffprobe_bin=s.ffprobe_bin, preset=s.x264_preset,
                            large_rung_params=s.x264_large_rung_params)
    outcome = StepOutcome()
    for out in outputs:
        key, size, sha = _publish(ctx, lesson.lesson_id, f"{out.spec.label}.mp4", out.path, "video/mp4")
        outcome.assets.append((AssetKind.RENDITION, out.spec.label, AssetFacts(
            key=key, mime_type="video/mp4", size_bytes=size, sha256=sha, duration_s=out.duration_s,
            width=out.width, height=out.height, bit_rate=out.bit_rate)))
    return outcome


def poster_step(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
    s = ctx.settings
    probe = _probe(ctx, io.src)
    poster = make_poster(io.src, probe, io.tmp / "poster.jpg", limits=s.media_limits, ffmpeg_bin=s.ffmpeg_bin)
    outcome = StepOutcome()
    if poster is not None:
        key, size, sha = _publish(ctx, lesson.lesson_id, "poster.jpg", poster.path, "image/jpeg")
        outcome.assets.append((AssetKind.POSTER, "", AssetFacts(
            key=key, mime_type="image/jpeg", size_bytes=size, sha256=sha, width=poster.width,
            height=poster.height)))
    return outcome


def audio_tags(lesson: LessonInput) -> dict[str, str]:
    """ID3 tags in Chinese, for small MP3 players that show title and speaker."""
    tags = {"title": lesson.title, "comment": "微课 · 党课随身听", "genre": "Speech"}
    if lesson.speaker:
        tags["artist"] = lesson.speaker
    if lesson.branch:
        tags["album"] = lesson.branch
    if lesson.recorded_on:
        tags["date"] = lesson.recorded_on
    return tags


def audio_edition_step(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
    s = ctx.settings
    probe = _probe(ctx, io.src)
    out = encode_audio_edition(io.src, probe, io.tmp / "audio.mp3", tags=audio_tags(lesson),
                               limits=s.media_limits, on_progress=io.progress, ffmpeg_bin=s.ffmpeg_bin)
    key, size, sha = _publish(ctx, lesson.lesson_id, "audio.mp3", out.path, "audio/mpeg")
    return StepOutcome(assets=[(AssetKind.AUDIO_EDITION, "", AssetFacts(
        key=key, mime_type="audio/mpeg", size_bytes=size, sha256=sha, duration_s=out.duration_s))])


# By name, for callers that run one step directly (bench/pipeline.py, tests); the pipeline's registry is STEPS in
# workers/pipeline.py.
STEP_FUNCTIONS = {
    "probe": probe_step,
    "renditions": renditions_step,
    "poster": poster_step,
    "audio_edition": audio_edition_step,
}
