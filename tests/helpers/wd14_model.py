"""A tiny WD14 tagger in the real file layout: an ONNX model and its selected_tags.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NAME = "tiny-tagger"
ROWS = [  # (name, category) in selected_tags.csv order: ratings first, like the real lists
    ("general", 9),
    ("sensitive", 9),
    ("questionable", 9),
    ("explicit", 9),
    ("1girl", 0),
    ("red_theme", 0),
    ("blue_theme", 0),
    ("never_sure", 0),
    ("hatsune_miku", 4),
    ("rin_(blue)", 4),
]


def make_weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=0.02, size=(3, len(ROWS))).astype(np.float32)
    b = rng.normal(scale=1.0, size=len(ROWS)).astype(np.float32)
    # red_theme follows the red channel (index 2 in BGR), blue_theme the blue one.
    w[:, 5] = [-0.02, 0.0, 0.02]
    w[:, 6] = [0.02, 0.0, -0.02]
    b[5] = b[6] = 0.0
    w[:, 7], b[7] = 0.0, -6.0  # always about 0.0025: under the floor
    return w, b


def build_model(
    folder: Path,
    w: np.ndarray,
    b: np.ndarray,
    *,
    size: int = 8,
    batch: int | str = "batch",
    rows: list[tuple[str, int]] = ROWS,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["input_1:0"], ["mean"], axes=[1, 2], keepdims=0),
            helper.make_node("MatMul", ["mean", "W"], ["logits0"]),
            helper.make_node("Add", ["logits0", "B"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["predictions_sigmoid"]),
        ],
        "tiny_tagger",
        [helper.make_tensor_value_info("input_1:0", TensorProto.FLOAT, [batch, size, size, 3])],
        [
            helper.make_tensor_value_info(
                "predictions_sigmoid", TensorProto.FLOAT, [batch, w.shape[1]]
            )
        ],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, folder / "model.onnx")
    lines = ["tag_id,name,category,count"]
    lines += [f"{100 + i},{name},{cat},{1000 - i}" for i, (name, cat) in enumerate(rows)]
    (folder / "selected_tags.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
