import math

import pytest
import torch

from pix2pix_stream.pix2pix import metrics
from pix2pix_stream.pix2pix.losses import GANLoss, discriminator_loss, generator_loss


def test_vanilla_gan_loss_is_bce_on_logits():
    logits = torch.tensor([[0.0, 2.0]])
    assert GANLoss("vanilla")(logits, True).item() == pytest.approx(
        (math.log(2) + math.log(1 + math.exp(-2))) / 2)
    assert GANLoss("vanilla")(logits, False).item() == pytest.approx(
        (math.log(2) + math.log(1 + math.exp(2))) / 2)


def test_lsgan_loss_is_mean_squared_error():
    logits = torch.tensor([0.5, -1.0])
    assert GANLoss("lsgan")(logits, True).item() == pytest.approx((0.25 + 4.0) / 2)
    assert GANLoss("lsgan")(logits, False).item() == pytest.approx((0.25 + 1.0) / 2)


def test_unknown_gan_mode_is_refused():
    with pytest.raises(ValueError, match="wgan"):
        GANLoss("wgan")


def test_discriminator_loss_is_halved_and_generator_adds_lambda_l1():
    gan = GANLoss("lsgan")
    d = discriminator_loss(gan, torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
    assert (d.real.item(), d.fake.item(), d.total.item()) == (0.0, 1.0, 0.5)
    fake, target = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)
    g = generator_loss(gan, torch.zeros(1, 1, 2, 2), fake, target, lambda_l1=100.0)
    assert g.gan.item() == 1.0 and g.l1.item() == 0.5
    assert g.total.item() == pytest.approx(1.0 + 100 * 0.5)


def test_l1_and_psnr_values():
    a, b = torch.full((2, 3, 16, 16), -1.0), torch.full((2, 3, 16, 16), 0.0)
    assert metrics.l1(a, b).tolist() == [1.0, 1.0]
    # In [0, 1] the images are 0 and 0.5: MSE 0.25, PSNR 10 log10(4).
    assert metrics.psnr(a, b)[0].item() == pytest.approx(10 * math.log10(4), rel=1e-5)
    assert metrics.psnr(a, a)[0].item() == 100.0


def test_ssim_of_identical_images_is_one_and_noise_lowers_it():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert metrics.ssim(x, x).tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    noisy = (x + 0.3 * torch.randn_like(x)).clamp(-1, 1)
    s = metrics.ssim(noisy, x)
    assert (s < 0.9).all() and (s > 0).all()
    assert metrics.ssim(x, noisy).tolist() == pytest.approx(s.tolist(), abs=1e-6)


def test_ssim_of_constant_images_is_the_luminance_term():
    # Constant images have zero variance and covariance, so SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1).
    m1, m2 = 0.2, 0.7
    x, y = torch.full((1, 1, 20, 20), m1 * 2 - 1), torch.full((1, 1, 20, 20), m2 * 2 - 1)
    c1 = (0.01) ** 2
    expected = (2 * m1 * m2 + c1) / (m1**2 + m2**2 + c1)
    assert metrics.ssim(x, y).item() == pytest.approx(expected, rel=1e-5)


def test_ssim_window_is_the_normalised_gaussian_of_wang_et_al():
    g = metrics.gaussian_kernel()
    assert len(g) == 11 and g.sum().item() == pytest.approx(1.0)
    assert (g[5] / g[4]).item() == pytest.approx(math.exp(1 / (2 * 1.5**2)))


def test_ssim_matches_a_direct_2d_gaussian_window_computation():
    import torch.nn.functional as F

    torch.manual_seed(1)
    x, y = torch.rand(2, 3, 40, 36) * 2 - 1, torch.rand(2, 3, 40, 36) * 2 - 1
    a, b = ((x + 1) / 2).double(), ((y + 1) / 2).double()
    g = metrics.gaussian_kernel().double()
    window = torch.outer(g, g)[None, None].expand(3, 1, 11, 11)

    def blur(t):
        return F.conv2d(t, window, groups=3)

    mx, my = blur(a), blur(b)
    vx, vy, cov = blur(a * a) - mx**2, blur(b * b) - my**2, blur(a * b) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    expected = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert metrics.ssim(x, y).tolist() == pytest.approx(expected.flatten(1).mean(1).tolist(), abs=1e-6)
