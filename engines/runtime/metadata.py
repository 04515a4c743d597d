"""engine.json: what a server needs to know about an engine without loading it.

An engine directory holds ``model.onnx`` (uint8 NHWC RGB in, uint8 NHWC RGB out, dynamic batch;
dynamic height and width when engine.json has ``size_multiple``),
``engine.json`` (this file's schema), ``README.md`` (model card) and optional extra artifacts
that particular backends load (fp16 ONNX, TensorRT plans, ...), each listed in ``artifacts``.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pix2pix_stream.engines.runtime.errors import CorruptEngineError, EngineNotFoundError
from pix2pix_stream.engines.runtime.integrity import check_fields
from pix2pix_stream.media.geometry import DEFAULT_MAX_SIZE, EngineGeometry
from pix2pix_stream.media.transforms import InputTransform

ENGINE_JSON = "engine.json"
MODEL_ONNX = "model.onnx"
FP16_ONNX = "model.fp16.onnx"  # the fp16 copy pix2pix-export --fp16 adds beside it
INT8_ONNX = "model.int8.onnx"  # written by engines.build.int8, run by the OpenVINO/ORT int8 routes
FORMAT_VERSION = 1


@dataclass(frozen=True)
class EngineMetadata:
    name: str
    input_width: int
    input_height: int
    description: str = ""
    direction: str = "AtoB"
    input_transform: dict[str, Any] = field(default_factory=lambda: {"name": "none", "params": {}})
    precision: str = "fp32"
    opset: int = 17
    onnx_file: str = MODEL_ONNX
    onnx_sha256: str = ""
    source_checkpoint: str = ""
    source_checkpoint_sha256: str = ""
    generator: dict[str, Any] = field(default_factory=dict)  # UnetGenerator constructor args
    training: dict[str, Any] = field(default_factory=dict)   # summary: data, epochs, metrics...
    # Extra files per backend, e.g. {"onnx_fp16": {"file": "model.fp16.onnx", ...},
    # "tensorrt": [{"file": ..., "trt_version": ..., "compute_capability": ..., ...}]}
    artifacts: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)   # torch / onnx / exporter versions
    created: str = ""                                        # ISO 8601, UTC
    format_version: int = FORMAT_VERSION
    # Geometry (media.geometry). Absent in engines exported before dynamic sizes: those read as
    # fixed-size engines at input_width x input_height. input_width/height is then the default
    # (trained) size. min_size / max_size are [height, width].
    size_multiple: int | None = None                         # 2**depth of the U-Net
    min_size: list[int] | None = None                        # default [multiple, multiple]
    max_size: list[int] | None = None                        # default [2176, 3840]
    trained_size: dict[str, Any] | None = None               # load_size, crop_size, source_aspect

    @property
    def transform(self) -> InputTransform:
        return InputTransform.from_dict(self.input_transform)

    @property
    def is_dynamic(self) -> bool:
        """Whether the graph takes any allowed height and width (not only input_height x width)."""
        return bool(self.size_multiple)

    @property
    def geometry(self) -> EngineGeometry:
        """The sizes this engine accepts and its crop size, for media.geometry.plan_compute."""
        if not self.is_dynamic:
            return EngineGeometry.fixed_size(self.input_width, self.input_height)
        m = int(self.size_multiple)
        crop = (self.trained_size or {}).get("crop_size") or min(self.input_width, self.input_height)
        return EngineGeometry(size_multiple=m, crop_size=int(crop),
                              min_size=tuple(self.min_size or (m, m)),
                              max_size=tuple(self.max_size or DEFAULT_MAX_SIZE))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.is_dynamic:  # an older engine's engine.json stays as it was
            for key in ("size_multiple", "min_size", "max_size", "trained_size"):
                data.pop(key)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EngineMetadata":
        known = {f.name for f in fields(cls)}
        missing = {"name", "input_width", "input_height"} - data.keys()
        if missing:
            raise CorruptEngineError(f"engine.json lacks {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_changes(self, **changes) -> "EngineMetadata":
        return replace(self, **changes)


def read_metadata(engine_dir: str | os.PathLike) -> EngineMetadata:
    path = Path(engine_dir) / ENGINE_JSON
    if not path.is_file():
        raise EngineNotFoundError(f"no {ENGINE_JSON} in {engine_dir}")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptEngineError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CorruptEngineError(f"{path} does not hold a JSON object")
    try:
        check_fields(data)
        return EngineMetadata.from_dict(data)
    except CorruptEngineError as exc:
        raise CorruptEngineError(f"{path}: {exc}") from None
    except TypeError as exc:
        raise CorruptEngineError(f"{path}: {exc}") from exc


def write_metadata(engine_dir: str | os.PathLike, meta: EngineMetadata) -> Path:
    """Writes engine.json atomically (temporary file in the same folder, then rename)."""
    engine_dir = Path(engine_dir)
    engine_dir.mkdir(parents=True, exist_ok=True)
    target = engine_dir / ENGINE_JSON
    fd, tmp = tempfile.mkstemp(dir=engine_dir, prefix=".engine.json.")
    os.fchmod(fd, 0o644)  # mkstemp makes 0600; a server running as another user must read it
    with os.fdopen(fd, "w") as fh:
        json.dump(meta.to_dict(), fh, indent=2, sort_keys=False)
        fh.write("\n")
    os.replace(tmp, target)
    return target
