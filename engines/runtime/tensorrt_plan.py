"""TensorRT plan bookkeeping that needs no GPU: the batch profile, file names, the engine.json
record of a plan, picking the plan that fits this host, and the mismatch error that tells the
user how to rebuild. pix2pix_stream.engines.runtime.tensorrt_build (building) and pix2pix_stream.engines.runtime.backends.tensorrt_backend
(running) use it; both need a GPU, this module does not."""
from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pix2pix_stream.engines.runtime.errors import EngineVersionMismatchError, MetadataMismatchError
from pix2pix_stream.engines.runtime.metadata import EngineMetadata
from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME, OUTPUT_NAME


@dataclass(frozen=True)
class BatchProfile:
    """The optimisation profile of the batch axis: TensorRT tunes kernels for ``opt`` and
    accepts any batch in [min, max]."""

    min: int = 1
    opt: int = 8
    max: int = 32

    def __post_init__(self):
        if not 1 <= self.min <= self.opt <= self.max:
            raise ValueError(f"batch profile needs 1 <= min <= opt <= max, got "
                             f"{self.min}/{self.opt}/{self.max}")

    def shapes(self, height: int, width: int) -> tuple[tuple[int, ...], ...]:
        """(min, opt, max) input shapes for set_shape."""
        return tuple((n, height, width, 3) for n in (self.min, self.opt, self.max))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def same_tensorrt(built_with: str, running: str) -> bool:
    """A plan runs only on the TensorRT build that made it ("compatible only with the version
    of TensorRT used to build them", NVIDIA's Engine Compatibility guide; plans are not built
    with VERSION_COMPATIBLE, which costs speed): 10.8.0.43 and 10.8.1.2 differ."""
    return built_with.strip() == running.strip()


def sm_tag(compute_capability: str) -> str:
    """"9.0" -> "sm90"."""
    return "sm" + compute_capability.replace(".", "")


def plan_file_name(compute_capability: str, trt_version: str, precision: str = "fp16") -> str:
    """"9.0", "10.8.0.43" -> "model.fp16.sm90.trt10.8.0.43.plan": one plan per GPU
    architecture and TensorRT build, so several can sit side by side."""
    return f"model.{precision}.{sm_tag(compute_capability)}.trt{trt_version}.plan"


def timing_cache_name(compute_capability: str, trt_version: str) -> str:
    return f"timing.{sm_tag(compute_capability)}.trt{trt_version}.cache"


def plan_record(*, file: str, trt_version: str, compute_capability: str, gpu: str,
                precision: str, profile: BatchProfile, onnx_file: str, onnx_sha256: str,
                timing_cache: str, built: str) -> dict[str, Any]:
    """One entry of engine.json ``artifacts["tensorrt"]``."""
    return {"file": file, "trt_version": trt_version, "compute_capability": compute_capability,
            "gpu": gpu, "precision": precision, "profile": profile.to_dict(),
            "onnx_file": onnx_file, "onnx_sha256": onnx_sha256, "timing_cache": timing_cache,
            "built": built}


def rebuild_command(engine_dir: str | Path, record: dict[str, Any] | None = None) -> str:
    """The exact command that builds a plan for this host, keeping the recorded settings."""
    profile = (record or {}).get("profile", BatchProfile().to_dict())
    precision = (record or {}).get("precision", "fp16")
    args = ["pix2pix-export", "--build-tensorrt", str(engine_dir),
            "--min-batch", str(profile["min"]), "--opt-batch", str(profile["opt"]),
            "--max-batch", str(profile["max"])]
    if precision == "fp32":
        args.append("--fp32")
    return shlex.join(args)


def select_plan(engine_dir: str | Path, meta: EngineMetadata, trt_version: str,
                compute_capability: str, precision: str | None = None) -> dict[str, Any]:
    """The recorded plan built with this TensorRT version for this compute capability
    (and ``precision``, when given). Raises EngineVersionMismatchError naming what exists and
    the command that builds the right one."""
    plans = meta.artifacts.get("tensorrt", [])
    for record in plans:
        if (same_tensorrt(record["trt_version"], trt_version)
                and record["compute_capability"] == compute_capability
                and (precision is None or record["precision"] == precision)):
            return record
    have = "; ".join(f"{r['file']} (TensorRT {r['trt_version']}, sm {r['compute_capability']})"
                     for r in plans) or "no TensorRT plan"
    raise EngineVersionMismatchError(
        f"{meta.name}: this host runs TensorRT {trt_version} on a GPU of compute capability "
        f"{compute_capability}, but {engine_dir} has {have}. Plans only run on the TensorRT "
        f"version and GPU they were built for. Rebuild with:\n  "
        + rebuild_command(engine_dir, plans[-1] if plans else None))


def unreadable_plan(record: dict[str, Any], trt_version: str,
                    engine_dir: str | Path) -> EngineVersionMismatchError:
    """The error for a plan that engine.json says fits this host but TensorRT will not
    deserialize: damaged, or made by a TensorRT build that engine.json misreports (a plan copied
    over by hand). Either way the fix is a rebuild; under `auto` the server serves with the
    next backend meanwhile."""
    return EngineVersionMismatchError(
        f"TensorRT {trt_version} cannot deserialize {Path(engine_dir) / record['file']} "
        f"(recorded as built with TensorRT {record['trt_version']} for compute capability "
        f"{record['compute_capability']}): the file is damaged or was built by another TensorRT "
        f"version. Rebuild with:\n  " + rebuild_command(engine_dir, record))


def plan_io(engine, nptype) -> dict[str, tuple[str, list]]:
    """The plan's I/O tensors as ``onnx_graph.check_io`` takes them: {"input"|"output": (numpy
    dtype name, dims)}; a dynamic axis is -1. ``engine`` is a deserialized ICudaEngine and
    ``nptype`` is ``tensorrt.nptype`` (passed in, so this runs without TensorRT in tests)."""
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    if sorted(names) != sorted([INPUT_NAME, OUTPUT_NAME]):
        raise MetadataMismatchError(f"the plan's I/O tensors are {names}; engines have "
                                    f"{INPUT_NAME!r} in and {OUTPUT_NAME!r} out")
    return {role: (np.dtype(nptype(engine.get_tensor_dtype(name))).name,
                   [int(d) for d in engine.get_tensor_shape(name)])
            for role, name in (("input", INPUT_NAME), ("output", OUTPUT_NAME))}
