"""A reviewer's corrected captions: checked, stored as the next version, and every derived file made again.

The API calls `save_edited_captions`; the `captions` step (workers/asr_steps.py) then writes the new version's
WebVTT, SRT and transcript, muxes it into the renditions and burns the open-caption edition, under keys carrying
the version number. Every edit is kept as its own version, but edits never pile up work: one arriving while the
step waits is picked up by that run, and any number arriving while it runs make one more run, of the latest
version, once the current one has finished (catalog/jobs.py `restart_jobs`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from catalog import captions as catalog_captions
from catalog import jobs
from catalog.audit import record
from catalog.captions import SegmentFacts
from catalog.db import unit_of_work
from catalog.errors import (
    CaptionsNotEditable,
    CaptionVersionConflict,
    Forbidden,
    LessonNotFound,
    TranscriptNotFound,
)
from catalog.lessons import lesson_facts
from catalog.lifecycle import Viewer, may_edit_captions
from catalog.models import CaptionSource, CaptionVersion, Lesson, LessonStatus
from transcode.captions import parse_edited_segments
from workers.pipeline import DEPENDENCIES, OPTIONAL_STEPS, STEPS, WEIGHTS, enqueue
from workers.wiring import Context

REGENERATED_STEPS = ("captions",)
NOT_YOURS_TO_EDIT = "没有权限修改这节课的字幕（已发布的课程请联系县里审核员修改）"


def regenerated_steps(existing: Collection[str]) -> list[str]:
    """What a caption edit runs again: `captions`, and every step after it that the lesson has (hls, which carries
    the subtitles), as workers/pipeline.py's registry orders them."""
    later = jobs.steps_after("captions", DEPENDENCIES)
    return [*REGENERATED_STEPS, *(s for s in STEPS if s in later and s in existing)]


def save_edited_captions(
    ctx: Context,
    lesson_id: str,
    *,
    segments: Sequence[Mapping[str, Any]],
    author: str,
    note: str | None = None,
    base_version: int | None = None,
    editor: Viewer | None = None,
) -> CaptionVersion:
    """Store `segments` (start_s, end_s, text) as the lesson's next caption version and have it regenerated
    (enqueued now, or after the captions run in progress).

    Raises LessonNotFound, TranscriptNotFound (still processing, nothing recognised yet), CaptionsNotEditable (the
    lesson failed), CaptionVersionConflict (`base_version` is not the current version, or another edit won),
    CaptionsInvalid (overlaps, times outside the lesson, empty text); Forbidden when `editor` may not edit them,
    decided in the transaction that stores the edit, the lesson's row locked (PostgreSQL) and read again after the
    write (SQLite), so an edit racing the approval cannot land in the published lesson.
    """
    try:
        with unit_of_work(ctx.engine) as session:
            lesson = session.get(Lesson, lesson_id, with_for_update=True)
            if lesson is None:
                raise LessonNotFound(lesson_id)
            _check_editor(session, lesson, editor)
            if lesson.status == LessonStatus.FAILED:
                raise CaptionsNotEditable(f"lesson {lesson_id} failed")
            current = catalog_captions.current_version(session, lesson_id)
            if lesson.duration_s is None or (current is None and lesson.status != LessonStatus.READY):
                # Still being processed: speech recognition may yet make version 1.
                raise TranscriptNotFound(f"lesson {lesson_id} has no caption version yet")
            # With none recognised (no model, recognition failed or switched off, a dialect Whisper cannot read),
            # a reviewer may type the captions from scratch: they become version 1.
            current_number = current.version if current is not None else None
            if base_version is not None and base_version != current_number:
                raise CaptionVersionConflict(f"edit of version {base_version}, current is {current_number}")
            edited = parse_edited_segments(segments, duration_s=lesson.duration_s)
            version = catalog_captions.create_version(
                session, lesson_id, source=CaptionSource.EDITED, author=" ".join(author.split())[:100],
                note=(note or "").strip() or None, language=current.language if current else lesson.language,
                segments=[SegmentFacts(start_s=s.start_s, end_s=s.end_s, text=s.text) for s in edited],
            )  # fmt: skip
            session.refresh(lesson)  # the write holds SQLite's lock: a decision committed before it shows now
            _check_editor(session, lesson, editor)
            record(session, actor=author, action="captions_edited", lesson_id=lesson_id,
                   to_state=f"v{version.version}", comment=(note or "").strip() or None)
            existing = {job.step for job in jobs.list_jobs(session, lesson_id)}
            refs = jobs.restart_jobs(session, lesson_id, {s: STEPS[s].queue for s in regenerated_steps(existing)},
                                     DEPENDENCIES)
            jobs.refresh_lesson(session, lesson_id, WEIGHTS, OPTIONAL_STEPS)
    except IntegrityError as exc:  # two edits took the same version number: the later one must look again
        raise CaptionVersionConflict(f"concurrent edit of {lesson_id}") from exc
    enqueue(ctx.settings, refs)
    return version


def _check_editor(session: Session, lesson: Lesson, editor: Viewer | None) -> None:
    if editor is not None and not may_edit_captions(editor, lesson_facts(session, lesson)):
        raise Forbidden(f"{editor.username} may not edit captions of {lesson.id}", message=NOT_YOURS_TO_EDIT)
