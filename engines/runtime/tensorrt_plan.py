"""TensorRT plan bookkeeping that needs no GPU: file names, the engine.json record of a plan,
picking the plan that fits this host (TensorRT build and GPU model), checking a loaded plan against
its record, and the mismatch error that tells the user how to rebuild.
pix2pix_stream.engines.runtime.tensorrt_build (building) and
pix2pix_stream.engines.runtime.backends.tensorrt_backend (running) use it; both need a GPU, this
module does not. The profile itself is tensorrt_profile's."""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np

from pix2pix_stream.engines.runtime.errors import EngineVersionMismatchError, MetadataMismatchError
from pix2pix_stream.engines.runtime.metadata import EngineMetadata
from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME, OUTPUT_NAME
from pix2pix_stream.engines.runtime.tensorrt_profile import (BatchProfile, SizeProfile,
                                                             profile_shapes)


def same_tensorrt(built_with: str, running: str) -> bool:
    """A plan runs only on the TensorRT build that made it ("compatible only with the version
    of TensorRT used to build them", NVIDIA's Engine Compatibility guide; plans are not built
    with VERSION_COMPATIBLE, which costs speed): 10.8.0.43 and 10.8.1.2 differ."""
    return built_with.strip() == running.strip()


def sm_tag(compute_capability: str) -> str:
    """"9.0" -> "sm90"."""
    return "sm" + compute_capability.replace(".", "")


def gpu_tag(compute_capability: str, gpu_name: str) -> str:
    """"9.0", "NVIDIA H200" -> "sm90-nvidia-h200". NVIDIA ties a plan to the GPU model, not just
    its architecture (an H100 and an H200 share sm90 but not their tuned kernels): plans and
    timing caches of two models must not overwrite each other."""
    slug = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-") or "gpu"
    return f"{sm_tag(compute_capability)}-{slug}"


def plan_file_name(compute_capability: str, gpu_name: str, trt_version: str,
                   precision: str = "fp16") -> str:
    """"9.0", "NVIDIA H200", "10.8.0.43" -> "model.fp16.sm90-nvidia-h200.trt10.8.0.43.plan": one
    plan per GPU model and TensorRT build, so several can sit side by side."""
    return f"model.{precision}.{gpu_tag(compute_capability, gpu_name)}.trt{trt_version}.plan"


def timing_cache_name(compute_capability: str, gpu_name: str, trt_version: str) -> str:
    return f"timing.{gpu_tag(compute_capability, gpu_name)}.trt{trt_version}.cache"


def plan_record(*, file: str, trt_version: str, compute_capability: str, gpu: str,
                precision: str, profile: BatchProfile, sizes: SizeProfile, onnx_file: str,
                onnx_sha256: str, timing_cache: str, built: str) -> dict[str, Any]:
    """One entry of engine.json ``artifacts["tensorrt"]``."""
    return {"file": file, "trt_version": trt_version, "compute_capability": compute_capability,
            "gpu": gpu, "precision": precision, "profile": profile.to_dict(),
            "sizes": sizes.to_dict(), "onnx_file": onnx_file, "onnx_sha256": onnx_sha256,
            "timing_cache": timing_cache, "built": built}


def recorded_profile(record: dict[str, Any], meta: EngineMetadata) -> tuple[BatchProfile, SizeProfile]:
    """The batch and size profile a plan was built with. Records from before sizes were
    recorded are fixed-size plans at the engine's input size."""
    sizes = record.get("sizes")
    return (BatchProfile(**record["profile"]),
            SizeProfile.from_dict(sizes) if sizes else SizeProfile.fixed(meta.input_height,
                                                                          meta.input_width))


def rebuild_command(engine_dir: str | Path, record: dict[str, Any] | None = None) -> str:
    """The exact command that builds a plan for this host, keeping the recorded settings."""
    profile = (record or {}).get("profile", BatchProfile().to_dict())
    precision = (record or {}).get("precision", "fp16")
    args = ["pix2pix-export", "--build-tensorrt", str(engine_dir),
            "--min-batch", str(profile["min"]), "--opt-batch", str(profile["opt"]),
            "--max-batch", str(profile["max"])]
    sizes = (record or {}).get("sizes")
    if sizes and sizes["min"] != sizes["max"]:
        args += ["--max-size", "{}x{}".format(*sizes["max"])]
    if precision == "fp32":
        args.append("--fp32")
    return shlex.join(args)


def select_plan(engine_dir: str | Path, meta: EngineMetadata, trt_version: str,
                compute_capability: str, gpu_name: str,
                precision: str | None = None) -> dict[str, Any]:
    """The recorded plan built with this TensorRT version for this GPU model (compute
    capability and device name), and ``precision`` when given. Raises
    EngineVersionMismatchError naming what exists and the command that builds the right one."""
    plans = meta.artifacts.get("tensorrt", [])
    for record in plans:
        if (same_tensorrt(record["trt_version"], trt_version)
                and record["compute_capability"] == compute_capability
                and record.get("gpu") == gpu_name
                and (precision is None or record["precision"] == precision)):
            return record
    have = "; ".join(f"{r['file']} (TensorRT {r['trt_version']}, {r.get('gpu', '?')}, "
                     f"sm {r['compute_capability']})" for r in plans) or "no TensorRT plan"
    raise EngineVersionMismatchError(
        f"{meta.name}: this host runs TensorRT {trt_version} on a {gpu_name} (compute "
        f"capability {compute_capability}), but {engine_dir} has {have}. Plans only run on the "
        f"TensorRT version and GPU model they were built for. Rebuild with:\n  "
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


def check_plan_profile(engine, record: dict[str, Any], meta: EngineMetadata, source: str) -> None:
    """Compares the profile TensorRT reports for the plan's input (batch, height and width)
    with the one engine.json records, so a plan swapped under its record is caught at load and
    not at the first odd-sized batch. ``engine`` is a deserialized ICudaEngine."""
    batch, sizes = recorded_profile(record, meta)
    want = [list(shape) for shape in profile_shapes(batch, sizes)]
    got = [[int(d) for d in shape] for shape in engine.get_tensor_profile_shape(INPUT_NAME, 0)]
    if got != want:
        raise MetadataMismatchError(f"{source}: the plan's profile (min/opt/max) is {got}, "
                                    f"engine.json records {want}; rebuild with:\n  "
                                    + rebuild_command(Path(source).parent, record))


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
