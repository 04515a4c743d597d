"""Output quality of a reduced-precision route against the fp32 ONNX Runtime frames."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# The PSNR against the fp32 frames that a reduced-precision route must keep.
QUALITY_BAR_DB = 40.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (inf when identical)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def probe_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth, varied frames (gradients with noise): closer to video than uniform noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    y, x = y / height, x / width
    out = []
    for _ in range(n):
        phase = rng.uniform(0, 6, 3)
        img = np.stack([np.sin(5 * x + 3 * y + p) for p in phase], 2) * 0.4 + 0.5
        out.append(np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1) * 255)
    return np.stack(out).astype(np.uint8)


def fp16_psnr(engine_dir: str | os.PathLike, frames: int = 2) -> float:
    """PSNR of model.fp16.onnx against model.onnx, both under ONNX Runtime on the CPU."""
    import onnxruntime as ort

    from pix2pix_stream.engines.runtime.metadata import FP16_ONNX, read_metadata
    from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME

    engine_dir = Path(engine_dir)
    meta = read_metadata(engine_dir)
    batch = probe_frames(frames, meta.input_height, meta.input_width)
    outputs = [ort.InferenceSession(str(engine_dir / f), providers=["CPUExecutionProvider"])
               .run(None, {INPUT_NAME: batch})[0] for f in (meta.onnx_file, FP16_ONNX)]
    return psnr(*outputs)
