"""A test-only stand-in for the official pytorch-CycleGAN-and-pix2pix U-Net, written here from its
published structure (not copied): blocks that nest recursively, each keeping its layers in an
``nn.Sequential`` named ``model``, so that its state-dict keys have the official shape
(``model.model.0.weight``, ``model.model.1.model.1.weight``, ...). Conv biases only with instance
norm (``use_bias = norm is InstanceNorm2d``); the outermost transposed conv always has one.
"""
from __future__ import annotations

import functools

import torch
from torch import nn


def norm_factory(norm: str):
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)


class NestedBlock(nn.Module):
    """One level of the U: down path, the inner level (if any), up path; the output is the
    block's input concatenated with what comes back up (except at the outermost level)."""

    def __init__(self, outer_nc, inner_nc, *, in_nc=None, inner=None, outermost=False,
                 innermost=False, make_norm=nn.BatchNorm2d, dropout=False):
        super().__init__()
        self.outermost = outermost
        with_bias = make_norm.func is nn.InstanceNorm2d
        in_nc = outer_nc if in_nc is None else in_nc
        down_conv = nn.Conv2d(in_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=with_bias)
        if outermost:
            layers = [down_conv, inner, nn.ReLU(True),
                      nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True),
                      nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=with_bias),
                      make_norm(outer_nc)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down_conv, make_norm(inner_nc), inner, nn.ReLU(True),
                      nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=with_bias),
                      make_norm(outer_nc)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], 1)


class NestedUnet(nn.Module):
    def __init__(self, input_nc=3, output_nc=3, num_downs=8, ngf=64, norm="batch", dropout=True):
        super().__init__()
        make_norm = norm_factory(norm)
        block = NestedBlock(ngf * 8, ngf * 8, innermost=True, make_norm=make_norm)
        for _ in range(num_downs - 5):
            block = NestedBlock(ngf * 8, ngf * 8, inner=block, make_norm=make_norm, dropout=dropout)
        for mult in (4, 2, 1):
            block = NestedBlock(ngf * mult, ngf * mult * 2, inner=block, make_norm=make_norm)
        self.model = NestedBlock(output_nc, ngf, in_nc=input_nc, inner=block, outermost=True,
                                 make_norm=make_norm)

    def forward(self, x):
        return self.model(x)


def trained_looking(net: nn.Module, seed: int) -> nn.Module:
    """Random weights of a sensible size and random BatchNorm statistics, so that a wrong key
    mapping shows in the output (the paper's N(0, 0.02) init would give flat grey)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = m.in_channels * 16 / (1 if isinstance(m, nn.Conv2d) else 4)
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / fan_in**0.5)
                if m.bias is not None:
                    m.bias.copy_(0.05 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.75 + 0.5 * torch.rand(m.num_features, generator=g))
                m.weight.copy_(1 + 0.2 * torch.randn(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
    return net


def save_like_official(net: nn.Module, path) -> None:
    """The official code saves ``net.cpu().state_dict()`` (after unwrapping DataParallel)."""
    torch.save(net.cpu().state_dict(), path)


TRAIN_OPT = """----------------- Options ---------------
               batch_size: 1
                    beta1: 0.5
                crop_size: {crop}
                 dataroot: ./datasets/facades                   \t[default: None]
                direction: BtoA                                 \t[default: AtoB]
                 input_nc: 3
                  isTrain: True                                 \t[default: None]
                    model: pix2pix                              \t[default: cycle_gan]
                     name: facades_pix2pix                      \t[default: experiment_name]
                     netG: {netG}                               \t[default: resnet_9blocks]
                      ngf: {ngf}
                     norm: {norm}                               \t[default: instance]
                output_nc: 3
----------------- End -------------------
"""
