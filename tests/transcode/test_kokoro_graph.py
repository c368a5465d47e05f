"""Kokoro's token durations as a second output: found where the graph rounds, clips and casts them, nothing else
changed. Built on a small graph with Kokoro's duration head and run with ONNX Runtime before and after; the real
model is extended by `make install` and cut in tests/transcode/test_spoken_intros.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from transcode.kokoro_graph import (
    DURATIONS_OUTPUT,
    KokoroGraphUnexpected,
    expose_durations,
    split_by_durations,
    with_durations,
)


def _graph() -> onnx.ModelProto:
    """frames per token (float) → Round → Clip(min 1) → Cast → their sum × 600 zeros as the "audio"."""
    c = helper.make_node
    nodes = [
        c("Round", ["d"], ["d_round"]), c("Clip", ["d_round", "one"], ["d_clip"]),
        c("Cast", ["d_clip"], ["d_int"], to=TensorProto.INT64),
        c("ReduceSum", ["d_int", "axes"], ["frames"], keepdims=0), c("Mul", ["frames", "hop"], ["samples"]),
        c("ConstantOfShape", ["samples"], ["audio"], value=numpy_helper.from_array(np.zeros(1, np.float32))),
    ]  # fmt: skip
    inits = [numpy_helper.from_array(np.float32(1), "one"), numpy_helper.from_array(np.array([1], np.int64), "axes"),
             numpy_helper.from_array(np.array([600], np.int64), "hop")]  # fmt: skip
    graph = helper.make_graph(nodes, "kokoro-like", [helper.make_tensor_value_info("d", TensorProto.FLOAT, [1, 5])],
                              [helper.make_tensor_value_info("audio", TensorProto.FLOAT, None)], inits)  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(path: Path, d: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"d": d}), strict=True))


def test_durations_come_out_beside_the_same_audio(tmp_path: Path) -> None:
    plain = tmp_path / "plain.onnx"
    onnx.save(_graph(), str(plain))
    plain.chmod(0o644)
    timed = with_durations(plain, tmp_path / "timed.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.onnx", "timed.onnx"]  # nothing half-written left
    assert timed.stat().st_mode & 0o777 == 0o644  # other users (the workers) read it as they read the plain model
    d = np.array([[0.2, 3.4, 2.6, 1.0, 7.5]], dtype=np.float32)
    before, after = _run(plain, d), _run(timed, d)
    assert list(before) == ["audio"] and list(after) == ["audio", DURATIONS_OUTPUT]
    assert after[DURATIONS_OUTPUT].tolist() == [[1, 3, 3, 1, 8]]  # rounded half to even, at least one frame
    assert np.array_equal(before["audio"], after["audio"]) and after["audio"].size == 16 * 600
    cuts = split_by_durations(after["audio"].size, after[DURATIONS_OUTPUT], [1, 3])
    assert cuts == [1 * 600, 7 * 600]  # where tokens 1 and 3 start: after 1 frame, after 1 + 3 + 3


def test_a_graph_without_the_duration_head_is_refused(tmp_path: Path) -> None:
    model = _graph()
    for node in model.graph.node:
        if node.op_type == "Clip":
            node.op_type = "Relu"
            del node.input[1:]
    with pytest.raises(KokoroGraphUnexpected):
        expose_durations(model.graph)
    twice = _graph()
    expose_durations(twice.graph)
    with pytest.raises(KokoroGraphUnexpected):
        expose_durations(twice.graph)


def test_cuts_must_fit_the_audio() -> None:
    durations = np.array([17, 2, 3, 1, 4, 9])  # frames of the padded tokens [0, a, b, c, d, 0]
    assert split_by_durations(36 * 600, durations, [1, 3]) == [17 * 600, 22 * 600]
    for samples, boundaries in ((36 * 600 + 1, [1]), (36 * 600, [0]), (36 * 600, [6])):
        with pytest.raises(KokoroGraphUnexpected):
            split_by_durations(samples, durations, boundaries)
