"""From settings to a recogniser: engine options, model preparation on first use, versioned caption keys."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from catalog.models import AssetKind
from ingest.keys import validate_key
from tests.support.services import missing
from tests.support.speech import asr_packages_missing
from transcode.model_store import model_paths
from workers.asr_models import (
    asr_config,
    compute_type,
    install_default_models,
    model_label,
    prepare_process_environment,
)
from workers.caption_files import muxed_rendition_key, open_captions_key, plain_rendition_key, text_file_key
from workers.settings import Settings


def test_openai_engine_runs_float32_and_a_given_model_is_used_as_it_is(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, asr_engine="openai-whisper", asr_model="/models/base.pt", asr_threads=3,
                        asr_initial_prompt="  ")
    config = asr_config(settings)
    assert (config.engine, config.compute_type, config.model, config.cpu_threads) == (
        "openai-whisper", "float32", "/models/base.pt", 3)
    assert config.initial_prompt is None and config.temperature == 0 and config.beam_size == 1
    assert model_label(settings) == "/models/base.pt"
    assert compute_type(Settings(data_dir=tmp_path)) == "int8"


def test_float32_on_the_cpu_asks_ctranslate2_for_mkl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CT2_USE_MKL", raising=False)
    prepare_process_environment(Settings(data_dir=tmp_path))
    assert "CT2_USE_MKL" not in os.environ
    prepare_process_environment(Settings(data_dir=tmp_path, asr_compute_type="float32"))
    assert os.environ["CT2_USE_MKL"] == "1"


def test_the_default_engine_prepares_only_its_own_model_on_first_use(tmp_path: Path) -> None:
    absent = asr_packages_missing()
    if absent:
        missing(absent)
    settings = Settings(data_dir=tmp_path / "var", models_dir=tmp_path / "models")
    started = time.monotonic()
    config = asr_config(settings)  # what the transcribe step does first
    elapsed = time.monotonic() - started
    paths = model_paths(tmp_path / "models")
    assert config.model == str(paths.ct2_dir) and (paths.ct2_dir / "model.bin").is_file()
    assert not paths.openai_checkpoint.exists()  # no torch conversion for a faster-whisper worker
    assert elapsed < 30, elapsed
    assert install_default_models(settings).ct2_dir == paths.ct2_dir  # a second call finds it


def test_caption_keys_carry_the_version() -> None:
    lesson = "0123456789abcdef0123456789abcdef"
    made = [text_file_key(lesson, kind, 3) for kind in (AssetKind.SUBTITLES_VTT, AssetKind.SUBTITLES_SRT,
                                                         AssetKind.TRANSCRIPT)]
    made += [muxed_rendition_key(lesson, "720p", 3), open_captions_key(lesson, 3), plain_rendition_key(lesson, "720p")]
    assert [k.rsplit("/", 1)[1] for k in made] == [
        "subtitles-v3.vtt", "subtitles-v3.srt", "transcript-v3.json", "720p-cc3.mp4", "open-captions-v3.mp4", "720p.mp4"]
    assert all(validate_key(k) == k for k in made)
