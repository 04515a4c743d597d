"""An exponential moving average of the generator's weights, the generator that validation,
best.pt, latest.pt's "generator" and the exported engine use.

Why: a GAN's generator never settles. Its weights at the last step are one point of an
oscillation, so the last checkpoint's held-out scores move by +-15 % from epoch to epoch (the
edges2bunny runs) and its texture depends on the batches it saw last. The average over the last
few hundred steps is the centre of that oscillation (Karras et al. 2018, Yazici et al. 2019).

The decay is warmed up, min(decay, (1 + n) / (10 + n)) at the n-th update, so a short run
averages over a window that fits it (~135 steps at step 1200) instead of keeping the random
initial weights. BatchNorm's running statistics are averaged with the weights (they must describe
the averaged network's activations, not the last batches'); integer buffers (the batch counter)
are copied.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    def __init__(self, module: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight average decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(module).eval()
        self.module.requires_grad_(False)

    def rate(self) -> float:
        """The share the next update gives the current weights."""
        n = self.updates + 1
        return 1.0 - min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        rate = self.rate()
        averaged, current = self._pairs(module)
        floats = [(a, c) for a, c in zip(averaged, current) if a.dtype.is_floating_point]
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], rate)
        for a, c in zip(averaged, current):
            if not a.dtype.is_floating_point:
                a.copy_(c)
        self.updates += 1

    def _pairs(self, module: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        mine, theirs = self.module.state_dict(), module.state_dict()
        if mine.keys() != theirs.keys():
            raise ValueError("weight average: the module's parameters differ from the averaged ones")
        return list(mine.values()), [theirs[k] for k in mine]

    def load(self, weights: dict[str, torch.Tensor], updates: int) -> None:
        """Restores an average saved as its module's state dict and update count."""
        self.module.load_state_dict(weights)
        self.updates = int(updates)
