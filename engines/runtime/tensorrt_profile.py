"""The optimisation profile of a TensorRT plan, and of ONNX Runtime's TensorRT provider: which
input shapes [N, H, W, 3] an engine built by TensorRT accepts (min..max) and which it is tuned
for (opt). No GPU needed; tensorrt_build and the backends use it.

Batch comes from the command line (--min/opt/max-batch). Height and width come from engine.json's
geometry fields (size_multiple, min_size, max_size, trained_size; written by export since engines
take any size): min is the engine's smallest size, opt the compute size of a 16:9 frame
(the short side the net was trained at, the long side 16/9 of it), max the largest frame the plan
must take (--max-size, default a 1080p frame). Engines whose engine.json lacks these fields have a
fixed input size: then min = opt = max = that size.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pix2pix_stream.engines.runtime.errors import ProfileShapeError

DEFAULT_MAX_SIZE = (1088, 1920)     # a 1080p frame, rounded up to a multiple of 64
ENGINE_MAX_SIZE = (2176, 3840)      # engine.json's max_size when absent (the shared contract)
OPT_ASPECT = 16 / 9                 # the frames the plan is tuned for: landscape 16:9 video


@dataclass(frozen=True)
class BatchProfile:
    """The optimisation profile of the batch axis: TensorRT tunes kernels for ``opt`` and
    accepts any batch in [min, max]."""

    min: int = 1
    opt: int = 8
    max: int = 32

    def __post_init__(self):
        if not 1 <= self.min <= self.opt <= self.max:
            raise ValueError(f"batch profile needs 1 <= min <= opt <= max, got "
                             f"{self.min}/{self.opt}/{self.max}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class SizeProfile:
    """The optimisation profile of the height and width axes, as (height, width) pairs.
    ``multiple`` is the step every size must be a multiple of; None for a fixed-size engine."""

    min: tuple[int, int]
    opt: tuple[int, int]
    max: tuple[int, int]
    multiple: int | None = None

    def __post_init__(self):
        for axis in (0, 1):
            if not 1 <= self.min[axis] <= self.opt[axis] <= self.max[axis]:
                raise ValueError(f"size profile needs min <= opt <= max on each axis, got "
                                 f"{list(self.min)} / {list(self.opt)} / {list(self.max)}")

    @classmethod
    def fixed(cls, height: int, width: int) -> "SizeProfile":
        return cls((height, width), (height, width), (height, width))

    @property
    def is_fixed(self) -> bool:
        return self.min == self.max

    def to_dict(self) -> dict[str, Any]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max),
                "multiple": self.multiple}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SizeProfile":
        return cls(tuple(data["min"]), tuple(data["opt"]), tuple(data["max"]), data.get("multiple"))


def _round_up(value: float, multiple: int) -> int:
    return int(math.ceil(value / multiple)) * multiple


def _round_down(value: int, multiple: int) -> int:
    return max(multiple, value // multiple * multiple)


def size_profile(meta, max_size: tuple[int, int] = DEFAULT_MAX_SIZE) -> SizeProfile:
    """The height/width profile for ``meta`` (an EngineMetadata); ``max_size`` (h, w) is the
    largest frame the plan must take, rounded up to the engine's multiple and kept within the
    engine's own max_size."""
    multiple = getattr(meta, "size_multiple", None)
    if not multiple:  # an engine from before dynamic sizes: fixed at its input size
        return SizeProfile.fixed(meta.input_height, meta.input_width)
    low = tuple(getattr(meta, "min_size", None) or (multiple, multiple))
    engine_max = getattr(meta, "max_size", None) or ENGINE_MAX_SIZE
    high = tuple(min(_round_up(want, multiple), _round_down(limit, multiple))
                 for want, limit in zip(max_size, engine_max))
    if any(h < lo for h, lo in zip(high, low)):
        raise ValueError(f"max size {list(max_size)} is below the engine's minimum {list(low)}")
    crop = (getattr(meta, "trained_size", None) or {}).get("crop_size") or meta.input_height
    short = _round_up(crop, multiple)
    long = _round_up(short * OPT_ASPECT, multiple)
    opt = tuple(min(max(value, lo), hi) for value, lo, hi in zip((short, long), low, high))
    return SizeProfile(low, opt, high, multiple)


def profile_shapes(batch: BatchProfile, sizes: SizeProfile) -> tuple[tuple[int, ...], ...]:
    """(min, opt, max) NHWC input shapes, as IOptimizationProfile.set_shape takes them."""
    return tuple((n, *hw, 3) for n, hw in ((batch.min, sizes.min), (batch.opt, sizes.opt),
                                           (batch.max, sizes.max)))


def check_shape(shape: tuple[int, ...], batch: BatchProfile, sizes: SizeProfile,
                name: str = "engine") -> None:
    """Raises ProfileShapeError naming the bound an NHWC batch shape breaks (TensorRT would
    only refuse it inside set_input_shape, without saying why)."""
    n, height, width = (int(d) for d in shape[:3])
    if n < batch.min:
        raise ProfileShapeError(f"{name}: batch {n} is below the plan's profile minimum "
                                f"{batch.min} (rebuild with a smaller --min-batch)")
    if n > batch.max:
        raise ProfileShapeError(f"{name}: batch {n} is above the plan's profile maximum "
                                f"{batch.max} (rebuild with a larger --max-batch)")
    for axis, value, low, high in (("height", height, sizes.min[0], sizes.max[0]),
                                   ("width", width, sizes.min[1], sizes.max[1])):
        if value < low:
            raise ProfileShapeError(f"{name}: {axis} {value} is below the plan's profile "
                                    f"minimum {low}")
        if value > high:
            raise ProfileShapeError(f"{name}: {axis} {value} is above the plan's profile "
                                    f"maximum {high} (rebuild with a larger --max-size)")
        if sizes.multiple and value % sizes.multiple:
            raise ProfileShapeError(f"{name}: {axis} {value} is not a multiple of "
                                    f"{sizes.multiple}, which this engine needs")


def ort_trt_profile_options(input_name: str, batch: BatchProfile,
                            sizes: SizeProfile) -> dict[str, str]:
    """ONNX Runtime TensorRT provider options for an explicit profile ("name:1x256x256x3"), so
    the provider builds one engine for the whole range instead of rebuilding it whenever a
    larger batch or frame arrives."""
    shapes = profile_shapes(batch, sizes)
    return {f"trt_profile_{which}_shapes": f"{input_name}:" + "x".join(str(d) for d in shape)
            for which, shape in zip(("min", "opt", "max"), shapes)}
