"""Thin Celery task for the captions step (queue `media`): subtitle files, muxed renditions, open captions."""

from __future__ import annotations

from celery import Task

from ingest.errors import StorageUnavailable
from workers import wiring
from workers.app import app
from workers.asr_steps import STEP_FUNCTIONS
from workers.pipeline import execute_step

_RETRY = {"autoretry_for": (StorageUnavailable,), "retry_backoff": True, "retry_backoff_max": 300,
          "max_retries": 8, "retry_jitter": True}


@app.task(name="media.captions", bind=True, **_RETRY)
def captions(self: Task, lesson_id: str) -> None:
    execute_step(wiring.context(), lesson_id, "captions", STEP_FUNCTIONS["captions"])
