"""Backfills: a step added to the pipeline after lessons were processed, run for those lessons.

`weike hls backfill` and `weike similar backfill` ask, for every ready lesson the step would have run for and
that lacks its output, for that step, through the same job rules as a new lesson's (catalog/jobs.py
`restart_jobs`: a request for a step already waiting or running coalesces with it), so running a backfill twice,
or beside a worker, runs the step once per lesson.

A backfillable step is one row of BACKFILLS: which lessons want it and whether a lesson has its output, both as
conditions on a `Lesson` row read from what is stored. Probe's answer is not stored; the assets it led to stand
for it (renditions for a picture, an audio edition for sound: workers/pipeline.py STEPS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, select

from catalog.db import unit_of_work
from catalog.models import Asset, AssetKind, Lesson, LessonFingerprint, LessonStatus
from catalog.similar_index import TRANSCRIPT_KEYS_FORMAT
from workers.pipeline import request_steps
from workers.wiring import Context


@dataclass(frozen=True)
class Backfill:
    step: str
    wanted: ColumnElement[bool]  # the step runs for this lesson (as its `wanted` decides from probe's result)
    done: ColumnElement[bool]  # the lesson has the step's output


def _has_asset(kind: AssetKind) -> ColumnElement[bool]:
    return select(Asset.id).where(col(Asset.lesson_id) == col(Lesson.id), col(Asset.kind) == kind).exists()


_HAS_CURRENT_FINGERPRINT = select(LessonFingerprint.id).where(
    col(LessonFingerprint.lesson_id) == col(Lesson.id),
    col(LessonFingerprint.transcript_keys_format) == TRANSCRIPT_KEYS_FORMAT).exists()

BACKFILLS: dict[str, Backfill] = {
    b.step: b
    for b in (
        # a video (renditions), as `_video` wants; done once its HLS presentation is recorded
        Backfill("hls", wanted=_has_asset(AssetKind.RENDITION), done=_has_asset(AssetKind.HLS)),
        # a picture or sound (renditions or an audio edition), as `wants_similarity` wants; done once the step
        # stored its fingerprint row (it always does, even with no signal: catalog/similar_index.py `index_lesson`)
        # with the transcript keys this code makes (a row indexed by an older format is indexed again)
        Backfill("similarity", wanted=or_(_has_asset(AssetKind.RENDITION), _has_asset(AssetKind.AUDIO_EDITION)),
                 done=_HAS_CURRENT_FINGERPRINT),
    )
}


def lessons_lacking(ctx: Context, step: str) -> list[str]:
    """Ready lessons that want `step` and lack its output, oldest first."""
    backfill = BACKFILLS[step]
    with unit_of_work(ctx.engine) as session:
        return list(session.exec(
            select(Lesson.id).where(col(Lesson.status) == LessonStatus.READY, backfill.wanted, ~backfill.done)
            .order_by(col(Lesson.created_at), col(Lesson.id))
        ).all())  # fmt: skip


def request_step(ctx: Context, step: str, lesson_id: str) -> None:
    """Ask for the lesson's `step` (enqueued now, or when the steps it waits for finish)."""
    request_steps(ctx, lesson_id, [step])


def lessons_done(ctx: Context, step: str, lesson_ids: Sequence[str]) -> set[str]:
    """Which of these lessons have `step`'s output now."""
    if not lesson_ids:
        return set()
    with unit_of_work(ctx.engine) as session:
        return set(session.exec(select(Lesson.id).where(col(Lesson.id).in_(list(lesson_ids)),
                                                        BACKFILLS[step].done)).all())
