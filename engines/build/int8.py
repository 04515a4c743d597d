"""int8 copy of an engine's graph (artifact ``onnx_int8``, file model.int8.onnx): static
quantization in ONNX QDQ form, per-channel int8 weights and uint8 activations for every Conv and
ConvTranspose, activation ranges calibrated (MinMax) on frames passed through the engine's own
input transform. OpenVINO runs it with int8 (VNNI) kernels: the fastest CPU route measured here
(see docs/engines.md), so `auto` prefers it, but only when the PSNR recorded at export against
the fp32 graph holds the quality bar.

The pixel work around the generator stays float: only convolutions are quantized.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from pix2pix_stream.engines.runtime.errors import ExportError
from pix2pix_stream.engines.runtime.metadata import INT8_ONNX, EngineMetadata, read_metadata
from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME, sha256_file
from pix2pix_stream.engines.runtime.quality import QUALITY_BAR_DB, probe_frames, psnr

CALIBRATION_FRAMES = 12


def varied_frames(n: int, height: int, width: int, seed: int) -> np.ndarray:
    """Four kinds of synthetic frames in turn: smooth gradients, the same with heavy noise,
    uniform noise, and flat-coloured rectangles with hard edges. The variety matters: activation
    ranges come from the widest calibration frame, and an input transform (Canny edges...) turns
    each kind into very different inputs (sparse to dense edge maps)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = i % 4
        if kind < 2:
            frame = probe_frames(1, height, width, seed=seed + i)[0].astype(np.float64)
            if kind == 1:
                frame = np.clip(frame + rng.normal(0, 40, frame.shape), 0, 255)
        elif kind == 2:
            frame = rng.integers(0, 256, (height, width, 3))
        else:
            frame = np.full((height, width, 3), rng.integers(0, 256, 3), np.float64)
            for _ in range(12):
                y0, x0 = rng.integers(0, height), rng.integers(0, width)
                y1, x1 = y0 + rng.integers(4, height // 2), x0 + rng.integers(4, width // 2)
                frame[y0:y1, x0:x1] = rng.integers(0, 256, 3)
        out.append(frame.astype(np.uint8))
    return np.stack(out)


def default_calibration(meta: EngineMetadata, n: int = CALIBRATION_FRAMES, seed: int = 100
                        ) -> np.ndarray:
    """Synthetic frames of varied kinds (varied_frames), through the engine's input transform."""
    return prepare_calibration(meta, varied_frames(n, meta.input_height, meta.input_width, seed))


def prepare_calibration(meta: EngineMetadata, frames) -> np.ndarray:
    """Camera-like uint8 RGB frames of any size -> the engine's inputs: resized to its input
    size, then through its input transform."""
    size = (meta.input_width, meta.input_height)
    transform = meta.transform
    out = []
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ExportError(f"calibration frame {i}: expected uint8 [H, W, 3], got "
                              f"{frame.dtype} {list(frame.shape)}")
        if frame.shape[1::-1] != size:
            import cv2

            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        out.append(frame if transform.is_identity else transform(frame))
    if not out:
        raise ExportError("no calibration frames")
    return np.stack(out)


QUANTIZED_OPS = ["Conv", "ConvTranspose"]


def _quantize(src: Path, dst: Path, calibration: np.ndarray) -> None:
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class Batches(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{INPUT_NAME: calibration[i:i + 2]}
                                  for i in range(0, len(calibration), 2)])

        def get_next(self):
            return next(self._batches, None)

    with tempfile.TemporaryDirectory() as tmp:  # the quantizer writes helper models here
        tmp_out = Path(tmp) / dst.name
        quantize_static(str(src), str(tmp_out), Batches(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OPS,
                        nodes_to_exclude=outermost_layers(src),
                        extra_options={"CalibTensorRangeSymmetric": False})
        shutil.move(tmp_out, dst)


def outermost_layers(onnx_path: Path) -> list[str]:
    """The generator's first convolution and last transposed convolution: the layers most
    sensitive to int8 (they see raw pixels and write the output itself) and the cheapest (3
    channels on one side), so they stay float. Measured on the shipped edges2facades engine:
    39.1 dB with every layer int8, 41.5 dB with these two kept float."""
    import onnx

    layers = [node.name for node in onnx.load(str(onnx_path), load_external_data=False).graph.node
              if node.op_type in QUANTIZED_OPS]
    return [layers[0], layers[-1]] if len(layers) > 2 else []


def measure_int8_psnr(engine_dir: Path, meta: EngineMetadata, frames: np.ndarray) -> float:
    """PSNR of the int8 graph against fp32, both under ONNX Runtime on the CPU (OpenVINO gives
    the same frames to within a grey level on the QDQ graph)."""
    import onnxruntime as ort

    outputs = [ort.InferenceSession(str(engine_dir / f), providers=["CPUExecutionProvider"])
               .run(None, {INPUT_NAME: frames})[0] for f in (meta.onnx_file, INT8_ONNX)]
    return psnr(*outputs)


def add_int8_artifact(engine_dir: str | os.PathLike, calibration=None) -> dict:
    """Writes model.int8.onnx, measures it on frames other than the calibration ones and records
    it in engine.json; returns the artifact record (with ``psnr_vs_fp32_db``). ``calibration``:
    camera-like uint8 RGB frames of any size (prepare_calibration), or None for synthetic ones."""
    import logging

    from pix2pix_stream.engines.runtime.model_card import update_metadata

    engine_dir = Path(engine_dir)
    meta = read_metadata(engine_dir)
    if calibration is None:
        calibration, source = default_calibration(meta), "synthetic frames"
    else:
        calibration, source = prepare_calibration(meta, calibration), "given frames"
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs advice at WARNING on root
    try:
        _quantize(engine_dir / meta.onnx_file, engine_dir / INT8_ONNX, calibration)
    finally:
        logging.getLogger().setLevel(quiet)
    db = measure_int8_psnr(engine_dir, meta, default_calibration(meta, n=8, seed=7))
    entry = {"file": INT8_ONNX, "sha256": sha256_file(engine_dir / INT8_ONNX), "precision": "int8",
             "scheme": "static QDQ: per-channel int8 weights, uint8 activations, Conv/ConvTranspose "
                       "but the first and last layer, which stay float",
             "calibration": f"{len(calibration)} {source} through the input transform",
             "psnr_measured_on": "8 varied synthetic frames (not the calibration ones) through "
                                 "the input transform, ONNX Runtime",
             "psnr_vs_fp32_db": round(db, 2), "holds_quality_bar": db >= QUALITY_BAR_DB}
    update_metadata(engine_dir, artifacts={**meta.artifacts, "onnx_int8": entry})
    return entry
