"""TensorRT on a real GPU: build a plan from the tiny engine, run it, compare with ONNX Runtime;
the profile's bounds, the timing cache, and ONNX Runtime's TensorRT provider. Skipped without
CUDA and the tensorrt package (docs/gpu.md: `pytest -m gpu`). Outputs are compared within a
tolerance: TensorRT does not promise bit-identical results across batch sizes (other kernels)."""
from __future__ import annotations

import shutil

import pytest

from pix2pix_stream.engines.runtime.hardware import tensorrt_gpu_available

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not tensorrt_gpu_available(), reason="needs CUDA and tensorrt")]


def build(tiny_engine_dir, folder, profile):
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    engine = shutil.copytree(tiny_engine_dir, folder / "tiny")
    build_plan(engine, profile=profile)
    return engine


@pytest.fixture(scope="module")
def trt_engine(tiny_engine_dir, tmp_path_factory):
    from pix2pix_stream.engines.runtime.tensorrt_profile import BatchProfile

    return build(tiny_engine_dir, tmp_path_factory.mktemp("trt"), BatchProfile(1, 4, 8))


def test_plan_is_recorded_with_its_cache_under_this_gpu_model(trt_engine):
    from pix2pix_stream.engines.runtime.hardware import cuda_device
    from pix2pix_stream.engines.runtime.metadata import read_metadata
    from pix2pix_stream.engines.runtime.tensorrt_plan import gpu_tag

    gpu = cuda_device(0)
    (plan,) = read_metadata(trt_engine).artifacts["tensorrt"]
    assert (trt_engine / plan["file"]).is_file() and (trt_engine / plan["timing_cache"]).is_file()
    assert plan["gpu"] == gpu["name"] and plan["compute_capability"] == gpu["compute_capability"]
    assert plan["file"].startswith(f"model.fp16.{gpu_tag(gpu['compute_capability'], gpu['name'])}.")
    from pix2pix_stream.engines.runtime.tensorrt_profile import size_profile

    want = size_profile(read_metadata(trt_engine))  # fixed at 128x128 without geometry fields
    assert plan["profile"]["max"] == 8 and plan["sizes"] == want.to_dict()


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
    # batch 1 and batch 4 may run other kernels: close, not necessarily identical
    assert psnr(alone[0], got[2]) >= 40


def test_auto_prefers_tensorrt_on_a_gpu_host(trt_engine):
    from pix2pix_stream.engines.runtime.registry import load_backend

    assert load_backend(trt_engine).info.backend == "tensorrt"


def test_a_batch_below_the_profile_minimum_is_refused_by_name(tiny_engine_dir, tmp_path):
    from pix2pix_stream.engines.runtime.errors import ProfileShapeError
    from pix2pix_stream.engines.runtime.quality import probe_frames
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_profile import BatchProfile

    engine = build(tiny_engine_dir, tmp_path, BatchProfile(2, 2, 4))
    with load_backend(engine, "tensorrt", max_batch=4) as backend:
        with pytest.raises(ProfileShapeError, match="below the plan's profile minimum 2"):
            backend.infer(probe_frames(1, 128, 128))
        assert backend.infer(probe_frames(3, 128, 128)).shape == (3, 128, 128, 3)


def test_a_damaged_timing_cache_is_rebuilt(trt_engine):
    """TensorRT refuses the blob (returns None or raises, depending on the damage) or starts
    afresh; either way the build succeeds and writes a sound cache."""
    from pix2pix_stream.engines.runtime.metadata import read_metadata
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan
    from pix2pix_stream.engines.runtime.tensorrt_profile import BatchProfile

    (plan,) = read_metadata(trt_engine).artifacts["tensorrt"]
    cache = trt_engine / plan["timing_cache"]
    cache.write_bytes(b"damaged" * 100)
    build_plan(trt_engine, profile=BatchProfile(1, 4, 8))
    assert cache.stat().st_size > 0 and not cache.read_bytes().startswith(b"damaged")


def test_onnxruntime_tensorrt_provider_runs_the_fp16_graph(tiny_engine_dir, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime has no TensorRT provider (onnxruntime-gpu)")
    from pix2pix_stream.engines.runtime.fp16 import add_fp16_artifact
    from pix2pix_stream.engines.runtime.quality import probe_frames, psnr
    from pix2pix_stream.engines.runtime.registry import load_backend

    engine = shutil.copytree(tiny_engine_dir, tmp_path / "tiny")
    add_fp16_artifact(engine, measure=False)
    frames = probe_frames(3, 128, 128)
    backend = load_backend(engine, "onnxruntime", max_batch=4)
    assert backend.providers[0] == "TensorrtExecutionProvider"
    assert backend.info.precision == "fp16" and backend.info.device == "cuda"
    got = backend.infer(frames)
    assert psnr(got, load_backend(engine, "onnxruntime-cpu").infer(frames)) >= 40
    assert any((engine / "ort_trt_cache").iterdir())  # the provider kept its engine
