"""Test frames, the parity bar and graph edits shared by the engines tests."""
from __future__ import annotations

import numpy as np

from pix2pix_stream.engines.runtime.quality import psnr  # noqa: F401 (re-exported for the tests)


def frames(n: int, size: int = 128, seed: int = 0) -> np.ndarray:
    """Smooth images with noise: closer to real frames than uniform noise, still varied."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(6 * x + 4 * y + i) * 0.5 + 0.5 for i in range(3)], axis=2)
    out = [(255 * np.clip(base * rng.uniform(0.5, 1.0) + rng.normal(0, 0.1, base.shape), 0, 1))
           for _ in range(n)]
    return np.stack(out).astype(np.uint8)


def assert_parity(got: np.ndarray, want: np.ndarray) -> None:
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert diff.max() <= 1, f"max difference {diff.max()} grey levels"
    assert (diff == 0).mean() >= 0.999, f"only {100 * (diff == 0).mean():.3f}% identical"


def fix_graph_size(model_path, height: int, width: int) -> None:
    """Declares the ONNX graph's input and output [batch, height, width, 3], as engines exported
    before dynamic sizes were."""
    import onnx

    model = onnx.load(str(model_path))
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        dims[1].dim_value, dims[2].dim_value = height, width
    onnx.save(model, str(model_path))
