"""TensorRT on a real GPU: build a plan from the tiny engine, run it, compare with ONNX Runtime.
Skipped without CUDA and the tensorrt package."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from pix2pix_stream.engines.runtime.hardware import tensorrt_gpu_available

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not tensorrt_gpu_available(), reason="needs CUDA and tensorrt")]


@pytest.fixture(scope="module")
def trt_engine(tiny_engine_dir, tmp_path_factory):
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan
    from pix2pix_stream.engines.runtime.tensorrt_plan import BatchProfile

    engine = shutil.copytree(tiny_engine_dir, tmp_path_factory.mktemp("trt") / "tiny")
    build_plan(engine, profile=BatchProfile(1, 4, 8))
    return engine


def test_plan_is_recorded_with_its_cache(trt_engine):
    from pix2pix_stream.engines.runtime.metadata import read_metadata

    (plan,) = read_metadata(trt_engine).artifacts["tensorrt"]
    assert (trt_engine / plan["file"]).is_file() and (trt_engine / plan["timing_cache"]).is_file()
    assert plan["file"].startswith("model.fp16.sm") and plan["profile"]["max"] == 8


def test_tensorrt_output_close_to_onnxruntime(trt_engine):
    from pix2pix_stream.engines.runtime.quality import probe_frames, psnr
    from pix2pix_stream.engines.runtime.registry import load_backend

    frames = probe_frames(5, 128, 128)
    with load_backend(trt_engine, "tensorrt", max_batch=4) as backend:
        assert backend.info.backend == "tensorrt" and backend.info.precision == "fp16"
        got = backend.infer(frames)  # 5 > max_batch 4: two calls reuse the same buffers
        alone = backend.infer(frames[2:3])
    want = load_backend(trt_engine, "onnxruntime-cpu").infer(frames)
    assert psnr(got, want) >= 40
    np.testing.assert_array_equal(alone[0], got[2])


def test_auto_prefers_tensorrt_on_a_gpu_host(trt_engine):
    from pix2pix_stream.engines.runtime.registry import load_backend

    assert load_backend(trt_engine).info.backend == "tensorrt"
