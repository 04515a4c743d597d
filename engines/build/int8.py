"""int8 copy of an engine's graph (artifact ``onnx_int8``, file model.int8.onnx): static
quantization in ONNX QDQ form, per-channel int8 weights and uint8 activations for the Conv and
ConvTranspose layers (but those int8_layers keeps float: the outermost two, and more only where
the graph would miss the quality bar), activation ranges calibrated (MinMax) on frames passed
through the engine's own input transform. OpenVINO runs it with int8 (VNNI) kernels: the
fastest CPU route measured here (see docs/engines.md), so `auto` prefers it, but only when the
PSNR recorded at export against the fp32 graph holds the quality bar.

The pixel work around the generator stays float: only convolutions are quantized.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from pix2pix_stream.engines.build.int8_layers import (QUANTIZED_OPS, choose_float_layers,
                                                     outermost_layers, quantizable_layers)
from pix2pix_stream.engines.runtime.errors import ExportError
from pix2pix_stream.engines.runtime.metadata import INT8_ONNX, EngineMetadata, read_metadata
from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME, sha256_file
from pix2pix_stream.engines.runtime.quality import QUALITY_BAR_DB, probe_frames, psnr

CALIBRATION_FRAMES = 12
MEASURE_EVERY = 4          # of given calibration frames, every 4th measures instead
MIN_GIVEN_TO_SPLIT = 8     # fewer given frames: all calibrate, synthetic ones measure


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


def _quantize(src: Path, dst: Path, calibration: np.ndarray, float_layers: list[str]) -> None:
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
                        nodes_to_exclude=float_layers,
                        extra_options={"CalibTensorRangeSymmetric": False})
        shutil.move(tmp_out, dst)


def _run_cpu(onnx_path: Path, frames: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]) \
        .run(None, {INPUT_NAME: frames})[0]


def split_given(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(frames to calibrate on, frames to measure on, or None for synthetic ones). Given frames
    of the engine's own domain measure it better than synthetic ones: the synthetic set's noise
    frames make edge maps denser than any real frame's, which activation ranges calibrated on
    real frames clip (edges2bunny: 31.9 dB on them, 39.4 dB on its held-out frames). Every
    MEASURE_EVERY-th frame is held back for that, when there are enough."""
    if len(frames) < MIN_GIVEN_TO_SPLIT:
        return frames, None
    held = np.zeros(len(frames), bool)
    held[MEASURE_EVERY - 1::MEASURE_EVERY] = True
    return frames[~held], frames[held]


def quantize_engine(engine_dir: Path, meta: EngineMetadata, calibration: np.ndarray,
                    measure: np.ndarray) -> tuple[list[str], float]:
    """Writes model.int8.onnx with the fewest float layers that hold the bar (int8_layers);
    returns (those layers, its PSNR against fp32 on ``measure``)."""
    src, dst = engine_dir / meta.onnx_file, engine_dir / INT8_ONNX
    reference = _run_cpu(src, measure)

    def score(float_layers: list[str]) -> float:
        _quantize(src, dst, calibration, float_layers)
        return psnr(reference, _run_cpu(dst, measure))

    layers = quantizable_layers(src)
    # The search's last graph written is the chosen one.
    return choose_float_layers(layers, outermost_layers(layers), score, QUALITY_BAR_DB)


def add_int8_artifact(engine_dir: str | os.PathLike, calibration=None) -> dict:
    """Writes model.int8.onnx, measures it on frames other than the calibration ones and records
    it in engine.json; returns the artifact record (with ``psnr_vs_fp32_db``). ``calibration``:
    camera-like uint8 RGB frames of any size (prepare_calibration), or None for synthetic ones."""
    import logging

    from pix2pix_stream.engines.runtime.model_card import update_metadata

    engine_dir = Path(engine_dir)
    meta = read_metadata(engine_dir)
    measure = None
    if calibration is None:
        calibration, source = default_calibration(meta), "synthetic frames"
    else:
        calibration, source = prepare_calibration(meta, calibration), "given frames"
        calibration, measure = split_given(calibration)
    if measure is None:
        measure, measured_on = default_calibration(meta, n=8, seed=7), \
            "8 varied synthetic frames (not the calibration ones) through the input transform"
    else:
        measured_on = f"{len(measure)} given frames (not the calibration ones) through the " \
                      "input transform"
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs advice at WARNING on root
    try:
        float_layers, db = quantize_engine(engine_dir, meta, calibration, measure)
    finally:
        logging.getLogger().setLevel(quiet)
    entry = {"file": INT8_ONNX, "sha256": sha256_file(engine_dir / INT8_ONNX), "precision": "int8",
             "scheme": "static QDQ: per-channel int8 weights, uint8 activations, Conv/ConvTranspose "
                       "but the float_layers, which stay float",
             "float_layers": float_layers,
             "calibration": f"{len(calibration)} {source} through the input transform",
             "psnr_measured_on": f"{measured_on}, ONNX Runtime",
             "psnr_vs_fp32_db": round(db, 2), "holds_quality_bar": db >= QUALITY_BAR_DB}
    update_metadata(engine_dir, artifacts={**meta.artifacts, "onnx_int8": entry})
    return entry
