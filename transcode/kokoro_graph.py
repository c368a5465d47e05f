"""Kokoro-82M with its token durations as a second output, so one run can say several clips and be cut apart.

    with_durations(paths.model, paths.timed_model)   # at install time (transcode/model_store.py)
    cuts = split_by_durations(len(audio), durations, [1 + len(first_clip_ids)])

The int8 ONNX graph computes how many 25 ms frames (600 samples at 24 kHz) each input token lasts (Round, Clip,
Cast, then the alignment), but only returns the audio. The rewrite adds that tensor as the output `durations` and
changes nothing else: the same weights, the same samples. A spoken intro is two clips ("第三课。" and
"标题。主讲人：…"); said in one run they cost about a fifth less than in two, since every run adds about a second of
padding and final pause to what is said (README, bench/tts_voices.py), and the cut falls where the lesson's first
token starts, in the pause after "第三课。".

Other ways to make intros cheaper were measured and dropped (README): OpenVINO on the graph with its convolutions
dequantized ran a third faster in bfloat16 but Whisper's character error rate on 50 intros rose from 0.20 to 0.38,
and in float32 it was slower than ONNX Runtime's int8 convolutions.

A graph without the expected duration head raises KokoroGraphUnexpected (install then keeps the plain model, and
intros are said clip by clip). `onnx` is imported inside functions: only the install step needs it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

DURATIONS_OUTPUT = "durations"
SAMPLES_PER_FRAME = 600  # 24 kHz / 40 frames a second


class KokoroGraphUnexpected(Exception):
    """The ONNX graph is not the Kokoro graph this module knows how to extend."""


def with_durations(model_path: Path, dest: Path) -> Path:
    """Save `model_path` with the `durations` output at `dest`, atomically (written beside it, then renamed), with
    the same permissions: a worker running as another user than the installer reads both."""
    import onnx

    model = onnx.load(str(model_path))
    expose_durations(model.graph)
    with tempfile.NamedTemporaryFile(prefix=f".{dest.name}.", dir=dest.parent, delete=False) as tmp:
        staged = Path(tmp.name)
    try:
        onnx.save(model, str(staged))
        shutil.copymode(model_path, staged)  # readable as the plain model is (mkstemp makes it 0600)
        os.replace(staged, dest)
    finally:
        staged.unlink(missing_ok=True)
    return dest


def expose_durations(graph: Any) -> None:
    """Add the `durations` output: the frames per token, as the graph rounds, clips and casts them to integers."""
    from onnx import TensorProto, helper

    if any(out.name == DURATIONS_OUTPUT for out in graph.output):
        raise KokoroGraphUnexpected("the graph already has a durations output")
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in graph.node:
        if node.op_type != "Round":
            continue
        clip = _only(consumers.get(node.output[0], []), "Clip")
        cast = _only(consumers.get(clip.output[0], []), "Cast") if clip is not None else None
        if cast is not None:
            graph.node.append(helper.make_node("Identity", [cast.output[0]], [DURATIONS_OUTPUT],
                                               name="durations_output"))  # fmt: skip
            graph.output.append(helper.make_tensor_value_info(DURATIONS_OUTPUT, TensorProto.INT64, [1, None]))
            return
    raise KokoroGraphUnexpected("the token durations (Round, Clip, Cast) were not found")


def _only(nodes: list[Any], op_type: str) -> Any:
    return nodes[0] if len(nodes) == 1 and nodes[0].op_type == op_type else None


def split_by_durations(samples_count: int, durations: npt.NDArray[Any], boundaries: list[int]) -> list[int]:
    """Sample offsets where the tokens at `boundaries` (indexes into the padded token list) start."""
    import numpy as np

    frames = np.cumsum(np.asarray(durations, dtype=np.int64).ravel())
    if frames.size == 0 or int(frames[-1]) * SAMPLES_PER_FRAME != samples_count:
        raise KokoroGraphUnexpected(f"{samples_count} samples for {int(frames[-1]) if frames.size else 0} frames")
    if any(not 0 < b < frames.size for b in boundaries):
        raise KokoroGraphUnexpected(f"boundaries {boundaries} outside {frames.size} tokens")
    return [int(frames[b - 1]) * SAMPLES_PER_FRAME for b in boundaries]
