"""The speech-recognition worker's process (queue `asr`, its own worker in production).

Its step runs through the generic `asr.step` task (workers/tasks/media.py). The Whisper model is loaded on a
process's first transcription and kept for the life of the process (transcode.asr_engines caches it), never per task.
"""

from __future__ import annotations

from workers import wiring
from workers.asr_models import prepare_process_environment

# Before CTranslate2 is first imported (float32 on the CPU needs MKL).
prepare_process_environment(wiring.settings())
