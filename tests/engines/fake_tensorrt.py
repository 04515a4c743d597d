"""Stand-ins for the `tensorrt` package and cuda-python's runtime bindings, for CPU unit tests of
the glue in engines/runtime/tensorrt_build.py and engines/runtime/backends/tensorrt_backend.py.

They are test doubles, not TensorRT: they accept only the calls and argument shapes those
modules make of the real API (TensorRT 10/11 Python API, cuda-python's `(error, value)`
returns), and their "plan" is the ONNX graph behind a header, run with ONNX Runtime. So the
tests find Python mistakes in our code (names, buffer sizes, the order of calls, error paths,
freeing), never whether TensorRT itself accepts the graph; the GPU tests are for that.
"""
from __future__ import annotations

import ctypes
import enum
import types

import numpy as np

PLAN_MAGIC = b"FAKE-TRT-PLAN "


def make_tensorrt(version: str = "10.8.0.43") -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.built = []  # (network flags, profile shapes, workspace) of each build, for assertions

    class Severity(enum.IntEnum):
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

    class Logger:
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = tuple(Severity)

        def __init__(self, min_severity=Severity.WARNING):
            assert isinstance(min_severity, Severity)
            self.min_severity = min_severity

    def check_logger(logger):
        """TensorRT treats the logger as a singleton: every Builder and Runtime of a process
        must be given the same one."""
        assert isinstance(logger, Logger) and isinstance(logger.min_severity, Severity)
        first = trt.loggers.setdefault("first", logger)
        assert logger is first, "a second, different TensorRT logger"

    trt.loggers = {}

    class NetworkDefinitionCreationFlag(enum.IntEnum):
        STRONGLY_TYPED = 5

    class MemoryPoolType(enum.IntEnum):
        WORKSPACE = 0

    class DataType(enum.IntEnum):
        FLOAT, HALF, INT8, INT32, BOOL, UINT8 = range(6)

    def nptype(dtype):
        return {DataType.FLOAT: np.float32, DataType.HALF: np.float16,
                DataType.UINT8: np.uint8}[dtype]

    class Network:
        def __init__(self, flags: int):
            self.flags, self.onnx = flags, None

    class OnnxParser:
        def __init__(self, network, logger):
            assert isinstance(network, Network) and isinstance(logger, Logger)
            self.network, self.num_errors = network, 0

        def parse(self, model: bytes, path: str = None) -> bool:
            import onnx

            assert isinstance(model, bytes)
            try:
                onnx.checker.check_model(onnx.load_from_string(model))
            except Exception as exc:  # noqa: BLE001 - the parser reports, it does not raise
                self.num_errors, self._error = 1, str(exc)
                return False
            self.network.onnx = model
            return True

        def get_error(self, index: int):
            return self._error

    class OptimizationProfile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name: str, min, opt, max):
            assert all(isinstance(s, tuple) for s in (min, opt, max))
            self.shapes[name] = (min, opt, max)

    class TimingCache:
        def __init__(self, blob: bytes):
            self.blob = blob

        def serialize(self):
            return memoryview(b"FAKE-TIMING" + trt.__version__.encode())

    class BuilderConfig:
        def __init__(self):
            self.profiles, self.cache, self.workspace = [], None, None

        def set_memory_pool_limit(self, pool, size: int):
            assert pool is MemoryPoolType.WORKSPACE and isinstance(size, int)
            self.workspace = size

        def add_optimization_profile(self, profile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, blob: bytes):
            assert isinstance(blob, bytes)
            valid = not blob or blob == b"FAKE-TIMING" + trt.__version__.encode()
            return TimingCache(blob) if valid else None  # TensorRT logs and returns None

        def set_timing_cache(self, cache, ignore_mismatch: bool) -> bool:
            if not isinstance(cache, TimingCache):
                raise TypeError("set_timing_cache(): incompatible function arguments")
            self.cache = cache
            return True

    class Builder:
        def __init__(self, logger):
            check_logger(logger)

        def create_network(self, flags: int = 0):
            return Network(flags)

        def create_builder_config(self):
            return BuilderConfig()

        def create_optimization_profile(self):
            return OptimizationProfile()

        def build_serialized_network(self, network, config):
            assert network.onnx is not None and len(config.profiles) == 1
            trt.built.append((network.flags, config.profiles[0].shapes, config.workspace))
            return memoryview(PLAN_MAGIC + trt.__version__.encode() + b"\n" + network.onnx)

    class Runtime:
        def __init__(self, logger):
            check_logger(logger)

        def deserialize_cuda_engine(self, plan: bytes):
            header, _, onnx_bytes = bytes(plan).partition(b"\n")
            if header != PLAN_MAGIC + trt.__version__.encode():
                return None  # TensorRT logs "version tag does not match" and returns None
            return CudaEngine(onnx_bytes)

    class CudaEngine:
        def __init__(self, onnx_bytes: bytes):
            import onnxruntime as ort

            self.session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
            self._io = {t.name: t for t in (*self.session.get_inputs(),
                                            *self.session.get_outputs())}
            self.num_io_tensors = len(self._io)

        def get_tensor_name(self, index: int) -> str:
            return list(self._io)[index]

        def get_tensor_dtype(self, name: str):
            return {"tensor(uint8)": DataType.UINT8, "tensor(float)": DataType.FLOAT,
                    "tensor(float16)": DataType.HALF}[self._io[name].type]

        def get_tensor_shape(self, name: str):
            return tuple(d if isinstance(d, int) else -1 for d in self._io[name].shape)

        def create_execution_context(self):
            return ExecutionContext(self)

    class ExecutionContext:
        def __init__(self, engine):
            self.engine, self.addresses, self.shape = engine, {}, None

        def set_tensor_address(self, name: str, address: int) -> bool:
            assert type(address) is int
            self.addresses[name] = address
            return name in engine_io(self.engine)

        def set_input_shape(self, name: str, shape) -> bool:
            self.shape = tuple(int(d) for d in shape)
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            assert type(stream_handle) is int and self.shape is not None
            (inp,), (out,) = self.engine.session.get_inputs(), self.engine.session.get_outputs()
            frames = memory.read(self.addresses[inp.name], self.shape)
            (result,) = self.engine.session.run(None, {inp.name: frames})
            memory.write(self.addresses[out.name], result)
            return True

    def engine_io(engine):
        return [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]

    for name, value in dict(locals()).items():
        if not name.startswith("_") and name not in ("trt", "version", "check_logger"):
            setattr(trt, name, value)
    return trt


class _Memory:
    """Host "device" memory: cudaMalloc'd buffers are ctypes arrays, addressed by int."""

    def __init__(self):
        self.live: dict[int, ctypes.Array] = {}
        self.freed: list[int] = []

    def allocate(self, nbytes: int) -> int:
        buffer = (ctypes.c_uint8 * nbytes)()
        self.live[ctypes.addressof(buffer)] = buffer
        return ctypes.addressof(buffer)

    def free(self, address: int) -> None:
        del self.live[int(address)]
        self.freed.append(int(address))

    def read(self, address: int, shape) -> np.ndarray:
        nbytes = int(np.prod(shape))
        return np.frombuffer((ctypes.c_uint8 * nbytes).from_address(address),
                             dtype=np.uint8).reshape(shape).copy()

    def write(self, address: int, array: np.ndarray) -> None:
        data = np.ascontiguousarray(array, dtype=np.uint8)
        ctypes.memmove(address, data.ctypes.data, data.nbytes)


memory = _Memory()


def make_cudart(fail_malloc_after: int | None = None) -> types.ModuleType:
    """cuda.bindings.runtime as far as the backend uses it. ``fail_malloc_after``: that many
    cudaMalloc calls succeed, then they fail with cudaErrorMemoryAllocation."""
    global memory
    memory = _Memory()
    cudart = types.ModuleType("cuda.bindings.runtime")
    cudart.memory = memory
    calls = {"malloc": 0}

    class cudaError_t(enum.IntEnum):
        cudaSuccess = 0
        cudaErrorMemoryAllocation = 2

    class cudaMemcpyKind(enum.IntEnum):
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    class cudaStream_t:
        def __init__(self, handle: int):
            self._handle = handle

        def __int__(self):
            return self._handle

    ok = cudaError_t.cudaSuccess
    streams: set[int] = set()

    def cudaStreamCreate():
        stream = cudaStream_t(1000 + len(streams))
        streams.add(int(stream))
        return ok, stream

    def cudaStreamDestroy(stream):
        streams.remove(int(stream))
        return (ok,)

    def cudaMalloc(nbytes: int):
        calls["malloc"] += 1
        if fail_malloc_after is not None and calls["malloc"] > fail_malloc_after:
            return cudaError_t.cudaErrorMemoryAllocation, 0
        return ok, memory.allocate(nbytes)

    def cudaMallocHost(nbytes: int):
        return ok, memory.allocate(nbytes)

    def cudaFree(address):
        memory.free(address)
        return (ok,)

    cudaFreeHost = cudaFree

    def cudaMemcpyAsync(dst, src, nbytes: int, kind, stream):
        assert isinstance(kind, cudaMemcpyKind) and int(stream) in streams
        ctypes.memmove(int(dst), int(src), nbytes)
        return (ok,)

    def cudaStreamSynchronize(stream):
        assert int(stream) in streams
        return (ok,)

    cudart.streams = streams
    for name, value in dict(locals()).items():
        if name.startswith("cuda"):
            setattr(cudart, name, value)
    return cudart
