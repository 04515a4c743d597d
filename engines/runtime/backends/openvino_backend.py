"""OpenVINO backend (CPU): compiles model.onnx directly. On CPUs with native bf16 it asks for
bf16 inference (OpenVINO's own default there); ``precision="fp32"`` forces fp32.

A dynamic-size engine is compiled once per frame size (the graph reshaped to that height and
width, batch left dynamic): static spatial shapes let the CPU plugin pick its kernels and
memory layout ahead of time. The last few compiled sizes are kept."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from pix2pix_stream.engines.runtime.backend import Backend
from pix2pix_stream.engines.runtime.errors import BackendUnavailableError, CorruptEngineError, EngineNotFoundError
from pix2pix_stream.engines.runtime.metadata import EngineMetadata
from pix2pix_stream.engines.runtime.onnx_graph import check_io

try:
    import openvino as ov
except ImportError as exc:  # pragma: no cover - depends on the install
    raise BackendUnavailableError("the openvino backend needs the openvino package "
                                  "(pip install pix2pix-stream[openvino])") from exc

COMPILED_SIZES_KEPT = 4  # a server sees few frame sizes at once; each compiled model costs memory


def _supports_bf16(core) -> bool:
    try:
        return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # older OpenVINO: property missing
        return False


def _port_io(port) -> tuple[str, list]:
    dims = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
    return port.get_element_type().to_dtype().name, dims


class OpenVinoBackend(Backend):
    def __init__(self, engine_dir: str | Path, metadata: EngineMetadata, *, max_batch: int = 8,
                 precision: str = "auto", threads: int | None = None, onnx_file: str | None = None):
        """``precision``: "auto" (bf16 where native), "bf16", "fp32", or "int8" (runs the int8
        QDQ graph ``onnx_file``, by default model.int8.onnx). The int8 route keeps what it
        leaves in float at fp32: measured no faster with bf16 there, and the final rounding to
        grey levels needs fp32."""
        super().__init__(metadata)
        if precision == "int8" and onnx_file is None:
            from pix2pix_stream.engines.runtime.metadata import INT8_ONNX

            onnx_file = INT8_ONNX
        path = Path(engine_dir) / (onnx_file or metadata.onnx_file)
        if not path.is_file():
            raise EngineNotFoundError(f"model file not found: {path}")
        core = ov.Core()
        if precision == "auto":
            precision = "bf16" if _supports_bf16(core) else "fp32"
        float_type = "bf16" if precision == "bf16" else "f32"
        config = {"INFERENCE_PRECISION_HINT": float_type,
                  "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self._model = core.read_model(str(path))
            check_io({"input": _port_io(self._model.inputs[0]),
                      "output": _port_io(self._model.outputs[0])}, metadata, str(path))
        except RuntimeError as exc:
            raise CorruptEngineError(f"OpenVINO cannot load {path}: {exc}") from exc
        self._core, self._config, self._path = core, config, path
        self._requests: OrderedDict = OrderedDict()  # (height, width) -> infer request
        self._request_for(metadata.input_height, metadata.input_width)  # fail now, not later
        self._info = self.describe("openvino", max_batch, precision)

    def _request_for(self, height: int, width: int):
        key = (height, width)
        if key in self._requests:
            self._requests.move_to_end(key)
            return self._requests[key]
        model = self._model.clone()
        if self.metadata.is_dynamic:
            model.reshape({model.inputs[0]: ov.PartialShape([-1, height, width, 3])})
        try:
            request = self._core.compile_model(model, "CPU", self._config).create_infer_request()
        except RuntimeError as exc:
            raise CorruptEngineError(f"OpenVINO cannot compile {self._path} for {width}x{height}: "
                                     f"{exc}") from exc
        self._requests[key] = request
        while len(self._requests) > COMPILED_SIZES_KEPT:
            self._requests.popitem(last=False)
        return request

    def _run(self, batch: np.ndarray) -> np.ndarray:
        request = self._request_for(batch.shape[1], batch.shape[2])
        request.infer({0: batch})
        return request.get_output_tensor(0).data.copy()

    def close(self) -> None:
        self._requests.clear()
        self._model = None
