"""Choosing and loading a backend for an engine directory, and listing engine directories.

Backend modules are imported here only when chosen, so a CPU server without torch or openvino
never imports them (and never pays for importing them).
"""
from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pix2pix_stream.engines.runtime.backend import Backend
from pix2pix_stream.engines.runtime.errors import (BackendUnavailableError, EngineError, EngineNotFoundError,
                            EngineVersionMismatchError)
from pix2pix_stream.engines.runtime.hardware import cpu_has_bf16, cpu_has_vnni, tensorrt_gpu_available
from pix2pix_stream.engines.runtime.integrity import check_artifact_file, check_model_file
from pix2pix_stream.engines.runtime.metadata import ENGINE_JSON, EngineMetadata, read_metadata
from pix2pix_stream.engines.runtime.quality import QUALITY_BAR_DB


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendSpec:
    module: str
    cls: str
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    artifact: str | None = None  # key in engine.json artifacts this backend needs


BACKENDS: dict[str, BackendSpec] = {
    "onnxruntime": BackendSpec("pix2pix_stream.engines.runtime.backends.onnxruntime_backend", "OnnxRuntimeBackend",
                               {}, "ONNX Runtime fp32; CUDA / TensorRT execution providers when present"),
    "onnxruntime-cpu": BackendSpec("pix2pix_stream.engines.runtime.backends.onnxruntime_backend", "OnnxRuntimeBackend",
                                   {"device": "cpu"}, "ONNX Runtime fp32, CPU provider only"),
    "torch": BackendSpec("pix2pix_stream.engines.runtime.backends.torch_backend", "TorchBackend",
                         {"precision": "fp32"}, "PyTorch eager fp32 (the reference)"),
    "torch-bf16": BackendSpec("pix2pix_stream.engines.runtime.backends.torch_backend", "TorchBackend",
                              {"precision": "bf16"}, "PyTorch bf16 autocast + channels_last (CPU)"),
    "openvino": BackendSpec("pix2pix_stream.engines.runtime.backends.openvino_backend", "OpenVinoBackend",
                            {"precision": "auto"}, "OpenVINO CPU, bf16 where the CPU has it"),
    "openvino-int8": BackendSpec("pix2pix_stream.engines.runtime.backends.openvino_backend", "OpenVinoBackend",
                                 {"precision": "int8"}, "OpenVINO CPU running model.int8.onnx",
                                 artifact="onnx_int8"),
    "openvino-fp32": BackendSpec("pix2pix_stream.engines.runtime.backends.openvino_backend", "OpenVinoBackend",
                                 {"precision": "fp32"}, "OpenVINO CPU fp32"),
    "tensorrt": BackendSpec("pix2pix_stream.engines.runtime.backends.tensorrt_backend", "TensorRTBackend",
                            {}, "TensorRT plan (GPU hosts)"),
}

# Tuning hints a server may pass whichever backend it gets: a backend whose constructor has no
# such keyword is loaded without it. "spinning": how ONNX Runtime's pool threads wait for work
# (onnxruntime_backend.SPINNING); other backends' threads do not spin.
SPINNING_MODES = ("always", "during-runs", "never")
HINT_OPTIONS = frozenset({"spinning"})

# CPU choice of `auto`, fastest first, from bench/engines.py on a 2-core AVX-512 BF16 + VNNI CPU
# (see docs/engines.md). Every route keeps >= 40 dB PSNR against fp32 ONNX Runtime; the int8 one
# is skipped for an engine whose recorded PSNR does not. Without native bf16 the bf16 routes are
# emulated and slow; without VNNI int8 has no fast kernels: plain ONNX Runtime leads there.
CPU_ORDER_BF16 = ("openvino-int8", "torch-bf16", "openvino", "onnxruntime")
CPU_ORDER_VNNI = ("openvino-int8", "onnxruntime", "openvino-fp32", "torch")
CPU_ORDER_FP32 = ("onnxruntime", "openvino-fp32", "torch")
GPU_ORDER = ("tensorrt", "onnxruntime")


def available_backends() -> list[str]:
    return sorted(BACKENDS)


def auto_order() -> tuple[str, ...]:
    """The backends `auto` tries, in order, on this host."""
    if tensorrt_gpu_available():
        return GPU_ORDER
    if cpu_has_bf16():
        return CPU_ORDER_BF16
    return CPU_ORDER_VNNI if cpu_has_vnni() else CPU_ORDER_FP32


def _check_artifact(name: str, spec: BackendSpec, metadata: EngineMetadata, auto: bool) -> None:
    if spec.artifact is None:
        return
    record = metadata.artifacts.get(spec.artifact)
    if not record:
        raise BackendUnavailableError(f"backend {name!r} needs the {spec.artifact} artifact, which "
                                      f"engine {metadata.name!r} lacks (re-export it with pix2pix-export)")
    db = record.get("psnr_vs_fp32_db")
    if auto and (db is None or db < QUALITY_BAR_DB):
        raise BackendUnavailableError(f"{record.get('file')} is {db} dB from fp32, below the "
                                      f"{QUALITY_BAR_DB:.0f} dB quality bar")


def _load_one(name: str, engine_dir: Path, metadata: EngineMetadata, max_batch: int,
              options: dict[str, Any], auto: bool = False) -> Backend:
    spec = BACKENDS.get(name)
    if spec is None:
        raise BackendUnavailableError(f"unknown backend {name!r}; available: auto, "
                                      f"{', '.join(available_backends())}")
    _check_artifact(name, spec, metadata, auto)
    check_artifact_file(engine_dir, metadata, spec.artifact)
    try:
        module = importlib.import_module(spec.module)
    except ImportError as exc:
        raise BackendUnavailableError(f"backend {name!r} cannot be imported here: {exc}") from exc
    cls = getattr(module, spec.cls)
    return cls(engine_dir, metadata, max_batch=max_batch,
               **{**spec.options, **_without_unused_hints(cls, options)})


def _without_unused_hints(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    import inspect

    accepted = inspect.signature(cls.__init__).parameters
    return {key: value for key, value in options.items()
            if key not in HINT_OPTIONS or key in accepted}


def load_backend(engine_dir: str | os.PathLike, backend: str = "auto", *, max_batch: int = 8,
                 **options: Any) -> Backend:
    """Loads the engine in ``engine_dir`` with ``backend`` ("auto" or one of BACKENDS). Extra
    keyword options (e.g. ``threads``) go to the backend's constructor. ``auto`` tries
    auto_order() and moves on when a backend is unavailable here (package missing, no GPU, an
    artifact missing or below the quality bar) or its TensorRT plan was built for another GPU /
    TensorRT version (logged with the rebuild command); errors in the engine itself (missing or
    corrupt files, metadata that does not match the graph) are raised at once."""
    engine_dir = Path(engine_dir)
    if not engine_dir.is_dir():
        raise EngineNotFoundError(f"engine directory not found: {engine_dir}")
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1, got {max_batch}")
    metadata = read_metadata(engine_dir)
    check_model_file(engine_dir, metadata.onnx_file, metadata.onnx_sha256, "onnx_file")
    if backend != "auto":
        return _load_one(backend, engine_dir, metadata, max_batch, options)
    reasons = []
    for name in auto_order():
        try:
            return _load_one(name, engine_dir, metadata, max_batch, options, auto=True)
        except BackendUnavailableError as exc:
            reasons.append(f"{name}: {exc}")
        except EngineVersionMismatchError as exc:
            # A plan for another GPU / TensorRT: serve with the next backend, but say how to fix it.
            log.warning("%s; using the next backend for now", exc)
            reasons.append(f"{name}: {exc}")
    raise BackendUnavailableError(f"no backend can run {engine_dir} here: " + "; ".join(reasons))


def discover_engines(engines_dir: str | os.PathLike) -> list[tuple[Path, EngineMetadata]]:
    """Every sub-directory of ``engines_dir`` (and ``engines_dir`` itself) holding an engine.json
    that reads, sorted by engine name. A broken engine.json is skipped with a warning that names
    the file and the reason (scan_engines returns them)."""
    found, problems = scan_engines(engines_dir)
    for problem in problems:
        log.warning("skipping engine: %s", problem)
    return found


def scan_engines(engines_dir: str | os.PathLike) -> tuple[list[tuple[Path, EngineMetadata]], list[str]]:
    """(engines that read, sorted by name; one line per engine.json that does not, saying which
    file and why)."""
    root = Path(engines_dir)
    if not root.is_dir():
        raise EngineNotFoundError(f"engines directory not found: {root}")
    candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    found, problems = [], []
    for directory in candidates:
        if not (directory / ENGINE_JSON).is_file():
            continue
        try:
            found.append((directory, read_metadata(directory)))
        except EngineError as exc:
            problems.append(str(exc))
    return sorted(found, key=lambda item: item[1].name), problems
