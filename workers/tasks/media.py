"""Thin Celery tasks for the media steps: pass the lesson id, let the pipeline do the rest."""

from __future__ import annotations

from celery import Task

from ingest.errors import StorageUnavailable
from workers import wiring
from workers.app import app
from workers.pipeline import execute_step
from workers.steps import STEP_FUNCTIONS

_RETRY = {"autoretry_for": (StorageUnavailable,), "retry_backoff": True, "retry_backoff_max": 300,
          "max_retries": 8, "retry_jitter": True}


def _run(step: str, lesson_id: str) -> None:
    execute_step(wiring.context(), lesson_id, step, STEP_FUNCTIONS[step])


@app.task(name="media.probe", bind=True, **_RETRY)
def probe(self: Task, lesson_id: str) -> None:
    _run("probe", lesson_id)


@app.task(name="media.renditions", bind=True, **_RETRY)
def renditions(self: Task, lesson_id: str) -> None:
    _run("renditions", lesson_id)


@app.task(name="media.poster", bind=True, **_RETRY)
def poster(self: Task, lesson_id: str) -> None:
    _run("poster", lesson_id)


@app.task(name="media.audio_edition", bind=True, **_RETRY)
def audio_edition(self: Task, lesson_id: str) -> None:
    _run("audio_edition", lesson_id)
