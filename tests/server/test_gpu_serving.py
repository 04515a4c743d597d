"""Serving a TensorRT plan on a GPU host: same API, close to the ONNX Runtime fp32 output.
Skipped where CUDA or the tensorrt package is missing."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from pix2pix_stream.engines.runtime.hardware import tensorrt_gpu_available
from pix2pix_stream.protos import translator_pb2 as pb
from tests.server.helpers import channel_stub, decode_reply, drawn_frames, raw_requests

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def plan_engines(tiny_engines_root, tmp_path_factory):
    if not tensorrt_gpu_available():
        pytest.skip("needs CUDA and the tensorrt package")
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    root = tmp_path_factory.mktemp("trt")
    shutil.copytree(tiny_engines_root / "tiny", root / "tiny")
    build_plan(root / "tiny", precision="fp16")
    return root


def test_tensorrt_serving_matches_onnxruntime(plan_engines, make_server, tiny_backend):
    server = make_server(engines_dir=plan_engines, backend="tensorrt", inference_threads=None)
    channel, stub = channel_stub(server.port)
    [model] = stub.ListModels(pb.ListModelsRequest()).models
    assert model.backend == "tensorrt"
    replies = list(stub.Translate(raw_requests(8)))
    channel.close()
    assert [r.sequence for r in replies] == list(range(8))
    for reply, pixels in zip(replies, drawn_frames(8)):
        expected = tiny_backend.infer(pixels[None])[0].astype(float)
        assert np.abs(decode_reply(reply).astype(float) - expected).mean() < 3  # fp16 vs fp32
