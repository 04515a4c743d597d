"""PyTorch pix2pix (Isola et al. 2017): U-Net generator, PatchGAN discriminator, training."""
import os as _os
import sys as _sys

# OpenMP threads that spin at barriers stall every parallel region when another process holds a
# core: measured on the 2-core CI machine under load, a default-model training step took 5.2 s
# with spinning threads and 0.66 s with sleeping ones. It is read once, when torch loads its
# OpenMP runtime, so it can only be set before torch is first imported; an explicit setting wins.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pix2pix_stream.networks.models import (GeneratorConfig, DiscriminatorConfig, PatchDiscriminator,
                            UnetGenerator, count_parameters)

__all__ = ["UnetGenerator", "PatchDiscriminator", "GeneratorConfig", "DiscriminatorConfig",
           "count_parameters"]
