"""The interface between the server and whatever runs a generator.

The server only ever sees ``Backend``: ``infer(uint8 [N, H, W, 3]) -> uint8 [N, H, W, 3]`` and
``info``. H and W are any size ``metadata.geometry`` allows (only input_height x input_width for
engines exported before dynamic sizes). Each implementation lives in its own module under ``engines/runtime/backends/`` and does its
heavy imports (onnxruntime, torch, openvino, tensorrt) inside that module, which
``pix2pix_stream.engines.runtime.registry.load_backend`` imports only when that backend is chosen.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from pix2pix_stream.engines.runtime.errors import InputError
from pix2pix_stream.engines.runtime.metadata import EngineMetadata


@dataclass(frozen=True)
class BackendInfo:
    name: str           # the engine's name
    backend: str        # "onnxruntime", "torch", "openvino", "tensorrt", ...
    input_width: int    # the default (trained) size; dynamic engines take any size their
    input_height: int   # metadata.geometry allows
    max_batch: int      # the largest N infer() accepts in one call
    precision: str      # "fp32", "fp16", "bf16", "int8"
    device: str = "cpu"


class Backend(abc.ABC):
    """One loaded engine on one device. Not thread-safe: the server runs one inference worker per
    backend instance."""

    def __init__(self, metadata: EngineMetadata):
        self.metadata = metadata

    @property
    def info(self) -> BackendInfo:
        """Set by each implementation once loaded (``describe`` builds it)."""
        return self._info

    def describe(self, backend: str, max_batch: int, precision: str,
                 device: str = "cpu") -> BackendInfo:
        """This engine's BackendInfo: its name and input size from engine.json."""
        meta = self.metadata
        return BackendInfo(name=meta.name, backend=backend, input_width=meta.input_width,
                           input_height=meta.input_height, max_batch=max_batch,
                           precision=precision, device=device)

    @abc.abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """Runs a validated batch (uint8, C-contiguous, [N<=max_batch, H, W, 3])."""

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Translates a batch of frames: uint8 [N, H, W, 3] RGB -> uint8 [N, H, W, 3] RGB.
        A batch larger than max_batch is run in slices."""
        batch = self.check_batch(batch)
        step = self.info.max_batch
        if len(batch) <= step:
            return self._run(batch)
        return np.concatenate([self._run(batch[i:i + step]) for i in range(0, len(batch), step)])

    def check_batch(self, batch: np.ndarray) -> np.ndarray:
        info, geometry = self.info, self.metadata.geometry
        if not isinstance(batch, np.ndarray):
            raise InputError(f"{info.name}: expected a numpy array, got {type(batch).__name__}")
        if batch.dtype != np.uint8:
            raise InputError(f"{info.name}: expected dtype uint8, got {batch.dtype}")
        if batch.ndim != 4 or batch.shape[3] != 3 or batch.shape[0] < 1 \
                or not geometry.allows(batch.shape[1], batch.shape[2]):
            raise InputError(f"{info.name}: expected frames [N, H, W, 3] of a size this engine "
                             f"takes ({geometry.describe()}), got {list(batch.shape)}")
        return np.ascontiguousarray(batch)

    def close(self) -> None:
        """Frees device memory / sessions. Safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
