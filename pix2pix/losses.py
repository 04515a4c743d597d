"""The paper's objective: a conditional GAN loss plus lambda * L1 for the generator, and the
discriminator loss halved (Isola et al. 2017, section 3 and 6.2)."""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

GAN_MODES = ("vanilla", "lsgan")


class GANLoss(nn.Module):
    """Loss of a map of discriminator logits against an all-real or all-fake target.

    ``vanilla`` is the original GAN objective as binary cross-entropy on logits (numerically
    stable, so the discriminator ends in no sigmoid); ``lsgan`` is least squares (Mao et al.)."""

    def __init__(self, mode: str = "vanilla"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"unknown GAN mode {mode!r}; expected one of {GAN_MODES}")
        self.mode = mode

    def forward(self, logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        # Losses are always reduced in float32, also when the networks run under autocast.
        logits = logits.float()
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)


class DiscriminatorLoss(NamedTuple):
    total: torch.Tensor
    real: torch.Tensor
    fake: torch.Tensor


class GeneratorLoss(NamedTuple):
    total: torch.Tensor
    gan: torch.Tensor
    l1: torch.Tensor


def discriminator_loss(gan: GANLoss, pred_real: torch.Tensor, pred_fake: torch.Tensor
                       ) -> DiscriminatorLoss:
    """Halved, as in the paper, to slow D down relative to G."""
    real, fake = gan(pred_real, True), gan(pred_fake, False)
    return DiscriminatorLoss(0.5 * (real + fake), real, fake)


def generator_loss(gan: GANLoss, pred_fake: torch.Tensor, fake: torch.Tensor,
                   target: torch.Tensor, lambda_l1: float = 100.0) -> GeneratorLoss:
    """GAN term (fool D) + lambda * L1 to the target; the paper uses lambda = 100."""
    adv = gan(pred_fake, True)
    l1 = F.l1_loss(fake.float(), target.float())
    return GeneratorLoss(adv + lambda_l1 * l1, adv, l1)
