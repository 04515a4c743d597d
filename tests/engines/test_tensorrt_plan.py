"""Everything about TensorRT plans that needs no GPU: file names, engine.json records, choosing
the plan for this host, and the mismatch error's rebuild command (the profile arithmetic is
test_tensorrt_profile's)."""
from __future__ import annotations

import shlex

import pytest

from pix2pix_stream.engines.runtime.errors import EngineVersionMismatchError
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.tensorrt_plan import (plan_file_name, plan_record, rebuild_command,
                                   same_tensorrt, select_plan, timing_cache_name, unreadable_plan)
from pix2pix_stream.engines.runtime.tensorrt_profile import BatchProfile, SizeProfile

H100, L4 = "NVIDIA H100 80GB HBM3", "NVIDIA L4"


def test_file_names_carry_gpu_model_and_tensorrt_version():
    assert plan_file_name("9.0", H100, "10.8.0.43") == "model.fp16.sm90-nvidia-h100-80gb-hbm3.trt10.8.0.43.plan"
    assert plan_file_name("8.9", L4, "11.1.0", "fp32") == "model.fp32.sm89-nvidia-l4.trt11.1.0.plan"
    assert timing_cache_name("9.0", "NVIDIA H200", "10.8.0.43") == "timing.sm90-nvidia-h200.trt10.8.0.43.cache"
    # one architecture, two models: two plans, two timing caches
    assert plan_file_name("8.9", L4, "10.8") != plan_file_name("8.9", "NVIDIA GeForce RTX 4090", "10.8")


def test_a_plan_fits_only_the_tensorrt_build_that_made_it():
    """NVIDIA: engines are compatible only with the TensorRT version used to build them (a
    patch release is another version)."""
    assert same_tensorrt("10.8.0.43", "10.8.0.43")
    assert not same_tensorrt("10.8.0.43", "10.8.1.2")
    assert not same_tensorrt("10.8.0.43", "11.0.0.1")


def record(trt="10.8.0.43", cc="9.0", gpu=H100, precision="fp16", profile=BatchProfile(1, 4, 16),
           sizes=SizeProfile.fixed(128, 128)):
    return plan_record(file=plan_file_name(cc, gpu, trt, precision), trt_version=trt,
                       compute_capability=cc, gpu=gpu, precision=precision,
                       profile=profile, sizes=sizes, onnx_file="model.fp16.onnx", onnx_sha256="ab",
                       timing_cache=timing_cache_name(cc, gpu, trt), built="2026-01-01T00:00:00+00:00")


@pytest.fixture
def meta_with_plans(tiny_engine_dir):
    meta = read_metadata(tiny_engine_dir)
    return meta.with_changes(artifacts={"tensorrt": [record(), record(cc="8.9", gpu=L4)]})


def test_select_plan_for_this_host(meta_with_plans, tiny_engine_dir):
    chosen = select_plan(tiny_engine_dir, meta_with_plans, "10.8.0.43", "8.9", L4)
    assert chosen["file"] == "model.fp16.sm89-nvidia-l4.trt10.8.0.43.plan"
    assert chosen["profile"] == {"min": 1, "opt": 4, "max": 16}
    with pytest.raises(EngineVersionMismatchError, match="TensorRT 10.8.1.2"):
        select_plan(tiny_engine_dir, meta_with_plans, "10.8.1.2", "8.9", L4)  # a patch release


def test_a_plan_of_another_gpu_model_of_the_same_architecture_is_not_chosen(meta_with_plans,
                                                                           tiny_engine_dir):
    with pytest.raises(EngineVersionMismatchError, match="(?s)NVIDIA GeForce RTX 4090.*Rebuild"):
        select_plan(tiny_engine_dir, meta_with_plans, "10.8.0.43", "8.9", "NVIDIA GeForce RTX 4090")
    with pytest.raises(EngineVersionMismatchError, match="NVIDIA H200"):
        select_plan(tiny_engine_dir, meta_with_plans, "10.8.0.43", "9.0", "NVIDIA H200")


def test_mismatch_names_the_plans_and_prints_the_rebuild_command(meta_with_plans, tiny_engine_dir):
    with pytest.raises(EngineVersionMismatchError) as err:
        select_plan(tiny_engine_dir, meta_with_plans, "11.0.0", "9.0", H100)
    message = str(err.value)
    assert "TensorRT 11.0.0" in message and "model.fp16.sm90-nvidia-h100-80gb-hbm3.trt10.8.0.43.plan" in message
    command = message.split("Rebuild with:\n")[1].strip()
    assert shlex.split(command) == ["pix2pix-export", "--build-tensorrt", str(tiny_engine_dir),
                                    "--min-batch", "1", "--opt-batch", "4", "--max-batch", "16"]
    # and the command really is one the CLI accepts
    from pix2pix_stream.engines.build.cli import build_parser

    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.build_tensorrt == tiny_engine_dir and args.max_batch == 16


def test_the_rebuild_command_keeps_a_recorded_height_width_range(tiny_engine_dir):
    from pix2pix_stream.engines.build.cli import build_parser

    sizes = SizeProfile((256, 256), (256, 512), (768, 1280), 256)
    command = rebuild_command(tiny_engine_dir, record(sizes=sizes))
    assert shlex.split(command)[-2:] == ["--max-size", "768x1280"]
    assert build_parser().parse_args(shlex.split(command)[1:]).max_size == (768, 1280)


@pytest.mark.parametrize("given", ["1088", "1088x", "0x1920", "wide"])
def test_max_size_must_be_height_x_width(given, capsys):
    from pix2pix_stream.engines.build.cli import build_parser

    assert build_parser().parse_args(["--build-tensorrt", "e"]).max_size == (1088, 1920)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--build-tensorrt", "e", "--max-size", given])
    err = capsys.readouterr().err
    assert "HEIGHTxWIDTH" in err or "positive" in err


def test_engine_without_plans(tiny_engine_dir):
    meta = read_metadata(tiny_engine_dir)
    with pytest.raises(EngineVersionMismatchError, match="(?s)no TensorRT plan.*--build-tensorrt"):
        select_plan(tiny_engine_dir, meta, "10.8.0", "9.0", H100)


def test_a_plan_tensorrt_cannot_read_asks_for_a_rebuild(tiny_engine_dir):
    error = unreadable_plan(record(), "10.8.0.43", tiny_engine_dir)
    assert isinstance(error, EngineVersionMismatchError)  # so `auto` moves on to the next backend
    message = str(error)
    assert "cannot deserialize" in message and record()["file"] in message
    assert "--build-tensorrt" in message and "--max-batch 16" in message
    assert "--fp32" in rebuild_command(tiny_engine_dir, record(precision="fp32"))


def test_auto_skips_tensorrt_on_a_cpu_host(tiny_engine_dir):
    from pix2pix_stream.engines.runtime.registry import load_backend

    backend = load_backend(tiny_engine_dir, "auto")
    assert backend.info.backend != "tensorrt"


def test_strongly_typed_network_flag_per_tensorrt_major():
    """Unit test of the version switch alone (a stand-in module with TensorRT's two names)."""
    import enum
    import types

    from pix2pix_stream.engines.runtime.tensorrt_build import _network_flags

    class Flag(enum.IntEnum):  # TensorRT 10's NvInfer.h: kEXPLICIT_BATCH = 0, kSTRONGLY_TYPED = 1
        EXPLICIT_BATCH = 0
        STRONGLY_TYPED = 1

    trt10 = types.SimpleNamespace(__version__="10.8.0.43", NetworkDefinitionCreationFlag=Flag)
    trt11 = types.SimpleNamespace(__version__="11.1.0.2")
    assert _network_flags(trt10) == 1 << 1
    assert _network_flags(trt11) == 0  # strongly typed is the only mode in TensorRT 11


class FakePlan:
    """Stands in for a deserialized ICudaEngine's I/O queries (a unit test of plan_io alone)."""

    def __init__(self, tensors):
        self._tensors = tensors  # name -> (dtype, shape)
        self.num_io_tensors = len(tensors)

    def get_tensor_name(self, i):
        return list(self._tensors)[i]

    def get_tensor_dtype(self, name):
        return self._tensors[name][0]

    def get_tensor_shape(self, name):
        return self._tensors[name][1]


def test_plan_io_feeds_check_io_and_names_what_disagrees():
    import numpy as np
    import pytest

    from pix2pix_stream.engines.runtime.errors import MetadataMismatchError
    from pix2pix_stream.engines.runtime.metadata import EngineMetadata
    from pix2pix_stream.engines.runtime.onnx_graph import check_io
    from pix2pix_stream.engines.runtime.tensorrt_plan import plan_io

    meta = EngineMetadata(name="facades", input_width=256, input_height=256)
    good = FakePlan({"frames": (np.uint8, (-1, 256, 256, 3)),
                     "translated": (np.uint8, (-1, 256, 256, 3))})
    check_io(plan_io(good, np.dtype), meta, "plan")

    wrong_size = FakePlan({"frames": (np.uint8, (-1, 128, 128, 3)),
                           "translated": (np.uint8, (-1, 128, 128, 3))})
    with pytest.raises(MetadataMismatchError, match=r"\[N, 256, 256, 3\]"):
        check_io(plan_io(wrong_size, np.dtype), meta, "plan")
    wrong_dtype = FakePlan({"frames": (np.float16, (-1, 256, 256, 3)),
                            "translated": (np.uint8, (-1, 256, 256, 3))})
    with pytest.raises(MetadataMismatchError, match="float16"):
        check_io(plan_io(wrong_dtype, np.dtype), meta, "plan")
    with pytest.raises(MetadataMismatchError, match="I/O tensors"):
        plan_io(FakePlan({"input": (np.uint8, (-1, 256, 256, 3))}), np.dtype)


def test_building_a_plan_needs_no_torch():
    """GPU hosts install serve + tensorrt (no torch): the build path must not import it."""
    import subprocess
    import sys

    code = ("import sys, pix2pix_stream.engines.runtime.tensorrt_build, pix2pix_stream.engines.runtime.fp16, pix2pix_stream.engines.runtime.model_card, pix2pix_stream.engines.build.cli;"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
