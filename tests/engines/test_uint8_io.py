"""TensorRT takes uint8 only at a network input that feeds a Cast or an output a Cast produces.
Checked on CPU: exported graphs (fp32, fp16, int8, the shipped engine) keep to it, and older
graphs that transposed the uint8 tensors are rewritten without changing a single output value."""
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from pix2pix_stream.engines.runtime.fp16 import convert_to_fp16
from pix2pix_stream.engines.runtime.onnx_graph import load_onnx
from pix2pix_stream.engines.build.synthetic import synthetic_generator
from pix2pix_stream.engines.runtime.uint8_io import cast_uint8_io, uint8_io_problems
from tests.engines.pixels import frames

ROOT = Path(__file__).resolve().parents[2]


class OldStyleTranslator(torch.nn.Module):
    """The pixel work as engines were exported before the rule: layout change on uint8."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator.eval()

    def forward(self, x):
        x = x.permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1.0
        y = torch.round((self.generator(x) + 1.0) * 127.5).clamp(0.0, 255.0)
        return y.to(torch.uint8).permute(0, 2, 3, 1)


def run(path_or_model, batch):
    data = path_or_model.SerializeToString() if hasattr(path_or_model, "SerializeToString") \
        else str(path_or_model)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


def test_exported_fp32_and_fp16_graphs_keep_uint8_next_to_casts(tiny_engine_dir, tmp_path):
    assert uint8_io_problems(load_onnx(tiny_engine_dir / "model.onnx")) == []
    fp16 = convert_to_fp16(tiny_engine_dir / "model.onnx", tmp_path / "model.fp16.onnx")
    assert uint8_io_problems(load_onnx(fp16)) == []


@pytest.mark.parametrize("name", ["model.onnx", "model.int8.onnx"])
def test_shipped_engine_graphs_keep_uint8_next_to_casts(name):
    assert uint8_io_problems(load_onnx(ROOT / "engines" / "edges2facades" / name)) == []


def test_old_style_graph_is_rewritten_with_identical_output(tmp_path):
    path = tmp_path / "old.onnx"
    module = OldStyleTranslator(synthetic_generator("unet_128", ngf=8, seed=3))
    torch.onnx.export(module, torch.zeros(1, 128, 128, 3, dtype=torch.uint8), str(path),
                      input_names=["frames"], output_names=["translated"], opset_version=17,
                      dynamic_axes={"frames": {0: "batch"}, "translated": {0: "batch"}},
                      dynamo=False)
    model = load_onnx(path)
    problems = uint8_io_problems(model)
    assert len(problems) == 2 and "feeds a Transpose" in problems[0] \
        and "comes from a Transpose" in problems[1]

    assert cast_uint8_io(model) == 2
    onnx.checker.check_model(model)
    assert uint8_io_problems(model) == []
    batch = frames(3, 128)
    np.testing.assert_array_equal(run(model, batch), run(path, batch))
    assert cast_uint8_io(model) == 0  # idempotent
