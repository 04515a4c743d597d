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

from pix2pix_stream.engines.runtime.errors import (BackendUnavailableError, EngineVersionMismatchError,
                                                  MetadataMismatchError, ProfileShapeError)
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.tensorrt_profile import BatchProfile
from tests.engines import fake_tensorrt

GPU = {"name": "Fake H200", "compute_capability": "9.0"}
PLAN = "model.fp16.sm90-fake-h200.trt10.8.0.43.plan"
TIMING_CACHE = "timing.sm90-fake-h200.trt10.8.0.43.cache"


@pytest.fixture
def fake_gpu(monkeypatch):
    """Installs the stand-ins; returns a function that swaps them (another TensorRT version,
    failing allocations). The real backend module is imported afresh against them and
    forgotten afterwards."""
    import pix2pix_stream.engines.runtime.hardware

    gpu = dict(GPU)

    def install(version="10.8.0.43", fail_malloc_after=None, gpu_name=GPU["name"],
                cuda_major=13, timing_cache_raises=False):
        gpu["name"] = gpu_name
        trt = fake_tensorrt.make_tensorrt(version, timing_cache_raises)
        cudart = fake_tensorrt.make_cudart(fail_malloc_after, cuda_major)
        bindings = types.ModuleType("cuda.bindings")
        bindings.runtime = cudart
        cuda = types.ModuleType("cuda")
        cuda.bindings = bindings
        utils = cudart.utils if hasattr(cudart.utils, "get_cuda_native_handle") else None
        for name, module in (("tensorrt", trt), ("cuda", cuda), ("cuda.bindings", bindings),
                             ("cuda.bindings.runtime", cudart), ("cuda.bindings.utils", utils)):
            monkeypatch.setitem(sys.modules, name, module)  # None: "import" raises ImportError
        monkeypatch.delitem(sys.modules, "pix2pix_stream.engines.runtime.backends.tensorrt_backend", raising=False)
        return trt, cudart

    monkeypatch.setattr(pix2pix_stream.engines.runtime.hardware, "cuda_device", lambda index=0: dict(gpu))
    monkeypatch.setattr("pix2pix_stream.engines.runtime.tensorrt_build.cuda_device", lambda index=0: dict(gpu))
    monkeypatch.setattr("pix2pix_stream.engines.runtime.registry.tensorrt_gpu_available", lambda: True)
    return install


GEOMETRY_FIELDS = ("size_multiple", "min_size", "max_size", "trained_size")


@pytest.fixture
def engine(tiny_engine_dir, tmp_path):
    """The tiny engine as a fixed-size engine: an engine.json without the geometry fields
    (engines exported before they existed), whatever the export writes today."""
    import json

    engine = shutil.copytree(tiny_engine_dir, tmp_path / "tiny")
    data = json.loads((engine / "engine.json").read_text())
    (engine / "engine.json").write_text(json.dumps(
        {k: v for k, v in data.items() if k not in GEOMETRY_FIELDS}))
    return engine


def test_build_records_the_plan_and_its_timing_cache(fake_gpu, engine):
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    trt, _ = fake_gpu("10.8.0.43")
    plan = build_plan(engine, profile=BatchProfile(1, 4, 8), workspace_gib=0.5)
    assert plan.name == PLAN and plan.is_file()
    ((flags, shapes, workspace),) = trt.built
    assert flags == 1 << 1  # STRONGLY_TYPED is 1 in TensorRT 10's NvInfer.h
    assert shapes == {"frames": ((1, 128, 128, 3), (4, 128, 128, 3), (8, 128, 128, 3))}
    assert workspace == 1 << 29
    meta = read_metadata(engine)
    (record,) = meta.artifacts["tensorrt"]
    assert record["file"] == plan.name and record["trt_version"] == "10.8.0.43"
    assert record["compute_capability"] == "9.0" and record["gpu"] == "Fake H200"
    assert record["precision"] == "fp16" and record["onnx_file"] == "model.fp16.onnx"
    assert record["profile"] == {"min": 1, "opt": 4, "max": 8}
    # engine.json without geometry fields: a fixed-size engine, min = opt = max in H/W
    assert record["sizes"] == {"min": [128, 128], "opt": [128, 128], "max": [128, 128],
                               "multiple": None}
    assert (engine / record["timing_cache"]).read_bytes().startswith(b"FAKE-TIMING")
    assert "onnx_fp16" in meta.artifacts  # the fp16 graph was made on the way

    build_plan(engine, profile=BatchProfile(1, 4, 8))  # a rebuild replaces its record
    assert len(read_metadata(engine).artifacts["tensorrt"]) == 1


def test_tensorrt_11_networks_get_no_flag(fake_gpu, engine):
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    trt, _ = fake_gpu("11.1.0.2")
    assert build_plan(engine).name == "model.fp16.sm90-fake-h200.trt11.1.0.2.plan"
    assert trt.built[0][0] == 0


@pytest.mark.parametrize("raises", [False, True], ids=["returns-None", "raises"])
def test_a_timing_cache_tensorrt_rejects_is_replaced(fake_gpu, engine, caplog, raises):
    """TensorRT refuses a damaged cache by returning None or by raising: either way the build
    goes on with a fresh cache."""
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    fake_gpu("10.8.0.43", timing_cache_raises=raises)
    (engine / TIMING_CACHE).write_bytes(b"damaged")
    with caplog.at_level(logging.WARNING, logger="pix2pix_stream.engines.runtime.tensorrt_build"):
        build_plan(engine)
    assert "rejected the timing cache" in caplog.text
    assert (engine / TIMING_CACHE).read_bytes().startswith(b"FAKE-TIMING")


@pytest.mark.parametrize("cuda_major", [13, 12])
def test_backend_runs_the_plan_in_reused_buffers_and_frees_them(fake_gpu, engine, cuda_major):
    """cuda-bindings 13 deprecates int(stream): the stream reaches execute_async_v3 through
    get_cuda_native_handle, or int() where the bindings predate it."""
    from pix2pix_stream.engines.runtime.quality import probe_frames
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    _, cudart = fake_gpu(cuda_major=cuda_major)
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


def test_a_plan_for_another_gpu_model_of_the_same_architecture_asks_for_a_rebuild(fake_gpu, engine):
    """An H100 and an H200 are both sm90; NVIDIA ties plans to the GPU model."""
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    fake_gpu(gpu_name="NVIDIA H100 80GB HBM3")
    h100 = build_plan(engine)
    fake_gpu(gpu_name="NVIDIA H200")
    with pytest.raises(EngineVersionMismatchError, match="(?s)NVIDIA H200.*--build-tensorrt"):
        load_backend(engine, "tensorrt")
    h200 = build_plan(engine)  # beside the H100's, with its own timing cache
    assert h100.name == "model.fp16.sm90-nvidia-h100-80gb-hbm3.trt10.8.0.43.plan"
    assert h200.name == "model.fp16.sm90-nvidia-h200.trt10.8.0.43.plan"
    records = read_metadata(engine).artifacts["tensorrt"]
    assert [r["gpu"] for r in records] == ["NVIDIA H100 80GB HBM3", "NVIDIA H200"]
    assert len({r["timing_cache"] for r in records}) == 2
    assert load_backend(engine, "tensorrt").info.device == "cuda:0 (NVIDIA H200)"


def test_a_batch_below_the_profile_minimum_names_the_bound(fake_gpu, engine):
    from pix2pix_stream.engines.runtime.quality import probe_frames
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    fake_gpu()
    build_plan(engine, profile=BatchProfile(2, 4, 8))
    with load_backend(engine, "tensorrt", max_batch=4) as backend:
        with pytest.raises(ProfileShapeError, match="batch 1 is below the plan's profile minimum 2"):
            backend.infer(probe_frames(1, 128, 128))
        assert backend.infer(probe_frames(2, 128, 128)).shape == (2, 128, 128, 3)
    with pytest.raises(BackendUnavailableError, match="below the plan's profile minimum 2"):
        load_backend(engine, "tensorrt", max_batch=1)


def test_a_plan_whose_profile_disagrees_with_its_record_is_refused_at_load(fake_gpu, engine):
    """The record says one profile, the plan file holds another (rebuilt by hand): caught when
    loading, with the rebuild command, not at the first batch TensorRT refuses."""
    import json

    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    fake_gpu()
    build_plan(engine, profile=BatchProfile(1, 4, 8))
    data = json.loads((engine / "engine.json").read_text())
    data["artifacts"]["tensorrt"][0]["sizes"] = {"min": [64, 64], "opt": [128, 128],
                                                 "max": [256, 256], "multiple": 64}
    (engine / "engine.json").write_text(json.dumps(data))
    with pytest.raises(MetadataMismatchError, match=r"(?s)\[1, 64, 64, 3\].*--max-size 256x256"):
        load_backend(engine, "tensorrt")


@pytest.fixture
def any_size_engine(engine, monkeypatch):
    """The tiny engine read with other geometry fields (multiple 64, trained at 128), so the
    profile's numbers differ from the engine's own defaults."""
    import pix2pix_stream.engines.runtime.metadata as metadata

    real = metadata.read_metadata

    def with_geometry(engine_dir):
        meta = real(engine_dir)
        return meta.with_changes(size_multiple=64, min_size=[64, 64], max_size=[2176, 3840],
                                 trained_size={"load_size": 143, "crop_size": 128,
                                               "source_aspect": None})

    for module in ("tensorrt_build", "registry"):
        monkeypatch.setattr(f"pix2pix_stream.engines.runtime.{module}.read_metadata", with_geometry)
    return engine


def test_a_plan_for_an_engine_of_any_size_covers_batch_and_height_width(fake_gpu, any_size_engine):
    from pix2pix_stream.engines.runtime.quality import probe_frames
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.engines.runtime.tensorrt_build import build_plan

    trt, cudart = fake_gpu()
    build_plan(any_size_engine, profile=BatchProfile(1, 4, 8), max_size=(200, 300))
    ((_, shapes, _),) = trt.built
    assert shapes == {"frames": ((1, 64, 64, 3), (4, 128, 256, 3), (8, 256, 320, 3))}
    (record,) = read_metadata(any_size_engine).artifacts["tensorrt"]
    assert record["sizes"] == {"min": [64, 64], "opt": [128, 256], "max": [256, 320],
                               "multiple": 64}
    with load_backend(any_size_engine, "tensorrt", max_batch=2) as backend:
        # buffers for the largest frame the plan takes; a smaller one runs packed in them
        assert {b._length_ for b in cudart.memory.live.values()} == {2 * 256 * 320 * 3}
        got = backend.infer(probe_frames(3, 128, 128))
    want = load_backend(any_size_engine, "onnxruntime-cpu").infer(probe_frames(3, 128, 128))
    from pix2pix_stream.engines.runtime.quality import psnr

    assert psnr(got, want) >= 40
