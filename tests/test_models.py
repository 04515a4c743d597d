import pytest
import torch

from pix2pix_stream.pix2pix import PatchDiscriminator, UnetGenerator, count_parameters


def test_default_generator_has_paper_parameter_count():
    assert count_parameters(UnetGenerator()) == 54_413_955


def test_70x70_patchgan_parameter_count_and_map_size():
    d = PatchDiscriminator(input_nc=6, ndf=64, n_layers=3)
    assert count_parameters(d) == 2_768_705
    with torch.no_grad():
        assert d(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)


def test_pixelgan_keeps_resolution():
    d = PatchDiscriminator(n_layers=0, ndf=8)
    assert d(torch.zeros(1, 6, 32, 32)).shape == (1, 1, 32, 32)


@pytest.mark.parametrize("netG,size", [("unet_256", 256), ("unet_128", 128)])
@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_generator_shapes_and_range(netG, size, norm):
    g = UnetGenerator(netG=netG, ngf=4, norm=norm).eval()
    with torch.no_grad():
        y = g(torch.rand(2, 3, size, size) * 2 - 1)
    assert y.shape == (2, 3, size, size)
    assert y.abs().max() <= 1.0


def test_dropout_only_in_three_innermost_decoder_blocks():
    g = UnetGenerator(ngf=4)
    flags = [isinstance(b.dropout, torch.nn.Dropout) for b in g.decoder]
    assert flags == [True, True, True] + [False] * 5
    assert not any(isinstance(m, torch.nn.Dropout) for m in UnetGenerator(ngf=4, dropout=False).modules())


def test_weights_initialised_normal_0_002():
    g = UnetGenerator(ngf=16)
    w = torch.cat([b.conv.weight.flatten() for b in g.encoder])
    assert abs(w.mean().item()) < 2e-3
    assert w.std().item() == pytest.approx(0.02, rel=0.1)
