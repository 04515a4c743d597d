"""Making an engine exported with a fixed height and width take any size, without re-exporting.

Engines exported before dynamic sizes have graphs whose input and output are declared
``[batch, 256, 256, 3]``. The U-Net inside has no shape constants (convolutions, BatchNorm,
concatenations, element-wise ops only), so the fixed dims are a declaration and nothing more:
declaring them symbolic, dropping the recorded intermediate shapes and running ONNX shape
inference gives the same graph for every size. ``make_engine_dynamic`` does that for model.onnx
and every ONNX artifact (int8, fp16), checks that ONNX Runtime gives byte-identical frames at
the old size and runs a wider one, and records the geometry in engine.json.

    python -m pix2pix_stream.engines.build.dynamic_size engines/edges2facades
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from pix2pix_stream.engines.build.export import geometry_fields
from pix2pix_stream.engines.runtime.errors import EngineError, ExportError
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.model_card import update_metadata
from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME, load_onnx, sha256_file
from pix2pix_stream.networks.models import GeneratorConfig

# Ops whose output shape follows their input's whatever the size; anything else (Reshape,
# Resize, Slice with constants...) might bake the old size in.
SIZE_FREE_OPS = {"BatchNormalization", "Conv", "ConvTranspose", "Relu", "LeakyRelu", "Concat",
                 "Constant", "Cast", "Transpose", "Div", "Sub", "Tanh", "Add", "Mul", "Round",
                 "Clip", "Identity", "QuantizeLinear", "DequantizeLinear", "Dropout"}


def declare_dynamic_size(model) -> None:
    """Makes the graph's input and output height and width symbolic, in place; ExportError when
    the graph holds an op that might depend on the size."""
    import onnx

    risky = sorted({n.op_type for n in model.graph.node} - SIZE_FREE_OPS)
    if risky:
        raise ExportError(f"the graph holds {', '.join(risky)}, which may fix its size; "
                          "re-export it from its checkpoint instead")
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        for index, name in ((1, "height"), (2, "width")):
            dims[index].Clear()
            dims[index].dim_param = name
    del model.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    model.graph.value_info.extend(inferred.graph.value_info)
    onnx.checker.check_model(model)


def _run(path: Path, frames: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: frames})[0]


def _rewrite(path: Path, height: int, width: int, multiple: int) -> None:
    """Rewrites one ONNX file; its outputs at height x width must not change by one bit."""
    import onnx

    model = load_onnx(path)
    declare_dynamic_size(model)
    frames = np.random.default_rng(0).integers(0, 256, (2, height, width, 3), dtype=np.uint8)
    before = _run(path, frames)
    tmp = path.with_name(f".{path.name}.tmp")
    onnx.save(model, str(tmp))
    try:
        if not np.array_equal(_run(tmp, frames), before):
            raise ExportError(f"{path}: the dynamic graph's output differs at {width}x{height}")
        wide = _run(tmp, frames[:, :, :1].repeat(width + multiple, axis=2))
        if wide.shape != (2, height, width + multiple, 3):
            raise ExportError(f"{path}: the dynamic graph gave {list(wide.shape)} for a "
                              f"{width + multiple}x{height} batch")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def make_engine_dynamic(engine_dir: str | os.PathLike) -> dict:
    """Rewrites model.onnx and its ONNX artifacts with dynamic height and width and records
    the geometry (from engine.json's generator) in engine.json; returns the geometry fields.
    TensorRT plans are left alone: they are built per size range (pix2pix-export
    --build-tensorrt)."""
    engine_dir = Path(engine_dir)
    meta = read_metadata(engine_dir)
    if meta.is_dynamic:
        raise ExportError(f"{engine_dir} already takes dynamic sizes")
    try:
        multiple = GeneratorConfig(**meta.generator).divisor
    except (TypeError, KeyError) as exc:
        raise ExportError(f"{engine_dir}: engine.json's generator does not say the network's "
                          f"depth: {exc}") from exc
    if meta.input_height % multiple or meta.input_width % multiple:
        raise ExportError(f"{engine_dir}: {meta.input_width}x{meta.input_height} is not a "
                          f"multiple of {multiple}")
    _rewrite(engine_dir / meta.onnx_file, meta.input_height, meta.input_width, multiple)
    artifacts = dict(meta.artifacts)
    for key, record in artifacts.items():
        if isinstance(record, dict) and str(record.get("file", "")).endswith(".onnx"):
            path = engine_dir / record["file"]
            _rewrite(path, meta.input_height, meta.input_width, multiple)
            artifacts[key] = {**record, "sha256": sha256_file(path)}
    training = meta.training.get("train_config", {}).get("data", {}) if meta.training else {}
    trained = {k: training[k] for k in ("load_size", "crop_size") if training.get(k)}
    fields = geometry_fields(multiple, meta.input_width, meta.input_height, trained or None)
    update_metadata(engine_dir, onnx_sha256=sha256_file(engine_dir / meta.onnx_file),
                    artifacts=artifacts, **fields)
    return fields


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        fields = make_engine_dynamic(args.engine_dir)
    except EngineError as exc:
        print(f"dynamic_size: {exc}", file=sys.stderr)
        return 2
    print(f"{args.engine_dir}: dynamic height and width, {fields}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
