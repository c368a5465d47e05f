"""The `similarity` step: a lesson's copy-detection signals, and its matches against every other lesson.

    renditions, audio_edition, captions, hls ──> similarity: frames of the smallest rendition
        (transcode/fingerprints.py), the audio edition's Chromaprint, the published captions' shingles; stored,
        indexed and matched (catalog/similar_index.py)

It comes last and needs none of the steps before it: it compares whatever signals the lesson has (no captions when
speech recognition is off or failed, no footage for an audio lesson).

The footage and the sound are computed once per revision, the transcript once per published caption version: a
caption edit runs `captions` and every step after it again (workers/caption_edits.py), and this step then finds its
footage and sound stored for this revision and only reads the new captions, then refreshes the lesson's matches
both ways. A redelivered run finds everything stored and rewrites the same matches. The catalog writes happen in a
transaction that first renews the job's lease (workers/asr_steps.py `holding_lease`), so a run that lost its job
writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from catalog import captions as catalog_captions
from catalog.db import unit_of_work
from catalog.lessons import get_lesson
from catalog.models import AssetKind
from catalog.similar_index import TRANSCRIPT_KEYS_FORMAT, get_fingerprint, index_lesson
from catalog.similarity import (
    FootagePrint,
    LessonPrints,
    SoundPrint,
    TimedText,
    TranscriptPrint,
    transcript_print,
)
from transcode.asr_text import to_simplified
from transcode.fingerprints import FrameHash, frame_interval_s, sample_frames, sound_print
from transcode.probe import ProbeResult
from workers.asr_steps import LeaseKeeper, holding_lease
from workers.caption_files import plain_rendition_key
from workers.settings import Settings
from workers.step_io import LessonInput, StepIO, StepOutcome
from workers.wiring import Context

log = logging.getLogger(__name__)

MIN_SOUND_S = 3.0  # Chromaprint needs a few seconds of sound


def wants_similarity(settings: Settings, probe: ProbeResult) -> bool:
    """Every lesson with a picture or sound is compared."""
    return probe.video is not None or probe.audio is not None


@dataclass(frozen=True)
class SimilarityState:
    stored_revision: int | None  # of the stored footage and sound (None: nothing stored yet)
    stored_caption_version: int | None
    stored_keys_current: bool  # the stored transcript's index keys are made as this code makes them
    caption_version: int | None  # published now
    segments: tuple[TimedText, ...]


def read_state(ctx: Context, lesson_id: str) -> SimilarityState | None:
    with unit_of_work(ctx.engine) as session:
        lesson = get_lesson(session, lesson_id)
        if lesson is None:
            return None
        stored = get_fingerprint(session, lesson_id)
        version = (catalog_captions.get_version(session, lesson_id, lesson.caption_version)
                   if lesson.caption_version is not None else None)
        segments = catalog_captions.list_segments(session, version.id) if version and version.id else []
        return SimilarityState(
            stored_revision=stored.revision if stored else None,
            stored_caption_version=stored.caption_version if stored else None,
            stored_keys_current=stored is not None and stored.transcript_keys_format == TRANSCRIPT_KEYS_FORMAT,
            caption_version=lesson.caption_version,
            segments=tuple(TimedText(s.start_s, s.end_s, s.text) for s in segments))


def footage_of(ctx: Context, lesson: LessonInput, io: StepIO) -> FootagePrint | None:
    """Frames of the smallest rendition (upright, small, quick to decode); None for a lesson without a picture."""
    renditions = lesson.assets_of(AssetKind.RENDITION)
    if not renditions:
        return None
    smallest = min(renditions, key=lambda r: r.facts.height or 0)
    duration_s = smallest.facts.duration_s or lesson.duration_s or 0.0
    s = ctx.settings
    with ctx.storage.local_copy(plain_rendition_key(lesson.lesson_id, smallest.label)) as src:
        frames = sample_frames(src, io.tmp, duration_s=duration_s, limits=s.media_limits, ffmpeg_bin=s.ffmpeg_bin)
    return footage_print(frames, duration_s=duration_s)


def footage_print(frames: Sequence[FrameHash], *, duration_s: float) -> FootagePrint | None:
    """None for nothing but flat frames (a black screen, a still colour)."""
    if not frames:
        return None
    return FootagePrint(times_s=np.array([f.time_s for f in frames], dtype=np.float32),
                        hashes=np.array([f.dhash for f in frames], dtype=np.uint64),
                        duration_s=duration_s, interval_s=frame_interval_s(duration_s))


def sound_of(ctx: Context, lesson: LessonInput, io: StepIO) -> SoundPrint | None:
    """The audio edition's Chromaprint (the same loudness-levelled mono MP3 for every lesson); None without sound."""
    edition = next(iter(lesson.assets_of(AssetKind.AUDIO_EDITION)), None)
    duration_s = (edition.facts.duration_s or lesson.duration_s or 0.0) if edition else 0.0
    if edition is None or duration_s < MIN_SOUND_S:
        return None
    s = ctx.settings
    with ctx.storage.local_copy(edition.facts.key) as src:
        found = sound_print(src, io.tmp, duration_s=duration_s, limits=s.media_limits, ffmpeg_bin=s.ffmpeg_bin)
    return SoundPrint(items=np.array(found.items, dtype=np.uint32))


def transcript_of(state: SimilarityState) -> TranscriptPrint | None:
    return transcript_print(state.segments, simplify=to_simplified)


def similarity_step(ctx: Context, lesson: LessonInput, io: StepIO) -> StepOutcome:
    state = read_state(ctx, lesson.lesson_id)
    if state is None:
        return StepOutcome()
    changed: list[str] = []
    footage = sound = None
    if state.stored_revision != lesson.revision:
        with LeaseKeeper(io.progress, interval_s=max(2.5, ctx.settings.job_lease_s / 4)) as keeper:
            footage = footage_of(ctx, lesson, io)
            keeper.report(0.6)
            sound = sound_of(ctx, lesson, io)
            keeper.report(0.9)
        changed += ["footage", "sound"]
    if changed or state.stored_caption_version != state.caption_version or not state.stored_keys_current:
        changed.append("transcript")
    prints = LessonPrints(transcript=transcript_of(state), footage=footage, sound=sound)
    with holding_lease(io.progress) as session:
        row = get_lesson(session, lesson.lesson_id)
        if row is None or row.revision != lesson.revision:
            return StepOutcome()  # deleted, or a newer revision came in: its own run indexes it
        found = index_lesson(session, lesson.lesson_id, revision=lesson.revision,
                             caption_version=state.caption_version, prints=prints, changed=changed)
    log.info("%s: %s signals stored; %d similar lessons", lesson.lesson_id, ",".join(changed) or "no",
             len(found))
    return StepOutcome()
