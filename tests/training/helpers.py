"""Small synthetic data and tiny configurations for the training tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pix2pix_stream.pix2pix.config import TrainConfig
from pix2pix_stream.pix2pix.data import DataConfig
from pix2pix_stream.networks.models import DiscriminatorConfig, GeneratorConfig
from pix2pix_stream.pix2pix.performance import Performance
from pix2pix_stream.media.synthetic import drawn_frame

TINY_G = GeneratorConfig(netG="unet_128", ngf=8)
TINY_D = DiscriminatorConfig(ndf=8)


def make_aligned_folder(folder: Path, count: int = 6, size: int = 64) -> Path:
    """``count`` aligned A|B JPEG-free PNGs: A is a drawn frame, B its colour inverse."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        a = drawn_frame(i, size, size)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(folder / f"{i:03d}.png")
    return folder


def make_pair_folders(root: Path, names: list[str], size: int = 64) -> Path:
    for side in ("A", "B"):
        (root / side).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        a = drawn_frame(i, size, size)
        Image.fromarray(a).save(root / "A" / name)
        Image.fromarray(255 - a).save(root / "B" / name)
    return root


def tiny_config(data: Path, out: Path, **overrides) -> TrainConfig:
    data_kw = {k: overrides.pop(k) for k in list(overrides) if k in DataConfig.__dataclass_fields__}
    data_kw.setdefault("crop_size", 128)
    data_kw.setdefault("val_fraction", 0.2)
    base = dict(generator=TINY_G, discriminator=TINY_D, epochs=1, epochs_decay=1,
                performance=Performance(), progress=False, keep_every=0)
    base.update(overrides)
    return TrainConfig(DataConfig(str(data), **data_kw), str(out), **base)
