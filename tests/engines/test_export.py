"""Export writes a complete engine directory whose graph and metadata agree."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from pix2pix_stream.engines.runtime.errors import ExportError
from pix2pix_stream.engines.build.export import export_checkpoint, export_generator
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME, OUTPUT_NAME, sha256_file
from pix2pix_stream.engines.build.synthetic import synthetic_generator
from pix2pix_stream.media.transforms import InputTransform


def test_engine_directory_is_complete(tiny_engine_dir):
    names = {p.name for p in tiny_engine_dir.iterdir()}
    assert {"model.onnx", "engine.json", "README.md"} <= names
    meta = read_metadata(tiny_engine_dir)
    assert (meta.name, meta.input_width, meta.input_height) == ("tiny", 128, 128)
    assert meta.onnx_sha256 == sha256_file(tiny_engine_dir / "model.onnx")
    assert meta.generator["netG"] == "unet_128" and meta.generator["ngf"] == 8
    assert meta.precision == "fp32" and meta.opset == 17
    assert {"torch", "onnx"} <= meta.versions.keys()
    assert meta.created.endswith("+00:00")
    card = (tiny_engine_dir / "README.md").read_text()
    assert "# tiny" in card and "[N, H, W, 3]" in card and "multiples of 128" in card


def test_graph_is_uint8_nhwc_with_dynamic_batch_and_size(tiny_engine_dir):
    model = onnx.load(str(tiny_engine_dir / "model.onnx"))
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == (INPUT_NAME, OUTPUT_NAME)
    for value in (inp, out):
        tensor = value.type.tensor_type
        assert tensor.elem_type == onnx.TensorProto.UINT8
        dims = [d.dim_value or d.dim_param for d in tensor.shape.dim]
        assert dims == ["batch", "height", "width", 3]
    ops = {n.op_type for n in model.graph.node}
    assert {"Transpose", "Round", "Clip", "Cast"} <= ops  # pixel work lives in the graph
    assert "Dropout" not in ops


def test_input_transform_is_recorded(tiny_engines_root):
    meta = read_metadata(tiny_engines_root / "tiny-canny")
    assert meta.transform == InputTransform("canny", {"low": 50, "high": 150})


def test_rejects_size_the_unet_cannot_take(tmp_path):
    with pytest.raises(ExportError, match="multiples of 128"):
        export_generator(synthetic_generator(), tmp_path, name="x", input_size=100)


def test_non_square_size_and_direction(tmp_path):
    out = export_generator(synthetic_generator(), tmp_path / "wide", name="wide",
                           input_size=(256, 128), direction="BtoA")
    meta = read_metadata(out)
    assert (meta.input_width, meta.input_height, meta.direction) == (256, 128, "BtoA")


def test_export_checkpoint_carries_its_settings(tmp_path):
    torch = pytest.importorskip("torch")
    from pix2pix_stream.pix2pix.checkpoint import save_checkpoint

    generator = synthetic_generator(seed=3)
    ckpt = save_checkpoint({
        "generator_config": generator.config.to_dict(), "generator": generator.state_dict(),
        "input_transform": {"name": "blur", "params": {"ksize": 5}}, "direction": "BtoA",
        "image_size": 128, "epoch": 7, "step": 700, "metrics": {"psnr": torch.tensor(21.5)},
        "train_config": {"dataset": "facades", "lr": 2e-4}}, tmp_path / "last.pt")
    out = export_checkpoint(ckpt, tmp_path / "facades-test")
    meta = read_metadata(out)
    assert meta.name == "facades-test" and meta.direction == "BtoA"
    assert meta.transform == InputTransform("blur", {"ksize": 5})
    assert meta.source_checkpoint == str(ckpt)
    assert meta.source_checkpoint_sha256 == sha256_file(ckpt)
    assert meta.training["epoch"] == 7 and meta.training["metrics"]["psnr"] == pytest.approx(21.5)
    assert meta.training["train_config"]["dataset"] == "facades"
    json.loads((out / "engine.json").read_text())  # plain JSON all the way down
    assert np.isfinite(meta.training["metrics"]["psnr"])


def test_engine_files_are_world_readable(tiny_engine_dir):
    for name in ("model.onnx", "engine.json", "README.md"):
        assert (tiny_engine_dir / name).stat().st_mode & 0o044 == 0o044, name


def test_export_leaves_a_training_generator_untouched(tmp_path):
    torch = pytest.importorskip("torch")
    generator = synthetic_generator(seed=8).train()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    export_generator(generator, tmp_path / "mid", name="mid", input_size=128)
    assert generator.training  # still in train mode for the loop that owns it
    for key, value in generator.state_dict().items():
        assert torch.equal(value, before[key]), key
