"""One pix2pix training step: the generator and discriminator, their optimisers and the losses.

The order of operations is the paper's (and the official code's): G makes a fake; D is updated on
(input, real) and (input, fake.detach()); then D is frozen and G is updated on GAN + lambda * L1.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pix2pix_stream.pix2pix.ema import WeightAverage
from pix2pix_stream.pix2pix.losses import GANLoss, discriminator_loss, generator_loss
from pix2pix_stream.networks.models import PatchDiscriminator, UnetGenerator
from pix2pix_stream.pix2pix.performance import Performance
from pix2pix_stream.pix2pix.stability import StabilityConfig, StabilityTerms


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    gan_mode: str = "vanilla"
    lambda_l1: float = 100.0


@dataclass(frozen=True)
class StepLosses:
    G_GAN: torch.Tensor
    G_L1: torch.Tensor
    D_real: torch.Tensor
    D_fake: torch.Tensor
    G_stab: torch.Tensor | None = None   # stability terms (pix2pix.stability), when on
    G_temp: torch.Tensor | None = None

    def as_floats(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items() if v is not None}


def _set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class Pix2PixModel:
    """Owns G, D and their Adam optimisers on one device.

    ``G`` and ``D`` may be replaced by DistributedDataParallel wrappers (see
    ``pix2pix.distributed.wrap_ddp``); ``G_net`` / ``D_net`` always are the bare modules, which is
    what checkpoints store and what the generator step uses for D (D is frozen there, so it needs
    no gradient synchronisation). With ``ema_decay`` > 0, ``G_avg`` keeps the moving average of
    G's weights (pix2pix.ema) that ``inference_generator`` returns.
    """

    def __init__(self, generator: UnetGenerator, discriminator: PatchDiscriminator,
                 optim: OptimConfig = OptimConfig(), perf: Performance = Performance(),
                 device: torch.device | str = "cpu", stability: StabilityTerms | None = None,
                 ema_decay: float = 0.0):
        self.device = torch.device(device)
        self.optim_config, self.perf = optim, perf
        self.stability = stability if stability is not None else StabilityTerms(StabilityConfig())
        fmt = perf.memory_format()
        self.G_net = generator.to(self.device, memory_format=fmt)
        self.D_net = discriminator.to(self.device, memory_format=fmt)
        self.G, self.D = self.G_net, self.D_net
        self.G_avg = WeightAverage(self.G_net, ema_decay) if ema_decay > 0 else None
        adam = dict(lr=optim.lr, betas=(optim.beta1, optim.beta2))
        if perf.fused_adam:
            adam["fused"] = True
        self.opt_G = torch.optim.Adam(self.G_net.parameters(), **adam)
        self.opt_D = torch.optim.Adam(self.D_net.parameters(), **adam)
        self.gan = GANLoss(optim.gan_mode)
        self.scaler = torch.amp.GradScaler(self.device.type,
                                           enabled=perf.needs_grad_scaler(self.device))

    def train(self) -> None:
        self.G.train()
        self.D.train()

    def to_input(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.to(self.device, non_blocking=True).contiguous(
            memory_format=self.perf.memory_format())

    def train_step(self, real_a: torch.Tensor, real_b: torch.Tensor, *, step: int = 0,
                   temporal: dict | None = None) -> StepLosses:
        """One iteration on a batch: input ``real_a`` and target ``real_b``, both [N, 3, H, W] in
        [-1, 1]. ``step`` seeds the stability transforms; ``temporal`` is a video batch's
        previous frame and flow (pix2pix.stability). Returns the detached losses."""
        real_a, real_b = self.to_input(real_a), self.to_input(real_b)
        extra = self.stability.batch(real_a, step, temporal) if self.stability.config.enabled \
            else None
        with self.perf.autocast(self.device):
            if extra is None:
                fake_b = self.G(real_a)
            else:  # one forward over all inputs: DDP expects one forward per backward
                fake_all = self.G(torch.cat([real_a, extra.inputs]))
                fake_b, fake_extra = fake_all[:len(real_a)], fake_all[len(real_a):]

        _set_requires_grad(self.D_net, True)
        self.opt_D.zero_grad(set_to_none=True)
        with self.perf.autocast(self.device):
            pred_fake = self.D(torch.cat([real_a, fake_b.detach()], dim=1))
            pred_real = self.D(torch.cat([real_a, real_b], dim=1))
        d_loss = discriminator_loss(self.gan, pred_real, pred_fake)
        self.scaler.scale(d_loss.total).backward()
        self.scaler.step(self.opt_D)

        _set_requires_grad(self.D_net, False)  # G's step must not accumulate D gradients
        self.opt_G.zero_grad(set_to_none=True)
        with self.perf.autocast(self.device):
            pred_fake = self.D_net(torch.cat([real_a, fake_b], dim=1))
        g_loss = generator_loss(self.gan, pred_fake, fake_b, real_b, self.optim_config.lambda_l1)
        terms = self.stability.losses(fake_b, fake_extra, extra, real_b) if extra is not None else {}
        total = g_loss.total + sum(terms.values()) if terms else g_loss.total
        self.scaler.scale(total).backward()
        self.scaler.step(self.opt_G)
        self.scaler.update()
        if self.G_avg is not None:
            self.G_avg.update(self.G_net)
        return StepLosses(g_loss.gan.detach(), g_loss.l1.detach(), d_loss.real.detach(),
                          d_loss.fake.detach(),
                          **{name: value.detach() for name, value in terms.items()})

    @property
    def inference_generator(self) -> nn.Module:
        """The generator to validate and export: the weight average when kept, else G."""
        return self.G_avg.module if self.G_avg is not None else self.G_net

    @torch.no_grad()
    def generate(self, real_a: torch.Tensor, generator: nn.Module | None = None) -> torch.Tensor:
        """G's output (or ``generator``'s) in fp32 NCHW, whatever the performance settings."""
        with self.perf.autocast(self.device):
            out = (generator if generator is not None else self.G_net)(self.to_input(real_a))
        return out.float().contiguous()

    def generate_for_inference(self, real_a: torch.Tensor) -> torch.Tensor:
        return self.generate(real_a, self.inference_generator)
