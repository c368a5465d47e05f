"""The step tasks: one per queue (`media.step`, `asr.step`), running whichever registered step its message names.

Adding a step needs no task here: workers/pipeline.py's registry says which queue it runs on. The names used when
each step had its own task (`media.probe`, `asr.transcribe`, ...) stay registered, so messages already queued under
them still run.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from ingest.errors import StorageUnavailable
from workers import wiring
from workers.app import app
from workers.pipeline import QUEUES, STEPS, execute_step, step_task_name

_RETRY: dict[str, Any] = {"autoretry_for": (StorageUnavailable,), "retry_backoff": True, "retry_backoff_max": 300,
                          "max_retries": 8, "retry_jitter": True}


def run_step(self: Task, lesson_id: str, step: str) -> None:
    execute_step(wiring.context(), lesson_id, step)


def _named_step(step: str) -> Any:
    def run_named_step(self: Task, lesson_id: str) -> None:
        execute_step(wiring.context(), lesson_id, step)

    return run_named_step


STEP_TASKS = {queue: app.task(name=step_task_name(queue), bind=True, **_RETRY)(run_step) for queue in QUEUES}
LEGACY_TASKS = {name: app.task(name=f"{spec.queue}.{name}", bind=True, **_RETRY)(_named_step(name))
                for name, spec in STEPS.items()}
