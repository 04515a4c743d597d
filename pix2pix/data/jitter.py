"""The paper's random jitter: resize to 286x286, random 256x256 crop, random horizontal flip,
identical for the input and the target. Sizes scale with the crop size (load = crop * 286/256)
unless given. Validation and evaluation only resize to the crop size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

PAPER_LOAD, PAPER_CROP = 286, 256


def default_load_size(crop_size: int) -> int:
    return round(crop_size * PAPER_LOAD / PAPER_CROP)


@dataclass(frozen=True)
class JitterParams:
    x: int
    y: int
    flip: bool


@dataclass(frozen=True)
class Jitter:
    load_size: int = PAPER_LOAD
    crop_size: int = PAPER_CROP
    flip: bool = True

    def sample(self, rng: np.random.Generator) -> JitterParams:
        margin = self.load_size - self.crop_size
        x, y = (int(v) for v in rng.integers(0, margin + 1, size=2))
        return JitterParams(x, y, bool(self.flip and rng.random() < 0.5))

    def apply(self, image: np.ndarray, p: JitterParams) -> np.ndarray:
        img = resize(image, self.load_size)
        img = img[p.y:p.y + self.crop_size, p.x:p.x + self.crop_size]
        return np.ascontiguousarray(img[:, ::-1] if p.flip else img)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Square resize with bicubic filtering (as the official code); no-op at the right size."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC))
