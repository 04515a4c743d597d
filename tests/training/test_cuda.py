"""The CUDA path (mixed precision, channels_last, fused Adam, nccl). Skipped without a GPU; it
has not been run on one in this project's CI."""
import pytest
import torch

from pix2pix_stream.pix2pix.gan import Pix2PixModel
from pix2pix_stream.networks.models import PatchDiscriminator, UnetGenerator
from pix2pix_stream.pix2pix.performance import default_performance

pytestmark = pytest.mark.gpu


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_default_step_learns_with_finite_losses():
    device = torch.device("cuda")
    torch.manual_seed(0)
    perf = default_performance(device)
    native_bf16 = torch.cuda.get_device_capability(device) >= (8, 0)
    assert perf.channels_last and perf.precision == ("bf16" if native_bf16 else "fp16")
    model = Pix2PixModel(UnetGenerator(netG="unet_128", ngf=16, dropout=False),
                         PatchDiscriminator(ndf=16), perf=perf, device=device)
    assert model.scaler.is_enabled() == (perf.precision == "fp16")  # fp16 needs loss scaling
    model.train()
    a, b = torch.rand(2, 3, 128, 128) * 2 - 1, torch.rand(2, 3, 128, 128) * 2 - 1
    first = model.train_step(a, b).as_floats()
    for _ in range(50):
        last = model.train_step(a, b).as_floats()
    assert all(torch.isfinite(torch.tensor(v)) for v in last.values())
    assert last["G_L1"] < first["G_L1"]
