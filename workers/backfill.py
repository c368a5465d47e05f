"""Backfills: a step added to the pipeline after lessons were processed, run for those lessons.

`weike hls backfill` gives every processed lesson with renditions but no HLS presentation its `hls` step, through
the same job rules as a new lesson's (catalog/jobs.py `restart_jobs`: a request for a step already waiting or
running coalesces with it), so running the backfill twice, or beside a worker, makes each presentation once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.sql.expression import Exists
from sqlmodel import col, select

from catalog.db import unit_of_work
from catalog.models import Asset, AssetKind, Lesson, LessonStatus
from workers.pipeline import request_steps
from workers.wiring import Context

HLS_STEP = "hls"


def lessons_without_hls(ctx: Context) -> list[str]:
    """Ready lessons that have MP4 renditions and no HLS presentation, oldest first."""
    def having(kind: AssetKind) -> Exists:
        return select(Asset.id).where(col(Asset.lesson_id) == col(Lesson.id), col(Asset.kind) == kind).exists()

    with unit_of_work(ctx.engine) as session:
        return list(session.exec(
            select(Lesson.id).where(col(Lesson.status) == LessonStatus.READY, having(AssetKind.RENDITION),
                                    ~having(AssetKind.HLS)).order_by(col(Lesson.created_at), col(Lesson.id))
        ).all())  # fmt: skip


def request_hls(ctx: Context, lesson_id: str) -> None:
    """Ask for the lesson's `hls` step (enqueued now, or when the steps it waits for finish)."""
    request_steps(ctx, lesson_id, [HLS_STEP])


def lessons_with_hls(ctx: Context, lesson_ids: Sequence[str]) -> set[str]:
    """Which of these lessons have their HLS presentation now."""
    if not lesson_ids:
        return set()
    with unit_of_work(ctx.engine) as session:
        return set(session.exec(select(Asset.lesson_id).where(col(Asset.lesson_id).in_(list(lesson_ids)),
                                                              col(Asset.kind) == AssetKind.HLS)).all())
