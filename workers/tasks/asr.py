"""Thin Celery task for speech recognition (queue `asr`, its own worker in production).

The Whisper model is loaded on a process's first transcription and kept for the life of the process
(transcode.asr_engines caches it), never per task.
"""

from __future__ import annotations

from celery import Task

from ingest.errors import StorageUnavailable
from workers import wiring
from workers.app import app
from workers.asr_models import prepare_process_environment
from workers.asr_steps import STEP_FUNCTIONS
from workers.pipeline import execute_step

_RETRY = {"autoretry_for": (StorageUnavailable,), "retry_backoff": True, "retry_backoff_max": 300,
          "max_retries": 8, "retry_jitter": True}

# Before CTranslate2 is first imported (float32 on the CPU needs MKL).
prepare_process_environment(wiring.settings())


@app.task(name="asr.transcribe", bind=True, **_RETRY)
def transcribe(self: Task, lesson_id: str) -> None:
    execute_step(wiring.context(), lesson_id, "transcribe", STEP_FUNCTIONS["transcribe"])
