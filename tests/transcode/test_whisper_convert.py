"""The CTranslate2 -> openai-whisper converter and the offline model store."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.services import missing
from tests.support.speech import asr_packages_missing
from transcode.model_store import ModelPaths, find_part_files, install_models, models_installed
from transcode.whisper_convert import ModelConversionFailed, openai_state_dict, read_ct2_model, whisper_dims

BASE_DIMS = {
    "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 512, "n_audio_head": 8, "n_audio_layer": 6,
    "n_vocab": 51865, "n_text_ctx": 448, "n_text_state": 512, "n_text_head": 8, "n_text_layer": 6,
}  # fmt: skip


def test_ct2_model_is_read_and_its_dimensions_are_whisper_base(whisper_models: ModelPaths) -> None:
    model = read_ct2_model(whisper_models.ct2_dir / "model.bin")
    assert model.name == "WhisperSpec"
    assert whisper_dims(model) == BASE_DIMS
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}


def test_unfused_weights_fuse_back_to_the_original(whisper_models: ModelPaths) -> None:
    """Round trip: splitting q/k/v and cross k/v, then joining them again (zero key bias) gives CTranslate2's bytes."""
    model = read_ct2_model(whisper_models.ct2_dir / "model.bin")
    state = openai_state_dict(model)
    v = model.variables
    for i in range(6):
        for side, names in (("encoder", ("query", "key", "value")), ("decoder", ("query", "key", "value"))):
            attn = f"{side}.blocks.{i}.attn"
            fused = np.concatenate([state[f"{attn}.{n}.weight"] for n in names])
            np.testing.assert_array_equal(fused, v[f"{side}/layer_{i}/self_attention/linear_0/weight"])
            bias = np.concatenate(
                [state[f"{attn}.query.bias"], np.zeros(512, np.float16), state[f"{attn}.value.bias"]]
            )
            np.testing.assert_array_equal(bias, v[f"{side}/layer_{i}/self_attention/linear_0/bias"])
            assert f"{attn}.key.bias" not in state
        cross = f"decoder.blocks.{i}.cross_attn"
        fused = np.concatenate([state[f"{cross}.key.weight"], state[f"{cross}.value.weight"]])
        np.testing.assert_array_equal(fused, v[f"decoder/layer_{i}/attention/linear_1/weight"])


def test_checkpoint_has_exactly_the_parameters_openai_whisper_expects(whisper_models: ModelPaths) -> None:
    import torch
    import whisper

    checkpoint = torch.load(whisper_models.openai_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["dims"] == BASE_DIMS
    expected = whisper.model.Whisper(whisper.model.ModelDimensions(**BASE_DIMS)).state_dict()
    assert {k: tuple(t.shape) for k, t in checkpoint["model_state_dict"].items()} == {
        k: tuple(t.shape) for k, t in expected.items()
    }


def test_both_engines_hear_the_same_language(whisper_models: ModelPaths, mandarin_wav: Path) -> None:
    """The converted model and the original agree on the language probabilities (same weights, other arithmetic)."""
    from transcode.asr import AsrConfig, decode_audio
    from transcode.asr_engines import load_engine

    raw = decode_audio(mandarin_wav, mandarin_wav.with_suffix(".s16le"), timeout_s=60, max_duration_s=60)
    samples = np.fromfile(raw, dtype="<i2").astype(np.float32) / 32768
    ct2 = load_engine(AsrConfig(model=str(whisper_models.ct2_dir)))
    torch_engine = load_engine(
        AsrConfig(
            model=str(whisper_models.openai_checkpoint), engine="openai-whisper", compute_type="float32"
        )
    )
    (lang_a, p_a), (lang_b, p_b) = ct2.detect_language(samples), torch_engine.detect_language(samples)
    assert lang_a == lang_b == "zh"
    assert abs(p_a - p_b) < 0.05
    assert not ct2.supports_language("yue") and not torch_engine.supports_language("yue")
    assert ct2.supports_language("zh") and torch_engine.supports_language("zh")


def test_a_truncated_model_file_is_refused(whisper_models: ModelPaths, tmp_path: Path) -> None:
    broken = tmp_path / "model.bin"
    with open(whisper_models.ct2_dir / "model.bin", "rb") as f:
        broken.write_bytes(f.read(100_000))
    with pytest.raises(ModelConversionFailed):
        read_ct2_model(broken)


def test_installing_again_is_instant_and_leaves_no_temporary_files(whisper_models: ModelPaths) -> None:
    cache = whisper_models.ct2_dir.parent
    started = time.monotonic()
    assert install_models(cache) == whisper_models
    assert time.monotonic() - started < 1.0
    assert models_installed(cache)
    assert not [p.name for p in cache.iterdir() if p.name.startswith(".")]
    assert sorted(p.name for p in whisper_models.ct2_dir.iterdir()) == [
        "SOURCE", "config.json", "model.bin", "tokenizer.json", "vocabulary.txt",
    ]  # fmt: skip


def test_a_fresh_install_builds_both_models(tmp_path: Path) -> None:
    absent = asr_packages_missing()
    if absent:
        missing(absent)
    parts, _ = find_part_files()
    paths = install_models(tmp_path / "cache")
    assert (paths.ct2_dir / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
    assert paths.openai_checkpoint.stat().st_size > 140_000_000
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["whisper-base-ct2", "whisper-base.pt"]
