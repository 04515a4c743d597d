"""Which layers of the int8 graph stay float, and on which frames its PSNR is measured."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from pix2pix_stream.engines.build import int8
from pix2pix_stream.engines.build.int8 import INT8_ONNX, add_int8_artifact, split_given
from pix2pix_stream.engines.build.int8_layers import choose_float_layers, quantizable_layers
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME
from pix2pix_stream.engines.runtime.quality import QUALITY_BAR_DB, psnr
from tests.engines.pixels import frames

pytest.importorskip("onnxruntime.quantization")

BUNNY = Path(__file__).resolve().parents[2] / "engines" / "edges2bunny"
LAYERS = ["first", "a", "b", "c", "d", "last"]


def scripted(gains: dict[str, float], base: float = 35.0):
    """A score whose PSNR is ``base`` plus the gain of each extra float layer; records calls."""
    calls = []

    def score(float_layers: list[str]) -> float:
        calls.append(list(float_layers))
        return base + sum(gains.get(layer, 0.0) for layer in float_layers)
    return score, calls


def test_no_search_when_the_outermost_layers_hold_the_bar():
    score, calls = scripted({}, base=45.0)
    assert choose_float_layers(LAYERS, ["first", "last"], score, 40.0) == (["first", "last"], 45.0)
    assert calls == [["first", "last"]]


def test_the_most_sensitive_layers_are_kept_float_until_the_bar_holds():
    score, calls = scripted({"a": 1.0, "b": 4.0, "c": 2.0, "d": 0.5})
    kept, db = choose_float_layers(LAYERS, ["first", "last"], score, 40.5)
    assert kept == ["first", "last", "b", "c"] and db == 41.0
    assert calls[-1] == kept   # the graph written last is the chosen one


def test_one_layer_enough_still_ends_on_the_chosen_graph():
    """The most sensitive layer alone lifts it over the bar, but it was not the last layer
    measured alone: the search must measure (write) the chosen graph once more."""
    score, calls = scripted({"a": 6.0, "b": 1.0})
    kept, db = choose_float_layers(LAYERS, ["first", "last"], score, 40.0)
    assert kept == ["first", "last", "a"] and db == 41.0
    assert calls[-1] == kept


def test_the_search_stops_at_its_budget_and_at_layers_that_do_not_help():
    score, calls = scripted({"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0})
    kept, db = choose_float_layers(LAYERS, ["first", "last"], score, 99.0, max_extra=2)
    assert len(kept) == 4 and db == 37.0 and calls[-1] == kept
    score, calls = scripted({"a": -1.0})   # no layer gains anything kept float
    assert choose_float_layers(LAYERS, ["first", "last"], score, 99.0) == (["first", "last"], 35.0)
    assert calls[-1] == ["first", "last"]


def test_given_frames_split_into_calibration_and_measurement():
    given = np.arange(32)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    calibrate, measure = split_given(given)
    assert (len(calibrate), len(measure)) == (24, 8)
    assert not set(calibrate[:, 0, 0, 0]) & set(measure[:, 0, 0, 0])
    few, none = split_given(given[:4])
    assert len(few) == 4 and none is None


def _float_convolutions(onnx_path: Path) -> set[str]:
    """Conv / ConvTranspose nodes whose weight is not a dequantized int8 tensor."""
    graph = onnx.load(str(onnx_path)).graph
    dequantized = {node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    return {node.name for node in graph.node if node.op_type in ("Conv", "ConvTranspose")
            and node.input[1] not in dequantized}


def test_a_graph_below_the_bar_keeps_more_layers_float_and_records_them(tiny_engines_root, tmp_path,
                                                                       monkeypatch):
    """The real quantizer and ONNX Runtime, with a bar no int8 graph reaches: the search keeps
    the outermost layers and its whole budget float, the written graph has exactly those layers
    unquantized, and the recorded PSNR is the written graph's on the held-back given frames."""
    engine = shutil.copytree(tiny_engines_root / "tiny", tmp_path / "tiny")
    monkeypatch.setattr(int8, "QUALITY_BAR_DB", 1000.0)
    given = frames(12, size=128)
    entry = add_int8_artifact(engine, given)
    layers = quantizable_layers(engine / "model.onnx")
    assert len(entry["float_layers"]) == 5 and entry["float_layers"][:2] == [layers[0], layers[-1]]
    assert _float_convolutions(engine / INT8_ONNX) == set(entry["float_layers"])
    assert entry["calibration"].startswith("9 given frames")
    assert entry["psnr_measured_on"].startswith("3 given frames")
    import onnxruntime as ort
    measure = split_given(int8.prepare_calibration(read_metadata(engine), given))[1]
    fp32, got = (ort.InferenceSession(str(engine / name), providers=["CPUExecutionProvider"])
                 .run(None, {INPUT_NAME: measure})[0] for name in ("model.onnx", INT8_ONNX))
    assert psnr(got, fp32) == pytest.approx(entry["psnr_vs_fp32_db"], abs=0.01)
    assert not entry["holds_quality_bar"]


def test_the_shipped_video_engine_keeps_its_sensitive_layer_float():
    record = read_metadata(BUNNY).artifacts["onnx_int8"]
    assert record["holds_quality_bar"] and record["psnr_vs_fp32_db"] >= QUALITY_BAR_DB
    assert _float_convolutions(BUNNY / INT8_ONNX) == set(record["float_layers"])
    assert "/generator/encoder.1/conv/Conv" in record["float_layers"]


@pytest.mark.data
def test_the_shipped_video_engine_holds_the_bar_on_its_held_out_frames(shared_data):
    """What `auto` would serve on a VNNI CPU (OpenVINO int8), on frames no calibration saw."""
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.pix2pix.video_eval import ClipSpec, load_clip

    clip = shared_data / "video" / "bigbuckbunny_30s_720p.webm"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    meta = read_metadata(BUNNY)
    tail = load_clip(ClipSpec(str(clip), start=600, frames=8, stride=15), 256)
    batch = np.stack([meta.transform(np.ascontiguousarray(f[:, :256])) for f in tail])
    with load_backend(BUNNY, "openvino-int8") as openvino:
        got = openvino.infer(batch)
    assert psnr(got, load_backend(BUNNY, "onnxruntime").infer(batch)) >= QUALITY_BAR_DB
