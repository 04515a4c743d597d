"""ONNX Runtime backend: the CPU execution provider everywhere, and the CUDA / TensorRT execution
providers when this onnxruntime build has them (onnxruntime-gpu)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pix2pix_stream.engines.runtime.backend import Backend, BackendInfo
from pix2pix_stream.engines.runtime.errors import BackendUnavailableError, CorruptEngineError, EngineNotFoundError
from pix2pix_stream.engines.runtime.metadata import EngineMetadata
from pix2pix_stream.engines.runtime.onnx_graph import check_io

try:
    import onnxruntime as ort
except ImportError as exc:  # pragma: no cover - depends on the install
    raise BackendUnavailableError("the onnxruntime backend needs the onnxruntime package "
                                  "(pip install pix2pix-stream[serve])") from exc

# Most capable first; ONNX Runtime falls back along the list node by node.
_GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def choose_providers(device: str = "auto") -> list[str]:
    """``device``: "cpu", "cuda" (CUDA / TensorRT EPs, error if absent) or "auto"."""
    available = ort.get_available_providers()
    gpu = [p for p in _GPU_PROVIDERS if p in available]
    if device == "cuda" and not gpu:
        raise BackendUnavailableError(f"no CUDA execution provider in this onnxruntime build "
                                      f"(available: {', '.join(available)})")
    return (gpu if device != "cpu" else []) + ["CPUExecutionProvider"]


def ort_trt_cache_dir(engine_dir: Path) -> Path:
    """Where ONNX Runtime's TensorRT provider keeps its engines for ``engine_dir``."""
    if os.access(engine_dir, os.W_OK):
        return engine_dir / "ort_trt_cache"
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "pix2pix-stream" / "ort_trt_cache" / engine_dir.resolve().name


def _session_io(session) -> dict:
    def describe(arg):
        dtype = arg.type[len("tensor("):-1]  # "tensor(uint8)" -> "uint8"
        return dtype, list(arg.shape)

    inputs, outputs = session.get_inputs(), session.get_outputs()
    return {"input": describe(inputs[0]), "output": describe(outputs[0])}


class OnnxRuntimeBackend(Backend):
    def __init__(self, engine_dir: str | Path, metadata: EngineMetadata, *, max_batch: int = 8,
                 threads: int | None = None, device: str = "auto", onnx_file: str | None = None,
                 precision: str | None = None):
        super().__init__(metadata)
        path = Path(engine_dir) / (onnx_file or metadata.onnx_file)
        if not path.is_file():
            raise EngineNotFoundError(f"model file not found: {path}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self._providers = choose_providers(device)
        provider_options = [self._provider_options(p, Path(engine_dir)) for p in self._providers]
        try:
            self._session = ort.InferenceSession(str(path), options, providers=self._providers,
                                                 provider_options=provider_options)
        except Exception as exc:  # ORT raises its own Fail / InvalidGraph / NoSuchFile types
            raise CorruptEngineError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        check_io(_session_io(self._session), metadata, str(path))
        self._input = self._session.get_inputs()[0].name
        used = self._session.get_providers()[0]
        self._info = BackendInfo(
            name=metadata.name, backend="onnxruntime", input_width=metadata.input_width,
            input_height=metadata.input_height, max_batch=max_batch,
            precision=precision or metadata.precision,
            device="cpu" if used == "CPUExecutionProvider" else "cuda")

    @staticmethod
    def _provider_options(provider: str, engine_dir: Path) -> dict:
        if provider == "TensorrtExecutionProvider":
            # Building TensorRT engines takes minutes; keep them for next time: beside the engine,
            # or in the user's cache when the engine folder is read-only (a mounted volume).
            cache = ort_trt_cache_dir(engine_dir)
            return {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
                    "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache)}
        return {}

    @property
    def info(self) -> BackendInfo:
        return self._info

    @property
    def providers(self) -> list[str]:
        return self._session.get_providers()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: batch})[0]

    def close(self) -> None:
        self._session = None
