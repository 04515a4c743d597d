"""What this host can run, found without importing torch: CPU bf16 support and a CUDA GPU with
TensorRT."""
from __future__ import annotations

import ctypes
import functools
import importlib.util
from pathlib import Path

_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
_VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of Linux /proc/cpuinfo (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX)."""
    return any(f in cpu_flags() for f in _BF16_FLAGS)


def cpu_has_vnni() -> bool:
    """True when the CPU has int8 dot-product instructions (VNNI or AMX)."""
    return any(f in cpu_flags() for f in _VNNI_FLAGS)


@functools.lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """CUDA devices the driver sees (0 without a driver); asks libcuda directly."""
    for name in ("libcuda.so.1", "libcuda.so"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    return 0


def tensorrt_gpu_available() -> bool:
    return importlib.util.find_spec("tensorrt") is not None and cuda_device_count() > 0


# CUdevice_attribute values from cuda.h (stable across CUDA versions).
_CC_MAJOR, _CC_MINOR = 75, 76


def cuda_device(index: int = 0) -> dict:
    """{"name", "compute_capability": "9.0"} of CUDA device ``index``, asked of libcuda; raises
    RuntimeError without a driver or device."""
    for lib_name in ("libcuda.so.1", "libcuda.so"):
        try:
            lib = ctypes.CDLL(lib_name)
            break
        except OSError:
            continue
    else:
        raise RuntimeError("no CUDA driver (libcuda) on this host")
    device = ctypes.c_int(0)
    if lib.cuInit(0) != 0 or lib.cuDeviceGet(ctypes.byref(device), index) != 0:
        raise RuntimeError(f"CUDA device {index} not available")
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    lib.cuDeviceGetAttribute(ctypes.byref(major), _CC_MAJOR, device)
    lib.cuDeviceGetAttribute(ctypes.byref(minor), _CC_MINOR, device)
    name = ctypes.create_string_buffer(256)
    lib.cuDeviceGetName(name, 256, device)
    return {"name": name.value.decode(errors="replace"),
            "compute_capability": f"{major.value}.{minor.value}"}
