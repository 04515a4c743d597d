"""fp16 copy of an engine's ONNX graph (artifact ``onnx_fp16``): the input to a strongly typed
TensorRT build, where precision comes from the graph's tensor types (TensorRT 11 has no FP16
builder flag) and to ONNX Runtime's CUDA provider. The pixel work around the generator (uint8
<-> float scaling and the rounding to uint8) stays fp32: fp16 has 1/8-level resolution near 255,
too coarse to round to the same grey levels as fp32."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from pix2pix_stream.engines.runtime.errors import ExportError
from pix2pix_stream.engines.runtime.metadata import FP16_ONNX, read_metadata
from pix2pix_stream.engines.runtime.onnx_graph import load_onnx, sha256_file

# Node names of the TorchScript exporter: generator layers are "/generator/...".
_GENERATOR_SCOPE = "/generator/"


def pixel_work_nodes(model) -> list[str]:
    return [n.name for n in model.graph.node if not n.name.startswith(_GENERATOR_SCOPE)]


def convert_to_fp16(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Writes the fp16 version of ``src`` to ``dst`` and checks it with onnx.checker."""
    import onnx
    from onnxconverter_common import float16

    model = load_onnx(src)
    with warnings.catch_warnings():
        # One warning per weight smaller than fp16's smallest normal; they are flushed, harmlessly.
        warnings.simplefilter("ignore", UserWarning)
        converted = float16.convert_float_to_float16(
            model, keep_io_types=True, node_block_list=pixel_work_nodes(model))
    try:
        onnx.checker.check_model(converted)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"fp16 conversion of {src} gave an invalid graph: {exc}") from exc
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp")
    onnx.save(converted, str(tmp))
    os.replace(tmp, dst)
    return dst


def add_fp16_artifact(engine_dir: str | os.PathLike, *, measure: bool = True) -> dict:
    """Writes model.fp16.onnx beside model.onnx, measures its PSNR against fp32 under ONNX
    Runtime (``measure``) and records it in engine.json; returns the artifact record."""
    from pix2pix_stream.engines.runtime.model_card import update_metadata
    from pix2pix_stream.engines.runtime.quality import fp16_psnr

    engine_dir = Path(engine_dir)
    meta = read_metadata(engine_dir)
    path = convert_to_fp16(engine_dir / meta.onnx_file, engine_dir / FP16_ONNX)
    entry = {"file": FP16_ONNX, "sha256": sha256_file(path), "precision": "fp16",
             "io": "uint8 (pixel work kept in fp32)"}
    if measure:
        entry["psnr_vs_fp32_db"] = round(fp16_psnr(engine_dir), 2)
    update_metadata(engine_dir, artifacts={**meta.artifacts, "onnx_fp16": entry})
    return entry
