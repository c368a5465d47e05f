"""Periodic upkeep, run by Celery beat: re-enqueue work whose worker died."""

from __future__ import annotations

import logging

from catalog import jobs
from catalog.db import unit_of_work
from workers import wiring
from workers.app import app
from workers.pipeline import NEEDS, OPTIONAL_STEPS, WEIGHTS, enqueue

log = logging.getLogger(__name__)


@app.task(name="maintenance.sweep")
def sweep() -> int:
    ctx = wiring.context()
    s = ctx.settings
    with unit_of_work(ctx.engine) as session:
        result = jobs.sweep(session, max_attempts=s.job_max_attempts, stale_pending_s=s.job_stale_pending_s,
                            weights=WEIGHTS, optional=OPTIONAL_STEPS, dependencies=NEEDS)
    refs, failed = result.requeue, result.failed_lessons
    if refs:
        log.warning("re-enqueueing %d steps whose worker stopped: %s", len(refs),
                    ", ".join(f"{r.lesson_id}/{r.step}" for r in refs))
    if failed:
        log.warning("gave up on lessons whose steps kept killing workers: %s", ", ".join(sorted(failed)))
    enqueue(s, refs)
    return len(refs)
