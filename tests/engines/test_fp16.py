"""The fp16 graph TensorRT and CUDA builds start from: valid, uint8 I/O, within 40 dB of fp32."""
from __future__ import annotations

import shutil

import onnx
import pytest

from pix2pix_stream.engines.runtime.fp16 import FP16_ONNX, add_fp16_artifact, pixel_work_nodes
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.onnx_graph import sha256_file
from pix2pix_stream.engines.runtime.quality import fp16_psnr


@pytest.fixture(scope="module")
def fp16_engine(tiny_engine_dir, tmp_path_factory):
    engine = shutil.copytree(tiny_engine_dir, tmp_path_factory.mktemp("fp16") / "tiny")
    add_fp16_artifact(engine)
    return engine


def test_fp16_graph_is_valid_with_uint8_io(fp16_engine):
    model = onnx.load(str(fp16_engine / FP16_ONNX))
    onnx.checker.check_model(model)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    weights = [t for t in model.graph.initializer if t.name.endswith("conv.weight")]
    assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)


def test_pixel_work_stays_fp32(fp16_engine):
    model = onnx.load(str(fp16_engine / "model.onnx"))
    kept = {n.op_type for n in model.graph.node if n.name in pixel_work_nodes(model)}
    assert {"Round", "Clip", "Div", "Transpose"} <= kept
    assert not any(n.name.startswith("/generator/") for n in model.graph.node
                   if n.name in pixel_work_nodes(model))


def test_fp16_quality_and_record(fp16_engine):
    assert fp16_psnr(fp16_engine) >= 40
    entry = read_metadata(fp16_engine).artifacts["onnx_fp16"]
    assert entry["file"] == FP16_ONNX and entry["psnr_vs_fp32_db"] >= 40
    assert entry["sha256"] == sha256_file(fp16_engine / FP16_ONNX)
    # the model card is rewritten too and still describes the engine
    assert "# tiny" in (fp16_engine / "README.md").read_text()
