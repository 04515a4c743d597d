"""How a training step runs on the hardware: memory format, mixed precision, fused optimisers.

These settings change speed, not the algorithm. bench/train.py measures each of them against the
plain fp32 NCHW step (what the official code does) and reports what they do to the losses; the
defaults below are the fastest variant that kept the losses sane on the CPU they were measured on.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Performance:
    precision: str = "fp32"        # autocast dtype for the networks; losses stay fp32
    channels_last: bool = False    # NHWC activations/weights (oneDNN / tensor cores prefer it)
    fused_adam: bool = False       # one fused kernel for the Adam update of all parameters

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; expected one of {PRECISIONS}")

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]

    def autocast(self, device: torch.device):
        dtype = self.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=dtype)

    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def needs_grad_scaler(self, device: torch.device) -> bool:
        # fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range.
        return self.precision == "fp16" and device.type == "cuda"


def default_performance(device: torch.device) -> Performance:
    """The measured-fastest sane settings for ``device``; see bench/train.py and docs/training.md."""
    if device.type == "cuda":
        # Without native bf16 (V100, T4: compute capability < 8.0) torch emulates it, slowly:
        # fp16 with a GradScaler (needs_grad_scaler) is the fast choice there.
        bf16 = cuda_has_native_bf16(device)
        return Performance(precision="bf16" if bf16 else "fp16", channels_last=True, fused_adam=True)
    # On the 2-core AVX512-BF16 CPU this was measured on, channels_last made training slower
    # (oneDNN reorders weights for every conv's backward), bf16 + fused Adam made it faster.
    return Performance(precision="bf16" if cpu_has_fast_bf16() else "fp32",
                       channels_last=False, fused_adam=True)


def cuda_has_native_bf16(device: torch.device) -> bool:
    """True where the GPU computes bf16 in hardware (compute capability 8.0 and up: A100, L4,
    H100, RTX 30xx on). torch.cuda.is_bf16_supported() counts emulation unless told not to."""
    if torch.version.hip:  # ROCm: torch answers for the AMD GPU
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.cuda.get_device_capability(device) >= (8, 0)


def cpu_has_fast_bf16() -> bool:
    """True where oneDNN has native bf16 instructions (AVX512-BF16 or AMX); elsewhere bf16 is
    emulated and slower than fp32."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
