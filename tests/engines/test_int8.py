"""The int8 artifact: made at export, measured against fp32, run by OpenVINO, chosen by `auto`
only while it holds the 40 dB bar."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from pix2pix_stream.engines.runtime.errors import BackendUnavailableError, ExportError
from pix2pix_stream.engines.build.export import export_generator
from pix2pix_stream.engines.runtime.hardware import cpu_has_vnni
from pix2pix_stream.engines.build.int8 import INT8_ONNX, add_int8_artifact, prepare_calibration
from pix2pix_stream.engines.runtime.metadata import read_metadata, write_metadata
from pix2pix_stream.engines.runtime.onnx_graph import sha256_file
from pix2pix_stream.engines.runtime import registry
from pix2pix_stream.engines.runtime.registry import load_backend
from pix2pix_stream.engines.build.synthetic import synthetic_generator
from tests.engines.pixels import frames, psnr

pytest.importorskip("openvino")

SHIPPED = Path(__file__).resolve().parents[2] / "engines" / "edges2facades"


@pytest.fixture(scope="module")
def int8_root(tiny_engines_root, tmp_path_factory):
    """The shared tiny engines (made without int8), with the int8 artifact added."""
    root = shutil.copytree(tiny_engines_root, tmp_path_factory.mktemp("int8") / "engines")
    for engine in ("tiny", "tiny-canny"):
        add_int8_artifact(root / engine)
    return root


@pytest.fixture(scope="module")
def int8_engine(int8_root):
    return int8_root / "tiny"


@pytest.fixture
def engine_copy(int8_engine, tmp_path):
    return shutil.copytree(int8_engine, tmp_path / "copy")


def test_artifact_is_recorded_and_quantizes_the_convolutions(int8_engine):
    entry = read_metadata(int8_engine).artifacts["onnx_int8"]
    assert entry["file"] == INT8_ONNX and entry["precision"] == "int8"
    assert entry["sha256"] == sha256_file(int8_engine / INT8_ONNX)
    assert entry["psnr_vs_fp32_db"] >= 40 and entry["holds_quality_bar"] is True
    ops = [n.op_type for n in onnx.load(str(int8_engine / INT8_ONNX)).graph.node]
    assert ops.count("QuantizeLinear") >= 14 and "Round" in ops  # convs quantized, pixel work kept
    graph = onnx.load(str(int8_engine / INT8_ONNX)).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8


@pytest.mark.parametrize("engine", ["tiny", "tiny-canny"])
def test_openvino_int8_quality_and_batch_independence(int8_root, engine):
    engine_dir = int8_root / engine
    transform = read_metadata(engine_dir).transform
    batch = np.stack([transform(f) for f in frames(8, seed=9)])  # what the server feeds it
    int8 = load_backend(engine_dir, "openvino-int8")
    assert (int8.info.backend, int8.info.precision) == ("openvino", "int8")
    together = int8.infer(batch)
    assert psnr(together, load_backend(engine_dir, "onnxruntime").infer(batch)) >= 40
    for i in (0, 6):
        np.testing.assert_array_equal(int8.infer(batch[i:i + 1])[0], together[i])


@pytest.mark.skipif(not cpu_has_vnni(), reason="auto prefers int8 only on CPUs with VNNI")
def test_auto_prefers_int8_on_this_cpu(int8_engine):
    info = load_backend(int8_engine).info
    assert (info.backend, info.precision) == ("openvino", "int8")


@pytest.fixture
def vnni_cpu(monkeypatch):
    """auto's candidates as on a CPU with VNNI and no native bf16 (openvino-int8 first, then
    onnxruntime), whatever CPU runs the test: the gate is tested on every host."""
    monkeypatch.setattr(registry, "tensorrt_gpu_available", lambda: False)
    monkeypatch.setattr(registry, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(registry, "cpu_has_vnni", lambda: True)
    assert registry.auto_order()[:2] == ("openvino-int8", "onnxruntime")


def record_psnr(engine, db: float | None) -> None:
    meta = read_metadata(engine)
    entry = {**meta.artifacts["onnx_int8"], "psnr_vs_fp32_db": db,
             "holds_quality_bar": db is not None and db >= 40}
    write_metadata(engine, meta.with_changes(artifacts={**meta.artifacts, "onnx_int8": entry}))


@pytest.mark.parametrize("db, takes_int8", [(31.0, False), (39.9, False), (39.99, False),
                                            (40.0, True), (40.1, True), (None, False)])
def test_auto_takes_int8_only_at_or_above_the_40_db_bar(engine_copy, vnni_cpu, db, takes_int8):
    record_psnr(engine_copy, db)
    info = load_backend(engine_copy).info
    expected = ("openvino", "int8") if takes_int8 else ("onnxruntime", "fp32")
    assert (info.backend, info.precision) == expected


def test_int8_asked_for_by_name_loads_below_the_bar(engine_copy):
    record_psnr(engine_copy, 31.0)
    assert load_backend(engine_copy, "openvino-int8").info.precision == "int8"


def test_the_shipped_engines_recorded_int8_psnr_is_what_it_measures():
    """`auto` trusts engine.json's psnr_vs_fp32_db; measured again the way it was recorded (ONNX
    Runtime, the 8 synthetic frames add_int8_artifact uses), it must agree, and OpenVINO, which
    `auto` runs the int8 graph with, must hold the bar on the same frames."""
    import onnxruntime as ort

    from pix2pix_stream.engines.build.int8 import default_calibration
    from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME
    from pix2pix_stream.engines.runtime.quality import QUALITY_BAR_DB

    meta = read_metadata(SHIPPED)
    record = meta.artifacts["onnx_int8"]
    assert record["sha256"] == sha256_file(SHIPPED / record["file"])
    batch = default_calibration(meta, n=8, seed=7)
    fp32, int8 = (ort.InferenceSession(str(SHIPPED / name), providers=["CPUExecutionProvider"])
                  .run(None, {INPUT_NAME: batch})[0] for name in (meta.onnx_file, record["file"]))
    assert psnr(int8, fp32) == pytest.approx(record["psnr_vs_fp32_db"], abs=0.1)
    assert record["holds_quality_bar"] == (record["psnr_vs_fp32_db"] >= QUALITY_BAR_DB)
    with load_backend(SHIPPED, "openvino-int8") as openvino:
        assert psnr(openvino.infer(batch), fp32) >= QUALITY_BAR_DB


def test_engine_without_int8(tmp_path):
    engine = export_generator(synthetic_generator(seed=2), tmp_path / "e", name="e", input_size=128)
    assert not (engine / INT8_ONNX).exists()
    with pytest.raises(BackendUnavailableError, match="onnx_int8 artifact"):
        load_backend(engine, "openvino-int8")
    assert load_backend(engine).info.precision != "int8"


def test_calibration_frames_of_any_size_go_through_the_transform(int8_root, tmp_path):
    engine = shutil.copytree(int8_root / "tiny-canny", tmp_path / "canny")
    meta = read_metadata(engine)
    camera = [np.full((90, 160, 3), v, np.uint8) for v in (0, 128)] + list(frames(2, size=200))
    prepared = prepare_calibration(meta, camera)
    assert prepared.shape == (4, 128, 128, 3)
    assert set(np.unique(prepared)) <= {0, 255}  # Canny edge maps, not the raw frames
    entry = add_int8_artifact(engine, camera)
    assert entry["calibration"].startswith("4 given frames")
    with pytest.raises(ExportError, match="calibration frame 0"):
        prepare_calibration(meta, [np.zeros((8, 8), np.uint8)])


def test_reexport_removes_stale_artifacts(engine_copy):
    (engine_copy / "model.fp16.sm90.trt10.8.0.43.plan").write_bytes(b"old plan")
    export_generator(synthetic_generator(seed=3), engine_copy, name="again", input_size=128)
    assert not (engine_copy / INT8_ONNX).exists()
    assert not (engine_copy / "model.fp16.sm90.trt10.8.0.43.plan").exists()
    assert read_metadata(engine_copy).artifacts == {}


@pytest.mark.data
def test_int8_holds_the_bar_on_real_photos_and_label_maps(int8_engine, shared_data):
    """Calibrated on synthetic frames only, the int8 graph still holds 40 dB on real images."""
    import cv2

    files = sorted((shared_data / "facades" / "train").glob("*.jpg"))[:6]
    assert files, "facades images missing"
    halves = []
    for path in files:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        width = image.shape[1] // 2
        halves += [cv2.resize(image[:, :width], (128, 128)), cv2.resize(image[:, width:], (128, 128))]
    batch = np.stack(halves)
    got = load_backend(int8_engine, "openvino-int8").infer(batch)
    assert psnr(got, load_backend(int8_engine, "onnxruntime").infer(batch)) >= 40
