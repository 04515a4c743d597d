"""Named generator configurations, as data: the training CLI (``pix2pix-train --preset NAME``)
and bench/engines.py read them from here, so the numbers in docs/engines.md describe exactly what
a preset trains.

- ``paper``: the generator of Isola et al. (unet_256, ngf 64): 54.4 M parameters, ~218 MB fp32.
- ``balanced``: unet_256 with ngf 32: 13.6 M parameters (1/4), a ~54 MB engine; >= 30 fps at
  256x256, batch 1, on every CPU route here, even plain ONNX Runtime fp32 (~56 fps).
- ``realtime``: unet_256 with ngf 16: the same depth and receptive field (so the same 256x256
  input and skip structure) with a quarter of the filters in every layer: 3.4 M parameters
  (1/16), a ~14 MB engine (fits the 25 MB demo budget), 120-190 fps at 256x256, batch 1, on
  the 2-core AVX-512 CPU here on every route (bench/engines.py; docs/engines.md): room for several
  live streams at once. The trade-off is capacity: fewer filters reproduce less fine texture, so
  outputs are blurrier on detailed targets (photos from labels); on simple mappings (edges,
  label maps, colourisation) the loss is small. Not measured here on trained models.
"""
from __future__ import annotations

from typing import Any

GENERATOR_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"netG": "unet_256", "ngf": 64, "norm": "batch", "dropout": True},
    "balanced": {"netG": "unet_256", "ngf": 32, "norm": "batch", "dropout": True},
    "realtime": {"netG": "unet_256", "ngf": 16, "norm": "batch", "dropout": True},
}
PRESET_INPUT_SIZE = {"paper": 256, "balanced": 256, "realtime": 256}


def generator_preset(name: str) -> dict[str, Any]:
    """UnetGenerator keyword arguments of the preset ``name`` (a copy)."""
    try:
        return dict(GENERATOR_PRESETS[name])
    except KeyError:
        raise KeyError(f"unknown generator preset {name!r}; available: "
                       f"{', '.join(sorted(GENERATOR_PRESETS))}") from None
