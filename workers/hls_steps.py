"""The `hls` step: adaptive playback made from the lesson's MP4 renditions by stream copy (transcode/hls.py), with
its current WebVTT subtitles as a subtitle rendition.

Every file of a presentation lives under one prefix per revision (ingest/keys.py `presentation_file`):

    lessons/<id>/hls-r<revision>/360p-init.mp4 360p-00000.m4s … 360p.m3u8   a rung: segments first, its playlist last
                                 720p-init.mp4 …                 720p.m3u8
                                 variants.json                              every rung is stored (what the master says)
                                 subtitles-<sha>.vtt subtitles-<sha>.m3u8   the captions published now
                                 master-<sha>.m3u8 (master.m3u8 without captions), written last

The asset (kind `hls`) points at the master and is recorded with the step's outcome, after every file the master
names is stored, so nobody is ever handed a half-written presentation. Running the step again (a redelivery, a
caption edit: workers/caption_edits.py runs every step after `captions` again) finds variants.json and packages
nothing: it writes the subtitle files of the captions published now and a master naming them, and the asset row
moves to that master in one update. Files of earlier caption versions stay (a few kilobytes each), so a viewer in
the middle of the lesson keeps playing. The renditions read are the plain ones (`<label>.mp4`, no subtitle track).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from catalog.assets import AssetFacts
from catalog.models import AssetKind
from ingest import keys
from ingest.errors import ObjectMissing
from transcode.hls import (
    PLAYLIST_MIME,
    SEGMENT_MIME,
    SUBTITLES_MIME,
    HlsVariant,
    SubtitleRendition,
    master_playlist,
    package_rendition,
    subtitle_playlist,
    webvtt_for_hls,
)
from workers.caption_files import plain_rendition_key
from workers.step_io import LessonInput, StepIO, StepOutcome
from workers.wiring import Context

VARIANTS_NAME = "variants.json"


def presentation_folder(revision: int) -> str:
    return f"hls-r{revision}"


def _mime(name: str) -> str:
    if name.endswith(".m3u8"):
        return PLAYLIST_MIME
    return SUBTITLES_MIME if name.endswith(".vtt") else SEGMENT_MIME


def _stored_variants(ctx: Context, key: str, labels: list[str]) -> list[HlsVariant] | None:
    """The rungs a previous run stored completely, if they are the rungs the lesson has now."""
    try:
        with ctx.storage.open(key) as f:
            data = json.loads(f.read().decode("utf-8"))
    except ObjectMissing:
        return None
    variants = [HlsVariant(**{**item, "files": tuple(item["files"])}) for item in data["variants"]]
    return variants if sorted(v.name for v in variants) == sorted(labels) else None


def _package(ctx: Context, lesson: LessonInput, io: StepIO, folder: str, labels: list[str]) -> list[HlsVariant]:
    s = ctx.settings
    variants = []
    for i, label in enumerate(labels):
        out = io.tmp / label
        with ctx.storage.local_copy(plain_rendition_key(lesson.lesson_id, label)) as mp4:
            variant = package_rendition(mp4, out, name=label, limits=s.media_limits, ffmpeg_bin=s.ffmpeg_bin,
                                        ffprobe_bin=s.ffprobe_bin)
        for name in variant.files:  # the media playlist comes last: a rung is listed only once it is whole
            ctx.storage.put(keys.presentation_file(lesson.lesson_id, folder, name), out / name,
                            content_type=_mime(name))
        shutil.rmtree(out, ignore_errors=True)
        variants.append(variant)
        io.progress(0.9 * (i + 1) / len(labels))
    document = json.dumps({"variants": [asdict(v) for v in variants]}, ensure_ascii=False, indent=1)
    (io.tmp / VARIANTS_NAME).write_text(document, encoding="utf-8")
    ctx.storage.put(keys.presentation_file(lesson.lesson_id, folder, VARIANTS_NAME), io.tmp / VARIANTS_NAME,
                    content_type="application/json")
    return variants


def _subtitles(ctx: Context, lesson: LessonInput, io: StepIO, folder: str,
               duration_s: float) -> SubtitleRendition | None:
    """The published WebVTT as a subtitle rendition, under names carrying its digest; None without captions."""
    vtt = next(iter(lesson.assets_of(AssetKind.SUBTITLES_VTT)), None)
    if vtt is None:
        return None
    tag = vtt.facts.sha256[:12]
    with ctx.storage.open(vtt.facts.key) as f:
        text = webvtt_for_hls(f.read().decode("utf-8"))
    vtt_name, playlist_name = f"subtitles-{tag}.vtt", f"subtitles-{tag}.m3u8"
    (io.tmp / vtt_name).write_text(text, encoding="utf-8")
    (io.tmp / playlist_name).write_text(subtitle_playlist(vtt_name, duration_s=duration_s), encoding="utf-8")
    for name in (vtt_name, playlist_name):
        ctx.storage.put(keys.presentation_file(lesson.lesson_id, folder, name), io.tmp / name,
                        content_type=_mime(name))
    return SubtitleRendition(playlist_name)


def hls_step(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
    renditions = lesson.assets_of(AssetKind.RENDITION)
    if not renditions:
        return StepOutcome()  # nothing to adapt between (the renditions step made none)
    folder = presentation_folder(lesson.revision)
    labels = [r.label for r in sorted(renditions, key=lambda r: r.facts.height or 0)]
    variants = _stored_variants(ctx, keys.presentation_file(lesson.lesson_id, folder, VARIANTS_NAME), labels)
    if variants is None:
        variants = _package(ctx, lesson, io, folder, labels)
    top = max(variants, key=lambda v: v.height)
    subtitles = _subtitles(ctx, lesson, io, folder, top.duration_s)
    master_name = "master.m3u8" if subtitles is None else subtitles.playlist.replace("subtitles-", "master-")
    master: Path = io.tmp / master_name
    master.write_text(master_playlist(variants, subtitles=subtitles), encoding="utf-8")
    stored = ctx.storage.put(keys.presentation_file(lesson.lesson_id, folder, master_name), master,
                             content_type=PLAYLIST_MIME)
    io.progress(1.0)
    return StepOutcome(assets=[(AssetKind.HLS, "", AssetFacts(
        key=stored.key, mime_type=PLAYLIST_MIME, size_bytes=stored.size_bytes, sha256=stored.sha256,
        duration_s=top.duration_s, width=top.width, height=top.height, bit_rate=top.bandwidth))])
