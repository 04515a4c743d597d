"""PyTorch pix2pix (Isola et al. 2017): U-Net generator, PatchGAN discriminator, training."""
from pix2pix.models import (GeneratorConfig, DiscriminatorConfig, PatchDiscriminator,
                            UnetGenerator, count_parameters)

__all__ = ["UnetGenerator", "PatchDiscriminator", "GeneratorConfig", "DiscriminatorConfig",
           "count_parameters"]
