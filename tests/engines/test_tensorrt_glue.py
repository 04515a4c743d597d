"""The TensorRT build and backend code run on CPU against stand-ins for `tensorrt` and
cuda-python (tests/engines/fake_tensorrt.py): names, buffer sizes, the order of calls, the
engine.json record, the error paths and what `auto` does with them. Whether TensorRT itself
accepts the graph is for the GPU tests (test_tensorrt_gpu.py)."""
from __future__ import annotations

import logging
import shutil
import sys
import types

import numpy as np
import pytest

from pix2pix_stream.engines.runtime.errors import BackendUnavailableError, EngineVersionMismatchError
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.tensorrt_plan import BatchProfile
from tests.engines import fake_tensorrt

GPU = {"name": "Fake H200", "compute_capability": "9.0"}


@pytest.fixture
def fake_gpu(monkeypatch):
    """Installs the stand-ins; returns a function that swaps them (another TensorRT version,
    failing allocations). The real backend module is imported afresh against them and
    forgotten afterwards."""
    import pix2pix_stream.engines.runtime.hardware

    def install(version="10.8.0.43", fail_malloc_after=None):
        trt = fake_tensorrt.make_tensorrt(version)
        cudart = fake_tensorrt.make_cudart(fail_malloc_after)
        bindings = types.ModuleType("cuda.bindings")
        bindings.runtime = cudart
        cuda = types.ModuleType("cuda")
        cuda.bindings = bindings
        for name, module in (("tensorrt", trt), ("cuda", cuda), ("cuda.bindings", bindings),
                             ("cuda.bindings.runtime", cudart)):
            monkeypatch.setitem(sys.modules, name, module)
        monkeypatch.delitem(sys.modules, "pix2pix_stream.engines.runtime.backends.tensorrt_backend", raising=False)
        return trt, cudart

    monkeypatch.setattr(pix2pix_stream.engines.runtime.hardware, "cuda_device", lambda index=0: dict(GPU))
    monkeypatch.setattr("pix2pix_stream.engines.runtime.tensorrt_build.cuda_device", lambda index=0: dict(GPU))
    monkeypatch.setattr("pix2pix_stream.engines.runtime.registry.tensorrt_gpu_available", lambda: True)
    return install


@pytest.fixture
def engine(tiny_engine_dir, tmp_path):
    return shutil.copytree(tiny_engine_dir, tmp_path / "tiny")


def test_build_records_the_plan_and_its_timing_cache(fake_gpu, engine):
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    trt, _ = fake_gpu("10.8.0.43")
    plan = build_plan(engine, profile=BatchProfile(1, 4, 8), workspace_gib=0.5)
    assert plan.name == "model.fp16.sm90.trt10.8.0.43.plan" and plan.is_file()
    ((flags, shapes, workspace),) = trt.built
    assert flags == 1 << 5  # STRONGLY_TYPED on TensorRT 10
    assert shapes == {"frames": ((1, 128, 128, 3), (4, 128, 128, 3), (8, 128, 128, 3))}
    assert workspace == 1 << 29
    meta = read_metadata(engine)
    (record,) = meta.artifacts["tensorrt"]
    assert record["file"] == plan.name and record["trt_version"] == "10.8.0.43"
    assert record["compute_capability"] == "9.0" and record["gpu"] == "Fake H200"
    assert record["precision"] == "fp16" and record["onnx_file"] == "model.fp16.onnx"
    assert record["profile"] == {"min": 1, "opt": 4, "max": 8}
    assert (engine / record["timing_cache"]).read_bytes().startswith(b"FAKE-TIMING")
    assert "onnx_fp16" in meta.artifacts  # the fp16 graph was made on the way

    build_plan(engine, profile=BatchProfile(1, 4, 8))  # a rebuild replaces its record
    assert len(read_metadata(engine).artifacts["tensorrt"]) == 1


def test_tensorrt_11_networks_get_no_flag(fake_gpu, engine):
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    trt, _ = fake_gpu("11.1.0.2")
    assert build_plan(engine).name == "model.fp16.sm90.trt11.1.0.2.plan"
    assert trt.built[0][0] == 0


def test_a_timing_cache_tensorrt_rejects_is_replaced(fake_gpu, engine, caplog):
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    fake_gpu("10.8.0.43")
    (engine / "timing.sm90.trt10.8.0.43.cache").write_bytes(b"damaged")
    with caplog.at_level(logging.WARNING, logger="pix2pix_stream.engines.runtime.tensorrt_build"):
        build_plan(engine)
    assert "rejected the timing cache" in caplog.text
    assert (engine / "timing.sm90.trt10.8.0.43.cache").read_bytes().startswith(b"FAKE-TIMING")


def test_backend_runs_the_plan_in_reused_buffers_and_frees_them(fake_gpu, engine):
    from pix2pix_stream.engines.runtime.quality import probe_frames
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    _, cudart = fake_gpu()
    build_plan(engine, profile=BatchProfile(1, 4, 8))
    frames = probe_frames(6, 128, 128)
    with load_backend(engine, "auto", max_batch=4) as backend:  # auto picks it on a GPU host
        assert backend.info.backend == "tensorrt" and backend.info.precision == "fp16"
        assert backend.info.device == "cuda:0 (Fake H200)"
        buffers = dict(cudart.memory.live)
        assert sorted(b._length_ for b in buffers.values()) == [4 * 128 * 128 * 3] * 4
        got = backend.infer(frames)  # 6 > max_batch: two runs in the same buffers
        alone = backend.infer(frames[5:6])
        assert cudart.memory.live == buffers
    assert not cudart.memory.live and not cudart.streams  # all freed, stream destroyed
    want = load_backend(engine, "onnxruntime-cpu").infer(frames)  # fp32; the plan is fp16
    from pix2pix_stream.engines.runtime.quality import psnr

    assert got.shape == want.shape and psnr(got, want) >= 40
    np.testing.assert_array_equal(alone[0], got[5])


def test_a_plan_from_another_tensorrt_build_falls_back_with_the_rebuild_command(
        fake_gpu, engine, caplog):
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    fake_gpu("10.8.0.43")
    build_plan(engine)
    fake_gpu("10.8.1.2")  # a patch upgrade: the recorded plan no longer fits
    with caplog.at_level(logging.WARNING, logger="pix2pix_stream.engines.runtime.registry"):
        backend = load_backend(engine, "auto")
    assert backend.info.backend == "onnxruntime"
    assert "TensorRT 10.8.1.2" in caplog.text and "--build-tensorrt" in caplog.text
    with pytest.raises(EngineVersionMismatchError):
        load_backend(engine, "tensorrt")


def test_a_plan_tensorrt_will_not_deserialize_asks_for_a_rebuild(fake_gpu, engine, caplog):
    """engine.json says the plan fits, but the file came from another build (copied by hand)."""
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    fake_gpu("10.8.1.2")
    other = build_plan(engine)
    fake_gpu("10.8.0.43")
    record = build_plan(engine)
    record.write_bytes(other.read_bytes())
    with pytest.raises(EngineVersionMismatchError, match="(?s)cannot deserialize.*--build-tensorrt"):
        load_backend(engine, "tensorrt")
    with caplog.at_level(logging.WARNING, logger="pix2pix_stream.engines.runtime.registry"):
        assert load_backend(engine, "auto").info.backend == "onnxruntime"


def test_a_cuda_failure_at_set_up_frees_what_it_took_and_auto_moves_on(fake_gpu, engine):
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    fake_gpu()
    build_plan(engine)
    _, cudart = fake_gpu(fail_malloc_after=1)  # the output buffer cannot be had
    with pytest.raises(BackendUnavailableError, match="cudaErrorMemoryAllocation"):
        load_backend(engine, "tensorrt")
    assert not cudart.memory.live and not cudart.streams
    assert load_backend(engine, "auto").info.backend == "onnxruntime"


def test_max_batch_beyond_the_profile_is_refused(fake_gpu, engine):
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    fake_gpu()
    build_plan(engine, profile=BatchProfile(1, 2, 4))
    with pytest.raises(BackendUnavailableError, match="profile maximum 4"):
        load_backend(engine, "tensorrt", max_batch=8)
