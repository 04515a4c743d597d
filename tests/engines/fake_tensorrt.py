"""Stand-ins for the `tensorrt` package and cuda-python's runtime bindings, for CPU unit tests of
the glue in engines/runtime/tensorrt_build.py and engines/runtime/backends/tensorrt_backend.py.

They are test doubles, not TensorRT: they accept only the calls and argument shapes those
modules make of the real API (TensorRT 10/11 Python API, cuda-python's `(error, value)`
returns), and their "plan" is the ONNX graph behind a header (with the profile it was built
with), run with ONNX Runtime. Enum values follow NVIDIA's headers (NvInfer.h of TensorRT 10 and
11), so a test of a flag's value tests what the real module would get. So the
tests find Python mistakes in our code (names, buffer sizes, the order of calls, error paths,
freeing), never whether TensorRT itself accepts the graph; the GPU tests are for that.
"""
from __future__ import annotations

import ctypes
import enum
import json
import types

import numpy as np

PLAN_MAGIC = b"FAKE-TRT-PLAN "


def make_tensorrt(version: str = "10.8.0.43", timing_cache_raises: bool = False) -> types.ModuleType:
    """``timing_cache_raises``: a damaged timing cache makes create_timing_cache raise (as some
    TensorRT builds do) instead of returning None."""
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

    if int(version.split(".")[0]) >= 11:
        class NetworkDefinitionCreationFlag(enum.IntEnum):
            STRONGLY_TYPED = 0  # deprecated and ignored: strongly typed is the only mode
    else:
        class NetworkDefinitionCreationFlag(enum.IntEnum):
            EXPLICIT_BATCH = 0  # deprecated in 10.0 (always explicit)
            STRONGLY_TYPED = 1

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
            if not valid and timing_cache_raises:
                raise RuntimeError("Could not deserialize timing cache")
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
            profile = json.dumps(config.profiles[0].shapes).encode()
            return memoryview(PLAN_MAGIC + trt.__version__.encode() + b"\n" + profile + b"\n"
                              + network.onnx)

    class Runtime:
        def __init__(self, logger):
            check_logger(logger)

        def deserialize_cuda_engine(self, plan: bytes):
            header, _, rest = bytes(plan).partition(b"\n")
            if header != PLAN_MAGIC + trt.__version__.encode():
                return None  # TensorRT logs "version tag does not match" and returns None
            profile, _, onnx_bytes = rest.partition(b"\n")
            return CudaEngine(onnx_bytes, json.loads(profile))

    class CudaEngine:
        def __init__(self, onnx_bytes: bytes, profile: dict):
            import onnxruntime as ort

            self.profile = profile  # input name -> [min, opt, max] shapes
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

        def get_tensor_profile_shape(self, name: str, profile_index: int):
            assert profile_index == 0
            return [tuple(shape) for shape in self.profile[name]]

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
            """False outside the profile, as TensorRT (which logs the reason)."""
            low, _, high = self.engine.profile[name]
            shape = tuple(int(d) for d in shape)
            if not all(lo <= d <= hi for lo, d, hi in zip(low, shape, high)):
                return False
            self.shape = shape
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


def make_cudart(fail_malloc_after: int | None = None, major: int = 13) -> types.ModuleType:
    """cuda.bindings.runtime as far as the backend uses it. ``fail_malloc_after``: that many
    cudaMalloc calls succeed, then they fail with cudaErrorMemoryAllocation. ``major`` 13 (and
    12.9.1 on) has cuda.bindings.utils.get_cuda_native_handle and deprecates int(stream), which
    this stand-in refuses; 12 (before 12.9.1) has only int(stream)."""
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
            assert major < 13, "int(stream) is deprecated in cuda-bindings 13: get_cuda_native_handle"
            return self._handle

    def get_cuda_native_handle(obj) -> int:
        return obj._handle

    ok = cudaError_t.cudaSuccess
    streams: set[int] = set()

    def cudaStreamCreate():
        stream = cudaStream_t(1000 + len(streams))
        streams.add(stream._handle)
        return ok, stream

    def cudaStreamDestroy(stream):
        streams.remove(stream._handle)
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
        assert isinstance(kind, cudaMemcpyKind) and stream._handle in streams
        ctypes.memmove(int(dst), int(src), nbytes)
        return (ok,)

    def cudaStreamSynchronize(stream):
        assert stream._handle in streams
        return (ok,)

    cudart.streams = streams
    cudart.utils = types.ModuleType("cuda.bindings.utils")
    if major >= 13:
        cudart.utils.get_cuda_native_handle = get_cuda_native_handle
    for name, value in dict(locals()).items():
        if name.startswith("cuda"):
            setattr(cudart, name, value)
    return cudart
