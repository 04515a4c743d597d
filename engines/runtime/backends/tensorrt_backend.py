"""TensorRT backend (GPU hosts): runs the plan built for this TensorRT version and GPU.

One execution context, a dedicated CUDA stream, device buffers allocated once for max_batch and
reused, pinned host staging buffers so the copies are truly asynchronous; inference is
set_input_shape + set_tensor_address + execute_async_v3. CUDA calls go through cuda-python's
runtime bindings. The buffers hold the plan's largest frame, so any batch inside the plan's profile
(tensorrt_profile) runs in them; one outside it is refused with the bound it breaks.
"""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from pix2pix_stream.engines.runtime.backend import Backend, BackendInfo
from pix2pix_stream.engines.runtime.errors import (BackendUnavailableError, CorruptEngineError, EngineNotFoundError,
                            InputError)
from pix2pix_stream.engines.runtime.hardware import cuda_device
from pix2pix_stream.engines.runtime.metadata import EngineMetadata
from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME, OUTPUT_NAME, check_io
from pix2pix_stream.engines.runtime.tensorrt_build import import_tensorrt, shared_logger
from pix2pix_stream.engines.runtime.tensorrt_plan import (check_plan_profile, plan_io, recorded_profile,
                                                          select_plan, unreadable_plan)
from pix2pix_stream.engines.runtime.tensorrt_profile import check_shape

trt = import_tensorrt()
try:
    from cuda.bindings import runtime as cudart
except ImportError:
    try:
        from cuda import cudart  # cuda-python < 12.6
    except ImportError as exc:
        raise BackendUnavailableError("the tensorrt backend needs cuda-python "
                                      "(pip install 'pix2pix-stream[tensorrt]')") from exc
try:
    from cuda.bindings.utils import get_cuda_native_handle
except ImportError:  # cuda-python before 12.9.1 / 13.0: int() was the way
    get_cuda_native_handle = int


class CudaError(RuntimeError):
    """A CUDA runtime call that failed (the error's name is in the message)."""


def _check(result):
    """cuda-python calls return (error, *values)."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise CudaError(f"CUDA error {getattr(err, 'name', err)}")
    return values[0] if len(values) == 1 else values


class _PinnedBuffer:
    """Page-locked host memory viewed as a numpy array."""

    def __init__(self, shape: tuple[int, ...]):
        self.nbytes = int(np.prod(shape))
        self.ptr = _check(cudart.cudaMallocHost(self.nbytes))
        raw = (ctypes.c_uint8 * self.nbytes).from_address(int(self.ptr))
        self.array = np.frombuffer(raw, dtype=np.uint8).reshape(shape)

    def free(self):
        if self.ptr is not None:
            cudart.cudaFreeHost(self.ptr)
            self.ptr = None


class TensorRTBackend(Backend):
    def __init__(self, engine_dir: str | Path, metadata: EngineMetadata, *, max_batch: int = 8,
                 precision: str | None = None, threads: int | None = None):
        super().__init__(metadata)
        try:
            gpu = cuda_device(0)
        except RuntimeError as exc:
            raise BackendUnavailableError(f"tensorrt backend: {exc}") from exc
        record = select_plan(engine_dir, metadata, trt.__version__, gpu["compute_capability"],
                             gpu["name"], precision)
        self._batch, self._sizes = recorded_profile(record, metadata)
        if max_batch > self._batch.max:
            raise BackendUnavailableError(
                f"max_batch {max_batch} exceeds the plan's profile maximum {self._batch.max}; "
                "rebuild with a larger --max-batch")
        if max_batch < self._batch.min:
            raise BackendUnavailableError(
                f"max_batch {max_batch} is below the plan's profile minimum {self._batch.min}; "
                "rebuild with a smaller --min-batch")
        path = Path(engine_dir) / record["file"]
        if not path.is_file():
            raise EngineNotFoundError(f"TensorRT plan not found: {path}")
        self._runtime = trt.Runtime(shared_logger(trt))
        self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise unreadable_plan(record, trt.__version__, engine_dir)
        check_io(plan_io(self._engine, trt.nptype), metadata, str(path))
        check_plan_profile(self._engine, record, metadata, str(path))
        self._context = self._engine.create_execution_context()
        try:
            self._allocate((max_batch, *self._sizes.max, 3))
        except CudaError as exc:
            self.close()  # frees what was allocated before the failure
            raise BackendUnavailableError(f"tensorrt backend: {exc} while setting up "
                                          f"{path.name} (driver too old for this cuda-python, "
                                          f"or out of GPU memory?)") from exc
        for name, address in ((INPUT_NAME, self._device_in), (OUTPUT_NAME, self._device_out)):
            if not self._context.set_tensor_address(name, int(address)):
                self.close()
                raise CorruptEngineError(f"{path}: TensorRT rejected the buffer for {name!r}")
        self._info = BackendInfo(
            name=metadata.name, backend="tensorrt", input_width=metadata.input_width,
            input_height=metadata.input_height, max_batch=max_batch,
            precision=record["precision"], device=f"cuda:0 ({gpu['name']})")

    # Set by _allocate as it goes, so that close() frees exactly what exists.
    _stream = _device_in = _device_out = _host_in = _host_out = None

    def _allocate(self, shape: tuple[int, ...]) -> None:
        """Once, for the largest batch: the stream, two device buffers, two pinned ones."""
        nbytes = int(np.prod(shape))
        self._stream = _check(cudart.cudaStreamCreate())
        self._device_in = _check(cudart.cudaMalloc(nbytes))
        self._device_out = _check(cudart.cudaMalloc(nbytes))
        self._host_in = _PinnedBuffer(shape)
        self._host_out = _PinnedBuffer(shape)

    @property
    def info(self) -> BackendInfo:
        return self._info

    def _run(self, batch: np.ndarray) -> np.ndarray:
        check_shape(batch.shape, self._batch, self._sizes, self.metadata.name)
        nbytes = batch.nbytes
        h2d, d2h = (cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                    cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost)
        # The pinned buffers are flat views: a smaller frame uses their first nbytes, packed.
        staged_in = self._host_in.array.reshape(-1)[:nbytes]
        staged_in[:] = batch.reshape(-1)
        _check(cudart.cudaMemcpyAsync(self._device_in, self._host_in.ptr, nbytes, h2d, self._stream))
        if not self._context.set_input_shape(INPUT_NAME, batch.shape):
            raise InputError(f"{self.metadata.name}: TensorRT rejected input shape "
                             f"{list(batch.shape)}")
        if not self._context.execute_async_v3(get_cuda_native_handle(self._stream)):
            raise RuntimeError(f"{self.metadata.name}: TensorRT execution failed")
        _check(cudart.cudaMemcpyAsync(self._host_out.ptr, self._device_out, nbytes, d2h, self._stream))
        _check(cudart.cudaStreamSynchronize(self._stream))
        return self._host_out.array.reshape(-1)[:nbytes].reshape(batch.shape).copy()

    def close(self) -> None:
        if getattr(self, "_engine", None) is None:
            return
        self._context = None
        self._engine = None
        for buffer in (self._host_in, self._host_out):
            if buffer is not None:
                buffer.free()
        for pointer in (self._device_in, self._device_out):
            if pointer is not None:
                cudart.cudaFree(pointer)
        if self._stream is not None:
            cudart.cudaStreamDestroy(self._stream)
        self._stream = self._device_in = self._device_out = None
        self._host_in = self._host_out = None
