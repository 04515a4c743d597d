"""ONNX Runtime backend: the CPU execution provider everywhere, and the CUDA / TensorRT execution
providers when this onnxruntime build has them (onnxruntime-gpu).

With the TensorRT provider (the GPU fallback when no plan fits) the session runs the fp16 graph
when the engine has one, else the fp32 graph with trt_fp16_enable, and gives the provider the
plan's profile (batch, height and width), so it builds one fp16 engine for the whole range
instead of an fp32 one rebuilt whenever a larger batch arrives.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from pix2pix_stream.engines.runtime.backend import Backend, BackendInfo
from pix2pix_stream.engines.runtime.errors import BackendUnavailableError, CorruptEngineError, EngineNotFoundError
from pix2pix_stream.engines.runtime.metadata import EngineMetadata
from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME, check_io
from pix2pix_stream.engines.runtime.tensorrt_profile import (BatchProfile, ort_trt_profile_options,
                                                             size_profile)

try:
    import onnxruntime as ort
except ImportError as exc:  # pragma: no cover - depends on the install
    raise BackendUnavailableError("the onnxruntime backend needs the onnxruntime package "
                                  "(pip install pix2pix-stream[serve])") from exc

log = logging.getLogger(__name__)

# Most capable first; ONNX Runtime falls back along the list node by node.
TENSORRT_EP = "TensorrtExecutionProvider"
_GPU_PROVIDERS = (TENSORRT_EP, "CUDAExecutionProvider")


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


def tensorrt_options(engine_dir: Path, metadata: EngineMetadata, max_batch: int, *,
                     fp16_graph: bool) -> dict[str, str]:
    """TensorRT provider options: the profile over every batch infer() passes (1..max_batch) and
    the engine's height/width range; fp16 (from the graph, else the provider's flag); the engine
    and timing caches. With the fp16 graph the provider's flag stays off, so its network is
    strongly typed and the graph's fp32 pixel work stays fp32."""
    batch = BatchProfile(1, min(BatchProfile().opt, max_batch), max_batch)
    options = {**ort_trt_profile_options(INPUT_NAME, batch, size_profile(metadata)),
               "trt_fp16_enable": "False" if fp16_graph else "True"}
    # Building TensorRT engines takes minutes; keep them for next time: beside the engine, or in
    # the user's cache when the engine folder is read-only (a mounted volume). The provider
    # creates only the last folder of the path, so the whole path is made here.
    cache = ort_trt_cache_dir(engine_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("no TensorRT engine cache for %s (%s): engines are rebuilt at each start",
                    engine_dir, exc)
        return options
    return {**options, "trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache)}


def _session_io(session) -> dict:
    def describe(arg):
        dtype = arg.type[len("tensor("):-1]  # "tensor(uint8)" -> "uint8"
        return dtype, list(arg.shape)

    inputs, outputs = session.get_inputs(), session.get_outputs()
    return {"input": describe(inputs[0]), "output": describe(outputs[0])}


# How ORT's intra-op pool threads wait for work (session config entries). "always" (ORT's
# default): they spin between the ops of a run and for a while after it, so the next run starts
# at once, but between a server's runs they burn a core. "during-runs": they spin between ops and
# sleep as soon as a run returns. "never": they sleep between ops too. Measured on 2 cores
# (docs/server.md): "during-runs" cut a server's CPU per frame outside inference from ~6.9 to
# ~3.3 ms at the same p50 and fps, but raised a LIVE Canny stream's p50 by ~2 ms; "never" raised
# the model's own p50 by 0.8-2.6 ms. So "always" stays the default.
SPINNING: dict[str, dict[str, str]] = {
    "always": {},
    "during-runs": {"session.force_spinning_stop": "1"},
    "never": {"session.intra_op.allow_spinning": "0"},
}


def _check_spinning(spinning: str) -> str:
    if spinning not in SPINNING:
        raise ValueError(f"spinning must be one of {', '.join(SPINNING)}, got {spinning!r}")
    return spinning


class OnnxRuntimeBackend(Backend):
    def __init__(self, engine_dir: str | Path, metadata: EngineMetadata, *, max_batch: int = 8,
                 threads: int | None = None, device: str = "auto", onnx_file: str | None = None,
                 precision: str | None = None, spinning: str = "always"):
        super().__init__(metadata)
        self._providers = choose_providers(device)
        fp16_graph = (metadata.artifacts.get("onnx_fp16") or {}).get("file")
        use_fp16_graph = (TENSORRT_EP in self._providers and onnx_file is None
                          and bool(fp16_graph) and (Path(engine_dir) / fp16_graph).is_file())
        if use_fp16_graph:
            onnx_file = fp16_graph
        path = Path(engine_dir) / (onnx_file or metadata.onnx_file)
        if not path.is_file():
            raise EngineNotFoundError(f"model file not found: {path}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        for key, value in SPINNING[_check_spinning(spinning)].items():
            options.add_session_config_entry(key, value)
        provider_options = [tensorrt_options(Path(engine_dir), metadata, max_batch,
                                             fp16_graph=use_fp16_graph)
                            if p == TENSORRT_EP else {} for p in self._providers]
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
            precision=precision or ("fp16" if used == TENSORRT_EP or use_fp16_graph
                                    else metadata.precision),
            device="cpu" if used == "CPUExecutionProvider" else "cuda")

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
