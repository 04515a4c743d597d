"""Image-quality metrics for validation and pix2pix-eval.

All functions take batches ``[N, C, H, W]`` in the generator's value range [-1, 1] and return
one float per image (a tensor of shape [N]). L1 is measured in that [-1, 1] space, so it equals
the G_L1 term of training; PSNR and SSIM are measured on images mapped to [0, 1].
"""
from __future__ import annotations

import torch

# Wang, Bovik, Sheikh, Simoncelli 2004, "Image quality assessment: from error visibility to
# structural similarity": 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (output.float() - target.float()).abs().flatten(1).mean(dim=1)


def psnr(output: torch.Tensor, target: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB with peak 1 (images in [0, 1]); capped at 100 dB for
    identical images instead of being infinite."""
    mse = (_to_unit(output) - _to_unit(target)).pow(2).flatten(1).mean(dim=1)
    return (10.0 * torch.log10(1.0 / mse.clamp_min(eps))).clamp(max=100.0)


def gaussian_kernel(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """The 1-D normalised Gaussian; the 2-D window is its outer product (separable)."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(coords**2) / (2.0 * sigma**2))
    return g / g.sum()


def _band(n: int, g: torch.Tensor) -> torch.Tensor:
    """[n, n - len(g) + 1] matrix whose column j holds g at rows j .. j + len(g) - 1: multiplying
    by it is a 'valid' correlation with g along that axis."""
    size = len(g)
    band = torch.zeros(n, n - size + 1, dtype=g.dtype, device=g.device)
    for k in range(size):
        band.diagonal(-k).copy_(g[k])
    return band


def ssim(output: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM per image: the statistics are Gaussian-weighted local means, variances and
    covariance over the valid part of the image (no padding, as in Wang et al.'s reference),
    computed per channel and averaged over channels and positions."""
    # float64: var = E[x^2] - E[x]^2 cancels badly in float32 next to the small C2.
    x, y = _to_unit(output).double(), _to_unit(target).double()
    n, channels = x.shape[:2]
    size = min(SSIM_WINDOW, x.shape[2], x.shape[3])
    g = gaussian_kernel(size).to(device=x.device, dtype=x.dtype)
    # The five local statistics of every channel are blurred together, as two matrix products
    # with banded "valid" Gaussian matrices (separable window; BLAS is fast in float64).
    stats = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    stats = _band(x.shape[2], g).T @ stats @ _band(x.shape[3], g)
    mu_x, mu_y, xx, yy, xy = stats.split(channels, dim=1)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.reshape(n, -1).mean(dim=1).float()


def all_metrics(output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"l1": l1(output, target), "psnr": psnr(output, target), "ssim": ssim(output, target)}

