"""The networks of Isola et al. 2017 ("Image-to-Image Translation with Conditional Adversarial
Networks"): a U-Net generator with skip connections and a PatchGAN discriminator.

The layer sequence, channel widths and bias rules follow the official pytorch-CycleGAN-and-pix2pix
code so that parameter counts match it exactly (54,413,955 for unet_256 / ngf 64 / batch norm;
2,768,705 for the 70x70 PatchGAN with ndf 64) and its checkpoints can be imported
(see engines.official). The module layout is our own: flat lists of encoder and decoder blocks
instead of recursively nested blocks, which keeps forward() readable and export graphs flat.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

NORMS = ("batch", "instance", "none")
GENERATOR_DEPTHS = {"unet_256": 8, "unet_128": 7}


def _norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        # As in the official code: no affine parameters, no running statistics.
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS}")


def _conv_bias(norm: str) -> bool:
    # BatchNorm's shift makes a conv bias redundant; instance norm has no affine shift, so the
    # official code keeps the bias there. Matching this is what makes the parameter counts exact.
    return norm != "batch"


@dataclass(frozen=True)
class GeneratorConfig:
    """Constructor arguments of UnetGenerator; stored in every checkpoint beside the weights."""

    input_nc: int = 3
    output_nc: int = 3
    netG: str = "unet_256"
    ngf: int = 64
    norm: str = "batch"
    dropout: bool = True

    @property
    def num_downs(self) -> int:
        return GENERATOR_DEPTHS[self.netG]

    @property
    def divisor(self) -> int:
        """Input height and width must be multiples of this (one halving per encoder block)."""
        return 2**self.num_downs

    def to_dict(self) -> dict:
        return asdict(self)


class _EncoderBlock(nn.Module):
    """LeakyReLU(0.2) -> conv 4x4 stride 2 -> norm. The activation sits in front of the conv
    (as in the official code) so that the block's output is the pre-activation feature map,
    which is what the matching decoder block receives as its skip connection."""

    def __init__(self, in_ch: int, out_ch: int, norm: str, *, outermost: bool, innermost: bool):
        super().__init__()
        self.act = nn.Identity() if outermost else nn.LeakyReLU(0.2, inplace=False)
        self.conv = nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=_conv_bias(norm))
        use_norm = not (outermost or innermost)
        self.norm = _norm_layer(norm, out_ch) if use_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(self.act(x)))


class _DecoderBlock(nn.Module):
    """ReLU -> transposed conv 4x4 stride 2 -> norm -> optional dropout(0.5); the outermost block
    ends with tanh instead of norm."""

    def __init__(self, in_ch: int, out_ch: int, norm: str, *, outermost: bool, dropout: bool):
        super().__init__()
        self.act = nn.ReLU(inplace=False)
        bias = True if outermost else _conv_bias(norm)
        self.conv = nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=bias)
        self.norm = nn.Tanh() if outermost else _norm_layer(norm, out_ch)
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.norm(self.conv(self.act(x))))


def _encoder_widths(ngf: int, num_downs: int) -> list[int]:
    """Output channels of each encoder block, outermost first: ngf, 2ngf, 4ngf, then 8ngf."""
    return [ngf * min(2**i, 8) for i in range(num_downs)]


class UnetGenerator(nn.Module):
    """U-Net: encoder block i's output is concatenated to the input of decoder block i.

    ``encoder[0]`` is the outermost (full resolution) block, ``encoder[-1]`` the innermost
    (1x1 at 256 input for unet_256); ``decoder[0]`` is the innermost decoder block. Dropout sits in
    the three innermost decoder blocks, as in the paper's decoder (CD512-CD512-CD512-C512...).
    The official pytorch-CycleGAN-and-pix2pix code places it one block further out (none in the
    innermost block, then num_downs - 5 blocks with it: three for unet_256, two for unet_128); we
    follow the paper on purpose. Dropout has no weights and is off in engines, so official
    checkpoints import and serve identically.
    """

    def __init__(self, input_nc: int = 3, output_nc: int = 3, netG: str = "unet_256",
                 ngf: int = 64, norm: str = "batch", dropout: bool = True):
        super().__init__()
        if netG not in GENERATOR_DEPTHS:
            raise ValueError(f"unknown netG {netG!r}; expected one of {sorted(GENERATOR_DEPTHS)}")
        _norm_layer(norm, 1)  # validates the name early
        self.config = GeneratorConfig(input_nc, output_nc, netG, ngf, norm, dropout)
        n = self.config.num_downs
        widths = _encoder_widths(ngf, n)
        ins = [input_nc] + widths[:-1]
        self.encoder = nn.ModuleList(
            _EncoderBlock(ins[i], widths[i], norm, outermost=i == 0, innermost=i == n - 1)
            for i in range(n)
        )
        decoder = []
        for depth in reversed(range(n)):  # innermost first
            innermost, outermost = depth == n - 1, depth == 0
            in_ch = widths[depth] * (1 if innermost else 2)
            out_ch = output_nc if outermost else ins[depth]
            use_dropout = dropout and (n - 1 - depth) < 3 and not outermost
            decoder.append(_DecoderBlock(in_ch, out_ch, norm, outermost=outermost,
                                         dropout=use_dropout))
        self.decoder = nn.ModuleList(decoder)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for block in self.encoder:
            h = block(h)
            skips.append(h)
        skips.pop()  # the innermost output feeds the first decoder block directly
        for block in self.decoder[:-1]:
            h = torch.cat([skips.pop(), block(h)], dim=1)
        return self.decoder[-1](h)


@dataclass(frozen=True)
class DiscriminatorConfig:
    input_nc: int = 6  # input and output channels, concatenated
    ndf: int = 64
    n_layers: int = 3  # 3 = the 70x70 PatchGAN; 0 = the 1x1 PixelGAN
    norm: str = "batch"

    def to_dict(self) -> dict:
        return asdict(self)


class PatchDiscriminator(nn.Module):
    """Classifies each overlapping patch of an (input, output) pair as real or fake, returning a
    map of logits. ``n_layers=3`` has a 70x70 receptive field (1x30x30 map for 256x256 input);
    ``n_layers=0`` is the PixelGAN, a stack of 1x1 convolutions with a 1x1 receptive field."""

    def __init__(self, input_nc: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        self.config = DiscriminatorConfig(input_nc, ndf, n_layers, norm)
        bias = _conv_bias(norm)
        if n_layers == 0:
            layers = [
                nn.Conv2d(input_nc, ndf, 1), nn.LeakyReLU(0.2),
                nn.Conv2d(ndf, ndf * 2, 1, bias=bias), _norm_layer(norm, ndf * 2), nn.LeakyReLU(0.2),
                nn.Conv2d(ndf * 2, 1, 1, bias=bias),
            ]
        else:
            layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            prev = ndf
            for i in range(1, n_layers + 1):
                width = ndf * min(2**i, 8)
                stride = 2 if i < n_layers else 1  # the last widening conv keeps resolution
                layers += [nn.Conv2d(prev, width, 4, stride=stride, padding=1, bias=bias),
                           _norm_layer(norm, width), nn.LeakyReLU(0.2)]
                prev = width
            layers.append(nn.Conv2d(prev, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.net(pair)


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """Paper initialisation: conv weights ~ N(0, 0.02), biases 0; BatchNorm scale ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
