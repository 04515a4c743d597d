"""Untrained generators that still behave like trained ones where it matters for checks:

- BatchNorm running statistics are randomised (fresh ones are mean 0 / variance 1, which would
  hide any bug that confuses them with batch statistics);
- convolution weights are scaled by fan-in so that activations keep their size through the
  U-Net. The paper's N(0, 0.02) initialisation makes an untrained generator answer a flat grey
  (tanh of almost 0) whatever the input, and parity checks on a flat image prove little.

Used by tests, fixtures and bench/engines.py."""
from __future__ import annotations

import torch
from torch import nn


def scale_weights_by_fan_in(module: nn.Module, seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            kernel = m.weight[0, 0].numel()
            # Conv2d weights are [out, in, k, k]; ConvTranspose2d [in, out, k, k], and a stride-2
            # transposed 4x4 kernel touches each output pixel with a quarter of its taps.
            fan_in = m.in_channels * kernel if isinstance(m, nn.Conv2d) else m.in_channels * kernel / 4
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) / fan_in**0.5)
    return module


def randomize_norm_statistics(module: nn.Module, seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
                m.weight.copy_(1.0 + 0.2 * torch.randn(n, generator=generator))
                m.bias.copy_(0.1 * torch.randn(n, generator=generator))
    return module


def synthetic_generator(netG: str = "unet_128", ngf: int = 8, norm: str = "batch",
                        seed: int = 0, **kwargs) -> nn.Module:
    """A seeded UnetGenerator with fan-in scaled weights and randomised norm statistics, in eval
    mode: its output spans the whole 0..255 range."""
    from pix2pix_stream.networks.models import UnetGenerator

    torch.manual_seed(seed)
    generator = UnetGenerator(netG=netG, ngf=ngf, norm=norm, **kwargs)
    scale_weights_by_fan_in(generator, seed)
    return randomize_norm_statistics(generator, seed).eval()
