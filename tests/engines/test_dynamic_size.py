"""Engines take any size their network allows: every backend at several sizes, int8 and fp16
graphs too; older fixed-size engines keep loading; a fixed-size graph is made dynamic without
re-exporting."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from pix2pix_stream.engines.runtime.errors import ExportError, InputError
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.onnx_graph import sha256_file
from pix2pix_stream.engines.runtime.registry import load_backend
from tests.engines.pixels import assert_parity, fix_graph_size, psnr

ROOT = Path(__file__).resolve().parents[2]
SIZES = [(128, 128), (128, 384), (256, 128)]  # (height, width): the trained square and two others


def frames_of(height: int, width: int, n: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / 64
    base = np.stack([np.sin(3 * x + 2 * y + i) * 0.5 + 0.5 for i in range(3)], axis=2)
    noisy = base[None] * rng.uniform(0.5, 1.0, (n, 1, 1, 1)) + rng.normal(0, 0.1, (n, *base.shape))
    return (255 * np.clip(noisy, 0, 1)).astype(np.uint8)


def test_export_records_the_geometry(tiny_engine_dir):
    meta = read_metadata(tiny_engine_dir)
    assert meta.is_dynamic and meta.size_multiple == 128
    assert (meta.min_size, meta.max_size) == ([128, 128], [2176, 3840])
    assert meta.trained_size["crop_size"] == 128
    geometry = meta.geometry
    assert geometry.allows(128, 384) and geometry.allows(2176 // 128 * 128, 3840)
    assert not geometry.allows(100, 128) and not geometry.allows(128, 3968)


@pytest.mark.parametrize("backend", ["torch", "openvino-fp32"])
def test_every_backend_matches_onnxruntime_at_every_size(tiny_engine_dir, backend):
    reference = load_backend(tiny_engine_dir, "onnxruntime", threads=1)
    other = load_backend(tiny_engine_dir, backend, threads=1)
    for height, width in SIZES + [(128, 384)]:  # a size seen before: OpenVINO's cached model
        batch = frames_of(height, width)
        got = other.infer(batch)
        assert got.shape == batch.shape
        assert_parity(got, reference.infer(batch))


def test_a_size_the_engine_does_not_take_is_a_typed_error(tiny_engine_dir):
    backend = load_backend(tiny_engine_dir, "onnxruntime", threads=1)
    for shape in [(1, 100, 128, 3), (1, 128, 3968, 3), (1, 64, 64, 3)]:
        with pytest.raises(InputError, match="multiples of 128"):
            backend.infer(np.zeros(shape, np.uint8))


def test_int8_keeps_the_quality_bar_at_more_than_one_size():
    """The shipped engine's int8 graph against its fp32 one, at 256x256 and 512x256."""
    pytest.importorskip("openvino")
    engine = ROOT / "engines" / "edges2facades"
    fp32 = load_backend(engine, "onnxruntime", threads=1)
    int8 = load_backend(engine, "openvino-int8", threads=1)
    transform = read_metadata(engine).transform
    for height, width in [(256, 256), (256, 512)]:
        batch = np.stack([transform(f) for f in frames_of(height, width, seed=3)])
        assert psnr(int8.infer(batch), fp32.infer(batch)) >= 35


def test_fp16_keeps_the_quality_bar_at_more_than_one_size(tiny_engine_dir, tmp_path):
    pytest.importorskip("onnxconverter_common")
    from pix2pix_stream.engines.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
    from pix2pix_stream.engines.runtime.fp16 import FP16_ONNX, convert_to_fp16

    engine = shutil.copytree(tiny_engine_dir, tmp_path / "engine")
    convert_to_fp16(engine / "model.onnx", engine / FP16_ONNX)
    meta = read_metadata(engine)
    fp32 = load_backend(engine, "onnxruntime", threads=1)
    fp16 = OnnxRuntimeBackend(engine, meta, device="cpu", onnx_file=FP16_ONNX, precision="fp16",
                              threads=1)
    for height, width in SIZES:
        batch = frames_of(height, width, seed=4)
        assert psnr(fp16.infer(batch), fp32.infer(batch)) >= 40


def _as_old_engine(engine: Path, size: int = 128) -> None:
    """Turns an engine into one exported before dynamic sizes: fixed graph dims, an engine.json
    without the geometry fields."""
    fix_graph_size(engine / "model.onnx", size, size)
    data = json.loads((engine / "engine.json").read_text())
    for key in ("size_multiple", "min_size", "max_size", "trained_size"):
        del data[key]
    data["onnx_sha256"] = sha256_file(engine / "model.onnx")
    (engine / "engine.json").write_text(json.dumps(data))


def test_an_older_engine_without_geometry_loads_as_fixed_size(tiny_engine_dir, tmp_path):
    engine = shutil.copytree(tiny_engine_dir, tmp_path / "old")
    _as_old_engine(engine)
    meta = read_metadata(engine)
    assert not meta.is_dynamic and meta.geometry.fixed == (128, 128)
    assert "size_multiple" not in meta.to_dict()  # rewriting it keeps it an old engine.json
    for name in ("onnxruntime", "openvino-fp32", "torch"):
        backend = load_backend(engine, name, threads=1)
        assert backend.infer(frames_of(128, 128)).shape == (2, 128, 128, 3)
        with pytest.raises(InputError, match="128x128 only"):
            backend.infer(frames_of(128, 256))


def test_a_fixed_size_engine_is_made_dynamic_with_identical_frames(tiny_engine_dir, tmp_path):
    from pix2pix_stream.engines.build.dynamic_size import make_engine_dynamic

    engine = shutil.copytree(tiny_engine_dir, tmp_path / "old")
    _as_old_engine(engine)
    batch = frames_of(128, 128, seed=5)
    before = load_backend(engine, "onnxruntime", threads=1).infer(batch)
    fields = make_engine_dynamic(engine)
    assert fields["size_multiple"] == 128
    meta = read_metadata(engine)
    assert meta.is_dynamic and meta.onnx_sha256 == sha256_file(engine / "model.onnx")
    backend = load_backend(engine, "onnxruntime", threads=1)
    assert np.array_equal(backend.infer(batch), before)
    wide = frames_of(128, 384)
    assert_parity(backend.infer(wide), load_backend(tiny_engine_dir, "onnxruntime",
                                                    threads=1).infer(wide))
    with pytest.raises(ExportError, match="already"):
        make_engine_dynamic(engine)


def test_a_graph_with_size_dependent_ops_is_not_made_dynamic(tiny_engine_dir, tmp_path):
    from pix2pix_stream.engines.build.dynamic_size import declare_dynamic_size

    model = onnx.load(str(tiny_engine_dir / "model.onnx"))
    model.graph.node[3].op_type = "Reshape"
    with pytest.raises(ExportError, match="Reshape"):
        declare_dynamic_size(model)
