"""Reading an engine's ONNX file: checking it against engine.json, hashing it, and recovering the
generator's weights from its initializers (which is how the torch backend gets its weights
without a second copy of them in the engine directory)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from pix2pix_stream.engines.runtime.errors import CorruptEngineError, EngineNotFoundError, MetadataMismatchError
from pix2pix_stream.engines.runtime.metadata import EngineMetadata

INPUT_NAME = "frames"
OUTPUT_NAME = "translated"
# The prefix export gives the generator's parameters (FrameTranslator.generator).
WEIGHT_PREFIX = "generator."


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def load_onnx(path: str | os.PathLike):
    """Loads and structurally checks an ONNX file; missing -> EngineNotFoundError, unreadable or
    invalid -> CorruptEngineError."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise EngineNotFoundError(f"model file not found: {path}")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, ValidationError, OSError...
        raise CorruptEngineError(f"{path} is not a valid ONNX model: {exc}") from exc
    return model


def _dims(value_info) -> list:
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in shape.dim]


def _fixed(dim) -> bool:
    return isinstance(dim, (int, np.integer)) and dim > 0


def check_io(io: dict, meta: EngineMetadata, source: str) -> None:
    """``io`` maps "input"/"output" to (dtype name, dims) as a runtime reports them; raises
    MetadataMismatchError naming what disagrees with engine.json. The batch axis must be
    symbolic (str or None); height and width must be symbolic for an engine.json with
    ``size_multiple`` (dynamic sizes) and equal input_height x input_width otherwise (a graph
    with symbolic height and width may serve a fixed-size engine.json: it takes that size too)."""
    expected = [meta.input_height, meta.input_width, 3]
    for role, (dtype, dims) in io.items():
        if dtype != "uint8":
            raise MetadataMismatchError(f"{source}: {role} dtype is {dtype}, engine.json promises uint8")
        if len(dims) != 4 or not _channels_and_size_fit(dims, expected, meta.is_dynamic):
            wanted = "[N, H, W, 3] with dynamic H and W" if meta.is_dynamic else \
                f"[N, {expected[0]}, {expected[1]}, 3]"
            raise MetadataMismatchError(
                f"{source}: {role} shape is {list(dims)}, engine.json says {wanted} ({meta.name})")
        if _fixed(dims[0]):
            raise MetadataMismatchError(f"{source}: {role} has a fixed batch of {dims[0]}; engines "
                                        "need a dynamic batch axis")


def _channels_and_size_fit(dims, expected: list[int], dynamic: bool) -> bool:
    if not _fixed(dims[3]) or int(dims[3]) != 3:
        return False
    if dynamic:
        return not _fixed(dims[1]) and not _fixed(dims[2])
    return all(not _fixed(d) or int(d) == e for d, e in zip(dims[1:3], expected[:2]))


def onnx_io(model) -> dict:
    import onnx

    def describe(vi):
        dtype = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type).name
        return dtype, _dims(vi)

    if len(model.graph.input) != 1 or len(model.graph.output) != 1:
        raise MetadataMismatchError("engine graphs have exactly one input and one output, this one "
                                    f"has {len(model.graph.input)} and {len(model.graph.output)}")
    return {"input": describe(model.graph.input[0]), "output": describe(model.graph.output[0])}


def generator_state_dict(model) -> dict[str, np.ndarray]:
    """The generator's parameters and buffers by their PyTorch names. Export keeps them as named
    initializers (constant folding off); the exporter de-duplicates equal tensors into Identity
    nodes whose outputs carry the duplicates' names, so those are followed too."""
    from onnx import numpy_helper

    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
    return {k[len(WEIGHT_PREFIX):]: v for k, v in tensors.items() if k.startswith(WEIGHT_PREFIX)}
