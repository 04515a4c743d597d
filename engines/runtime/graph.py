"""The generator wrapped with its pixel work, as one module: uint8 NHWC RGB in, uint8 NHWC RGB out.

Exporting this module (rather than the bare generator) puts the scaling, the layout change and the
tanh -> uint8 rounding inside the ONNX graph, so every backend and every client sees the same
pixels and no backend can forget a step. Imports torch: only export and the torch backend use it.
"""
from __future__ import annotations

import torch
from torch import nn


def to_generator_input(frames: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W, C] -> float [N, C, H, W] in [-1, 1] (the training data's scaling).

    Cast first, then permute: TensorRT accepts uint8 only as a network input that feeds a Cast
    directly (its Shuffle layer, which a Transpose becomes, has no uint8)."""
    return frames.to(torch.float32).permute(0, 3, 1, 2) / 127.5 - 1.0


def to_frames(output: torch.Tensor) -> torch.Tensor:
    """Generator output (tanh, [-1, 1], NCHW) -> uint8 NHWC. Rounds to nearest (ties to even, as
    ONNX Round does) and clamps, so that a float that lands a hair outside [0, 255] stays valid.
    Permute before the cast, so that the uint8 output comes straight from a Cast (see above)."""
    pixels = torch.round((output.to(torch.float32) + 1.0) * 127.5).clamp(0.0, 255.0)
    return pixels.permute(0, 2, 3, 1).to(torch.uint8)


class FrameTranslator(nn.Module):
    """``generator`` in inference form behind uint8 frames. The generator is put in eval mode:
    BatchNorm uses its running statistics and dropout is off, so a frame's output depends neither
    on the other frames of its batch nor on chance."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator.eval()

    def train(self, mode: bool = True):
        # Never leave inference form, even if a caller flips the whole tree to train().
        return super().train(False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return to_frames(self.generator(to_generator_input(frames)))
