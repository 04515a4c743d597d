"""The paper's random jitter: resize to 286x286, random 256x256 crop, random horizontal flip,
identical for the input and the target. Sizes scale with the crop size (load = crop * 286/256)
unless given. Validation and evaluation only resize to the crop size.

Non-square sources (video frames, photos) keep their aspect ratio: the short side is resized to
the load size and the long side follows, so the random crop sees shapes undistorted, as the
server later translates them (media.geometry keeps aspect too). A square source is resized
exactly as before. Validation resizes the short side to the crop size and takes the centre.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from pix2pix_stream.media.geometry import scaled_size

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

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...] | None = None
               ) -> JitterParams:
        """A crop position and flip for a source of ``shape`` ([height, width, ...]; None: a
        square one)."""
        width, height = self.loaded_size(shape)
        x, y = (int(v) for v in rng.integers(0, [width - self.crop_size + 1,
                                                 height - self.crop_size + 1]))
        return JitterParams(x, y, bool(self.flip and rng.random() < 0.5))

    def loaded_size(self, shape: tuple[int, ...] | None) -> tuple[int, int]:
        """(width, height) of a source of ``shape`` once its short side is the load size."""
        if shape is None:
            return self.load_size, self.load_size
        return scaled_size(shape[1], shape[0], self.load_size)

    def apply(self, image: np.ndarray, p: JitterParams) -> np.ndarray:
        img = resize_to(image, *self.loaded_size(image.shape))
        img = img[p.y:p.y + self.crop_size, p.x:p.x + self.crop_size]
        return np.ascontiguousarray(img[:, ::-1] if p.flip else img)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Square resize with bicubic filtering (as the official code); no-op at the right size."""
    return resize_to(image, size, size)


def resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize (as the official code); no-op at the right size."""
    if image.shape[0] == height and image.shape[1] == width:
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BICUBIC))


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The short side resized to ``size`` (aspect kept), then the central size x size square:
    validation's and evaluation's view of a source."""
    height, width = image.shape[:2]
    width, height = scaled_size(width, height, size)
    img = resize_to(image, width, height)
    x, y = (width - size) // 2, (height - size) // 2
    return np.ascontiguousarray(img[y:y + size, x:x + size])
