"""ONNX Runtime's TensorRT provider, the GPU fallback when no plan fits: which graph it gets, the
options it is given (fp16, the profile over batch and height/width, the caches) and the cache
folder it needs. ONNX Runtime's CPU build has no TensorRT provider, so the session is created
for real on the CPU provider while a spy records what the backend asked for."""
from __future__ import annotations

import logging
import shutil

import pytest

import pix2pix_stream.engines.runtime.backends.onnxruntime_backend as ort_backend
from pix2pix_stream.engines.runtime.metadata import read_metadata

TENSORRT_FIRST = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.fixture
def engine(tiny_engine_dir, tmp_path):
    return shutil.copytree(tiny_engine_dir, tmp_path / "tiny")


@pytest.fixture
def gpu_session(monkeypatch):
    """Makes the backend choose the TensorRT provider; returns what it asked InferenceSession
    for (model path, providers, provider options)."""
    asked = {}
    real = ort_backend.ort.InferenceSession

    def spy(path, options, providers, provider_options):
        asked.update(path=path, providers=providers, options=dict(zip(providers, provider_options)))
        return real(path, options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort_backend, "choose_providers", lambda device: list(TENSORRT_FIRST))
    monkeypatch.setattr(ort_backend.ort, "InferenceSession", spy)
    return asked


def test_the_fp16_graph_goes_to_tensorrt_with_the_profile(engine, gpu_session):
    from pix2pix_stream.engines.runtime.fp16 import add_fp16_artifact

    add_fp16_artifact(engine, measure=False)
    backend = ort_backend.OnnxRuntimeBackend(engine, read_metadata(engine), max_batch=16)
    assert gpu_session["path"].endswith("model.fp16.onnx") and backend.info.precision == "fp16"
    trt = gpu_session["options"]["TensorrtExecutionProvider"]
    assert trt["trt_fp16_enable"] == "False"  # strongly typed: precision from the graph
    # The tiny engine takes any multiple of 128: min one multiple, opt the 16:9 compute size
    # (128 x 227 rounded up to 128 x 256), max 1088x1920 rounded up to the multiple.
    assert trt["trt_profile_min_shapes"] == "frames:1x128x128x3"
    assert trt["trt_profile_opt_shapes"] == "frames:8x128x256x3"
    assert trt["trt_profile_max_shapes"] == "frames:16x1152x1920x3"
    assert gpu_session["options"]["CUDAExecutionProvider"] == {}


def test_without_an_fp16_graph_tensorrt_builds_fp16_from_the_fp32_one(engine, gpu_session):
    backend = ort_backend.OnnxRuntimeBackend(engine, read_metadata(engine), max_batch=4)
    assert gpu_session["path"].endswith("model.onnx")
    trt = gpu_session["options"]["TensorrtExecutionProvider"]
    assert trt["trt_fp16_enable"] == "True"
    assert trt["trt_profile_opt_shapes"] == "frames:4x128x256x3"
    assert backend.info.precision == "fp32"  # the session ended on the CPU provider


def test_the_cpu_provider_alone_keeps_the_fp32_graph(engine):
    from pix2pix_stream.engines.runtime.fp16 import add_fp16_artifact

    add_fp16_artifact(engine, measure=False)
    backend = ort_backend.OnnxRuntimeBackend(engine, read_metadata(engine), device="cpu")
    assert backend.info.precision == "fp32" and backend.providers == ["CPUExecutionProvider"]


def test_the_cache_folder_of_a_read_only_engine_is_created_with_its_parents(
        engine, gpu_session, tmp_path, monkeypatch):
    """The provider makes only the last folder of trt_engine_cache_path; the user's cache
    folder may not exist yet on a fresh host."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh" / "cache"))
    monkeypatch.setattr("os.access", lambda path, mode: False)  # a read-only (mounted) engine
    ort_backend.OnnxRuntimeBackend(engine, read_metadata(engine))
    trt = gpu_session["options"]["TensorrtExecutionProvider"]
    cache = tmp_path / "fresh" / "cache" / "pix2pix-stream" / "ort_trt_cache" / "tiny"
    assert trt["trt_engine_cache_path"] == trt["trt_timing_cache_path"] == str(cache)
    assert cache.is_dir()


def test_no_cache_folder_to_be_had_means_no_cache_not_no_tensorrt(engine, gpu_session, tmp_path,
                                                                  monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr("os.access", lambda path, mode: False)
    with caplog.at_level(logging.WARNING, logger=ort_backend.__name__):
        ort_backend.OnnxRuntimeBackend(engine, read_metadata(engine))
    trt = gpu_session["options"]["TensorrtExecutionProvider"]
    assert "trt_engine_cache_enable" not in trt and trt["trt_fp16_enable"] == "True"
    assert "no TensorRT engine cache" in caplog.text


@pytest.mark.parametrize("spinning, entries", [
    ("always", {}),
    ("during-runs", {"session.force_spinning_stop": "1"}),
    ("never", {"session.intra_op.allow_spinning": "0"}),
])
def test_pool_threads_wait_for_work_as_asked(engine, spinning, entries):
    """ORT's spinning pool threads take a core from other threads between runs; a host that
    needs the CPU more than the last millisecond of latency has them sleep after each run
    ("during-runs") or between ops too ("never")."""
    backend = ort_backend.OnnxRuntimeBackend(engine, read_metadata(engine), device="cpu",
                                             spinning=spinning)
    options = backend._session.get_session_options()
    for key in ("session.force_spinning_stop", "session.intra_op.allow_spinning"):
        if key in entries:
            assert options.get_session_config_entry(key) == entries[key]
        else:
            with pytest.raises(RuntimeError, match="does not have configuration"):  # ORT default
                options.get_session_config_entry(key)


def test_spinning_modes_are_the_registrys(engine):
    from pix2pix_stream.engines.runtime.registry import SPINNING_MODES

    assert tuple(ort_backend.SPINNING) == SPINNING_MODES
    with pytest.raises(ValueError, match="spinning must be one of"):
        ort_backend.OnnxRuntimeBackend(engine, read_metadata(engine), device="cpu",
                                       spinning="sometimes")