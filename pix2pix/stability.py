"""Loss terms that teach the generator temporal stability.

* Transform consistency (Eilertsen, Mantiuk, Unger, "Single-frame regularization for temporally
  stable CNNs", CVPR 2019), from single images: the input is moved by a small random affine
  transform T (a shift of a few pixels and a zoom of a few percent) plus a little noise; the
  output of that input must equal T applied to the output of the original. A camera moves a
  little and sensors are noisy between two frames of a video, which is exactly this; a generator
  that obeys it does not crawl or pump. Works on any dataset.
* Temporal consistency (ReCoNet, Gao et al. 2018; vid2vid's flow loss), for video data: the
  output for frame t must equal the output for frame t-1 warped along the optical flow between
  the *target* frames t and t-1, where that flow passes the forward-backward check. The flow is
  computed with OpenCV in the data pipeline (pix2pix_stream.pix2pix.data.temporal) and cached.

Both terms need more generator outputs per step (the moved input, the previous frame). They are
made in ONE forward pass of the generator over the concatenated batch, so that DDP sees one
forward and one backward per step as always. Random transforms come from a generator seeded by
(seed, step, rank), so a resumed run draws the same transforms as an uninterrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pix2pix_stream.pix2pix.errors import ConfigError


@dataclass(frozen=True)
class StabilityConfig:
    weight: float = 0.0            # transform consistency, in the units of lambda_l1 (0 = off)
    temporal_weight: float = 0.0   # video only: flow-warped consistency of consecutive frames
    max_shift: float = 4.0         # pixels, at the crop size
    max_zoom: float = 0.03         # relative
    noise: float = 0.02            # std of Gaussian noise on the moved input ([-1, 1] units)
    # Measure the terms relative to the output's contrast (x target std / output std): a
    # washed-out output then no longer scores as "stable" (see StabilityTerms.losses).
    scale_invariant: bool = False
    # Relative to the output's detail instead (x target's / output's mean gradient, at least 1):
    # blurring the output then raises the terms instead of lowering them.
    detail_invariant: bool = False

    def __post_init__(self):
        if min(self.weight, self.temporal_weight, self.max_shift, self.max_zoom, self.noise) < 0:
            raise ConfigError("stability weights and transform sizes must be >= 0")
        if self.scale_invariant and self.detail_invariant:
            raise ConfigError("the stability terms are measured relative to the output's contrast "
                              "or to its detail, not both")

    @property
    def enabled(self) -> bool:
        return self.weight > 0 or self.temporal_weight > 0


def default_detail_invariant(weight: float, temporal_weight: float, scale_invariant: bool) -> bool:
    """What pix2pix-train measures the terms by when not told (since 2026-12-04): relative to
    detail wherever a term is on, unless relative to contrast was asked for. The library
    default stays False, so that checkpoints written before keep their meaning."""
    return bool(weight or temporal_weight) and not scale_invariant


def random_affine(n: int, size: tuple[int, int], config: StabilityConfig,
                  generator: torch.Generator) -> torch.Tensor:
    """[n, 2, 3] affine matrices (normalised coordinates, as F.affine_grid takes them): a zoom
    within 1 +- max_zoom and a shift within +- max_shift pixels."""
    h, w = size
    u = torch.rand(n, 3, generator=generator) * 2 - 1
    zoom = 1 + config.max_zoom * u[:, 0]
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = zoom
    theta[:, 0, 2] = u[:, 1] * config.max_shift * 2 / w
    theta[:, 1, 2] = u[:, 2] * config.max_shift * 2 / h
    return theta


def affine(images: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(images moved by theta, [N, 1, H, W] mask of the pixels that came from inside)."""
    theta = theta.to(device=images.device, dtype=torch.float32)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    moved = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border",
                          align_corners=False)
    ones = torch.ones_like(images[:, :1], dtype=torch.float32)
    inside = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved.to(images.dtype), (inside > 0.999).float()


def warp(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp as media.temporal.warp: samples ``images`` at x + flow[x]; ``flow`` is
    [N, 2, H, W] in pixels (x, y), from the frame of the result to the frame of ``images``."""
    n, _, h, w = images.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device, dtype=torch.float32),
                            torch.arange(w, device=flow.device, dtype=torch.float32), indexing="ij")
    gx = (xs + flow[:, 0]) * 2 / max(w - 1, 1) - 1
    gy = (ys + flow[:, 1]) * 2 / max(h - 1, 1) - 1
    grid = torch.stack([gx, gy], dim=3)
    return F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border",
                         align_corners=True)


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |a - b| over the pixels where mask [N, 1, H, W] is set (every channel)."""
    mask = mask.float()
    total = (mask * (a.float() - b.float()).abs()).sum()
    return total / (mask.sum() * a.shape[1]).clamp_min(1.0)


@dataclass
class StabilityBatch:
    """The extra generator inputs of one step and what their outputs are compared with."""

    inputs: torch.Tensor                 # to be concatenated after the real inputs
    theta: torch.Tensor | None = None    # transform consistency: the transforms drawn
    flow: torch.Tensor | None = None     # temporal: target flow t -> t-1, [N, 2, H, W]
    flow_mask: torch.Tensor | None = None


class StabilityTerms:
    def __init__(self, config: StabilityConfig, seed: int = 0, rank: int = 0):
        self.config, self.seed, self.rank = config, seed, rank

    def batch(self, real_a: torch.Tensor, step: int, temporal: dict | None = None
              ) -> StabilityBatch | None:
        """The extra inputs for a step: the moved-and-noised input, and with ``temporal``
        ({"prev_input", "flow", "flow_mask"} from the data) the previous frame's input."""
        cfg, parts, out = self.config, [], StabilityBatch(real_a[:0])
        if cfg.weight > 0:
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + step * 7919 + self.rank)
            out.theta = random_affine(len(real_a), real_a.shape[2:], cfg, rng)
            moved, _ = affine(real_a, out.theta)
            noise = torch.randn(moved.shape, generator=rng).to(moved.device) * cfg.noise
            parts.append((moved + noise.to(moved.dtype)).clamp(-1, 1))
        if cfg.temporal_weight > 0 and temporal is not None:
            parts.append(temporal["prev_input"].to(real_a.device, real_a.dtype))
            out.flow = temporal["flow"].to(real_a.device, torch.float32)
            out.flow_mask = temporal["flow_mask"].to(real_a.device, torch.float32)
        if not parts:
            return None
        out.inputs = torch.cat(parts).contiguous(memory_format=_format_of(real_a))
        return out

    def losses(self, fake: torch.Tensor, extra: torch.Tensor, batch: StabilityBatch,
               target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Named weighted terms; ``extra`` is the generator's output for ``batch.inputs``,
        ``target`` the real frames (needed by ``scale_invariant`` and ``detail_invariant``)."""
        terms = self._weighted_terms(fake, extra, batch)
        ratio = self._relative_to_output(fake, target)
        if ratio is not None:
            terms = {name: value * ratio for name, value in terms.items()}
        return terms

    def _relative_to_output(self, fake: torch.Tensor, target: torch.Tensor | None
                            ) -> torch.Tensor | None:
        """The factor that makes the terms independent of the output's contrast or detail, or
        None. Both terms shrink with the output's contrast and with its fine structure, so the
        cheapest way to lower them is to wash the colours out or blur (what weights above ~100
        do). Divided by the output's std or mean gradient (with its gradient), scaling or
        blurring the output no longer lowers them; times the target's, they keep their size
        where the output's contrast or detail is right."""
        cfg = self.config
        if not (cfg.scale_invariant or cfg.detail_invariant):
            return None
        if target is None:
            raise ValueError("stability terms relative to the output need the target frames")
        if cfg.scale_invariant:
            return _std(target.float()).detach() / _std(fake.float()).clamp_min(1e-3)
        # At least 1: an output sharper than the target must not lower the terms either (an
        # unbounded ratio paid the generator to draw the input's edges hard and add grain).
        ratio = mean_gradient(target.float()).detach() / mean_gradient(fake.float()).clamp_min(1e-3)
        return ratio.clamp_min(1.0)

    def _weighted_terms(self, fake: torch.Tensor, extra: torch.Tensor, batch: StabilityBatch
                        ) -> dict[str, torch.Tensor]:
        cfg, n, terms = self.config, len(fake), {}
        offset = 0
        if batch.theta is not None:
            moved_output, inside = affine(fake, batch.theta)
            terms["G_stab"] = cfg.weight * masked_l1(extra[:n], moved_output, inside)
            offset = n
        if batch.flow is not None:
            previous = warp(extra[offset:offset + n], batch.flow)
            terms["G_temp"] = cfg.temporal_weight * masked_l1(fake, previous, batch.flow_mask)
        return terms


def _std(images: torch.Tensor) -> torch.Tensor:
    return images.std()


def mean_gradient(images: torch.Tensor) -> torch.Tensor:
    """mean |horizontal| + mean |vertical| difference of neighbouring pixels (all channels): how
    much fine structure a batch holds (media.temporal.mean_gradient, on tensors)."""
    return ((images[..., :, 1:] - images[..., :, :-1]).abs().mean()
            + (images[..., 1:, :] - images[..., :-1, :]).abs().mean())


def _format_of(x: torch.Tensor) -> torch.memory_format:
    return (torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous() else torch.contiguous_format)
