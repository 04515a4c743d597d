"""Backend choice, engine discovery and the typed errors of loading and inference."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pix2pix_stream.engines.runtime import registry
from pix2pix_stream.engines.runtime.errors import (BackendUnavailableError, CorruptEngineError, EngineNotFoundError,
                            InputError, MetadataMismatchError)
from pix2pix_stream.engines.runtime.metadata import read_metadata, write_metadata
from pix2pix_stream.engines.runtime.registry import discover_engines, load_backend
from tests.engines.pixels import fix_graph_size


@pytest.fixture
def engine_copy(tiny_engine_dir, tmp_path):
    return shutil.copytree(tiny_engine_dir, tmp_path / "copy")


def test_discover_lists_engines_sorted_by_name(tiny_engines_root):
    found = discover_engines(tiny_engines_root)
    assert [meta.name for _, meta in found] == ["tiny", "tiny-canny"]
    assert all((path / "model.onnx").is_file() for path, _ in found)


def test_discover_skips_broken_and_empty_folders(tiny_engines_root, tmp_path):
    shutil.copytree(tiny_engines_root / "tiny", tmp_path / "good")
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "engine.json").write_text("{not json")
    assert [m.name for _, m in discover_engines(tmp_path)] == ["tiny"]
    with pytest.raises(EngineNotFoundError):
        discover_engines(tmp_path / "nope")


def test_onnxruntime_backend_info_and_shape(tiny_engine_dir):
    with load_backend(tiny_engine_dir, "onnxruntime", max_batch=4) as backend:
        info = backend.info
        assert (info.name, info.backend, info.max_batch, info.precision) == ("tiny", "onnxruntime", 4, "fp32")
        out = backend.infer(np.zeros((6, 128, 128, 3), np.uint8))  # > max_batch: run in slices
        assert out.shape == (6, 128, 128, 3) and out.dtype == np.uint8


def test_auto_loads_something_that_runs(tiny_engine_dir):
    backend = load_backend(tiny_engine_dir)
    assert backend.info.backend in {"torch", "openvino", "onnxruntime", "tensorrt"}
    assert backend.infer(np.zeros((1, 128, 128, 3), np.uint8)).shape == (1, 128, 128, 3)


def test_auto_falls_back_when_a_backend_is_unavailable(tiny_engine_dir, monkeypatch):
    monkeypatch.setattr(registry, "auto_order", lambda: ("tensorrt", "no-such", "onnxruntime"))
    assert load_backend(tiny_engine_dir).info.backend == "onnxruntime"


@pytest.mark.parametrize("batch, problem", [
    (np.zeros((1, 128, 128, 3), np.float32), "dtype uint8"),
    (np.zeros((1, 64, 64, 3), np.uint8), r"multiples of 128 .* got \[1, 64, 64, 3\]"),
    (np.zeros((1, 128, 200, 3), np.uint8), r"multiples of 128"),
    (np.zeros((128, 128, 3), np.uint8), r"got \[128, 128, 3\]"),
    (np.zeros((0, 128, 128, 3), np.uint8), r"got \[0, 128, 128, 3\]"),
    ([[0]], "numpy array"),
])
def test_wrong_input_is_a_typed_error(tiny_engine_dir, batch, problem):
    backend = load_backend(tiny_engine_dir, "onnxruntime")
    with pytest.raises(InputError, match=problem):
        backend.infer(batch)


def test_missing_directory_and_model_file(engine_copy, tmp_path):
    with pytest.raises(EngineNotFoundError):
        load_backend(tmp_path / "nowhere")
    (engine_copy / "model.onnx").unlink()
    for name in ("onnxruntime", "torch", "openvino"):
        with pytest.raises(EngineNotFoundError, match="model.onnx"):
            load_backend(engine_copy, name)


def test_corrupt_model_file(engine_copy):
    data = (engine_copy / "model.onnx").read_bytes()
    (engine_copy / "model.onnx").write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptEngineError, match="model.onnx"):
        load_backend(engine_copy, "onnxruntime")


def test_corrupt_engine_json(engine_copy):
    (engine_copy / "engine.json").write_text("[1, 2")
    with pytest.raises(CorruptEngineError, match="engine.json"):
        load_backend(engine_copy, "onnxruntime")
    (engine_copy / "engine.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(CorruptEngineError, match="input_height, input_width"):
        load_backend(engine_copy, "onnxruntime")


def _fix_graph_size(engine_dir, height: int, width: int) -> None:
    """model.onnx declared fixed at height x width, with its new hash recorded (changed on
    purpose, so the load-time sha256 check must not be what fails)."""
    from pix2pix_stream.engines.runtime.onnx_graph import sha256_file

    fix_graph_size(engine_dir / "model.onnx", height, width)
    meta = read_metadata(engine_dir)
    write_metadata(engine_dir, meta.with_changes(onnx_sha256=sha256_file(engine_dir / "model.onnx")))


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_metadata_that_does_not_match_the_graph(engine_copy, backend):
    _fix_graph_size(engine_copy, 128, 128)
    meta = read_metadata(engine_copy)
    write_metadata(engine_copy, meta.with_changes(size_multiple=None, input_width=256))
    with pytest.raises(MetadataMismatchError, match=r"\[N, 128, 256, 3\]"):
        load_backend(engine_copy, backend)
    write_metadata(engine_copy, meta)  # dynamic engine.json, fixed-size graph
    with pytest.raises(MetadataMismatchError, match="dynamic H and W"):
        load_backend(engine_copy, backend)


def test_torch_backend_checks_generator_config_against_weights(engine_copy):
    meta = read_metadata(engine_copy)
    write_metadata(engine_copy, meta.with_changes(generator={**meta.generator, "ngf": 16}))
    with pytest.raises(MetadataMismatchError, match="does not hold the weights"):
        load_backend(engine_copy, "torch")


def test_unknown_backend(tiny_engine_dir):
    with pytest.raises(BackendUnavailableError, match="unknown backend 'cuda-magic'"):
        load_backend(tiny_engine_dir, "cuda-magic")


def test_server_side_imports_stay_light():
    """The server imports registry, metadata, transforms and backend; none may pull a backend's
    heavy package before a backend is chosen."""
    import subprocess
    import sys

    code = ("import sys, pix2pix_stream.engines.runtime.registry, pix2pix_stream.engines.runtime.metadata, pix2pix_stream.media.transforms, pix2pix_stream.engines.runtime.backend;"
            "print([m for m in ('torch', 'onnx', 'onnxruntime', 'openvino', 'tensorrt', 'cv2')"
            " if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_onnxruntime_backend_does_not_import_torch(tiny_engine_dir):
    import subprocess
    import sys

    code = (f"import sys; from pix2pix_stream.engines.runtime.registry import load_backend;"
            f"load_backend({str(tiny_engine_dir)!r}, 'onnxruntime');"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_auto_serves_with_the_next_backend_when_the_plan_is_for_another_gpu(
        tiny_engine_dir, monkeypatch, caplog):
    """Unit test of the fallback alone: a stand-in tensorrt backend that reports a mismatch."""
    from pix2pix_stream.engines.runtime.errors import EngineVersionMismatchError

    real_load = registry._load_one

    def load(name, *args, **kwargs):
        if name == "tensorrt":
            raise EngineVersionMismatchError("plan for sm86; rebuild with: pix2pix-export ...")
        return real_load(name, *args, **kwargs)

    monkeypatch.setattr(registry, "auto_order", lambda: ("tensorrt", "onnxruntime"))
    monkeypatch.setattr(registry, "_load_one", load)
    assert load_backend(tiny_engine_dir).info.backend == "onnxruntime"
    assert "rebuild with" in caplog.text
    with pytest.raises(EngineVersionMismatchError):
        load_backend(tiny_engine_dir, "tensorrt")


@pytest.mark.parametrize("gpu, bf16, vnni, expected", [
    (True, True, True, registry.GPU_ORDER),
    (False, True, True, registry.CPU_ORDER_BF16),
    (False, False, True, registry.CPU_ORDER_VNNI),
    (False, False, False, registry.CPU_ORDER_FP32),
])
def test_auto_order_follows_the_host(monkeypatch, gpu, bf16, vnni, expected):
    monkeypatch.setattr(registry, "tensorrt_gpu_available", lambda: gpu)
    monkeypatch.setattr(registry, "cpu_has_bf16", lambda: bf16)
    monkeypatch.setattr(registry, "cpu_has_vnni", lambda: vnni)
    assert registry.auto_order() == expected


def test_onnxruntime_uses_gpu_providers_when_the_build_has_them(monkeypatch):
    from pix2pix_stream.engines.runtime.backends import onnxruntime_backend as ortb

    gpu_build = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ortb.ort, "get_available_providers", lambda: gpu_build)
    assert ortb.choose_providers("auto") == gpu_build
    assert ortb.choose_providers("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setattr(ortb.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert ortb.choose_providers("auto") == ["CPUExecutionProvider"]
    with pytest.raises(BackendUnavailableError, match="no CUDA execution provider"):
        ortb.choose_providers("cuda")


def test_torch_backend_imports_the_model_definition_but_no_training_code(tiny_engine_dir):
    """The server may run the torch backend; it rebuilds the generator from pix2pix_stream.networks.models and
    must not pull in the training loop, losses, data pipeline or TensorBoard."""
    import subprocess
    import sys

    code = (f"import sys; from pix2pix_stream.engines.runtime.registry import load_backend;"
            f"load_backend({str(tiny_engine_dir)!r}, 'torch');"
            "print(sorted(m for m in sys.modules if m.startswith(('pix2pix_stream.pix2pix', 'pix2pix_stream.networks')) or m == 'tensorboard'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['pix2pix_stream.networks', 'pix2pix_stream.networks.models']"


def test_ort_tensorrt_cache_moves_to_the_user_cache_for_read_only_engines(tmp_path, monkeypatch):
    from pix2pix_stream.engines.runtime.backends.onnxruntime_backend import ort_trt_cache_dir

    engine = tmp_path / "facades"
    engine.mkdir()
    assert ort_trt_cache_dir(engine) == engine / "ort_trt_cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("os.access", lambda path, mode: False)
    assert ort_trt_cache_dir(engine) == tmp_path / "cache" / "pix2pix-stream" / "ort_trt_cache" / "facades"


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino-fp32", "torch", "auto"])
def test_the_spinning_hint_reaches_onnx_runtime_and_no_other_backend(tiny_engine_dir, backend):
    """A server passes spinning= whatever backend it gets: ONNX Runtime takes it, a backend
    whose threads do not spin is loaded without it; other unknown options still fail."""
    if backend.startswith("openvino"):
        pytest.importorskip("openvino")
    with load_backend(tiny_engine_dir, backend, spinning="during-runs") as loaded:
        assert loaded.infer(np.zeros((1, 128, 128, 3), np.uint8)).shape == (1, 128, 128, 3)
        if loaded.info.backend == "onnxruntime":
            options = loaded._session.get_session_options()
            assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    with pytest.raises(TypeError):
        load_backend(tiny_engine_dir, "torch", spinnning="during-runs")
