"""The model and the step learn: overfitting one real facades pair drives its L1 far down."""
import numpy as np
import pytest
import torch
from PIL import Image

from pix2pix_stream.pix2pix import metrics
from pix2pix_stream.pix2pix.data import to_tensor
from pix2pix_stream.pix2pix.data.jitter import resize
from pix2pix_stream.pix2pix.gan import Pix2PixModel
from pix2pix_stream.networks.models import PatchDiscriminator, UnetGenerator
from pix2pix_stream.pix2pix.performance import default_performance


def facades_pair(shared_data, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """label map (right half) -> photo (left half): facades is trained BtoA."""
    pair = np.asarray(Image.open(shared_data / "facades" / "train" / "1.jpg").convert("RGB"))
    photo, labels = pair[:, :256], pair[:, 256:]
    return to_tensor(resize(labels, size))[None], to_tensor(resize(photo, size))[None]


@pytest.mark.data
def test_overfitting_one_facades_pair_drives_l1_far_down(shared_data):
    # The CPU default (bf16 autocast + fused Adam where the CPU has native bf16) is what
    # pix2pix-train runs; it must learn as well as fp32 does.
    perf = default_performance(torch.device("cpu"))
    torch.manual_seed(0)
    labels, photo = facades_pair(shared_data, 128)
    model = Pix2PixModel(UnetGenerator(netG="unet_128", ngf=16, dropout=False),
                         PatchDiscriminator(ndf=16), perf=perf)
    model.G_net.eval()
    start = metrics.l1(model.generate(labels), photo).item()
    model.train()
    for _ in range(200):
        model.train_step(labels, photo)
    model.G_net.eval()
    end = metrics.l1(model.generate(labels), photo).item()
    assert end < 0.3 * start, (start, end)
    assert end < 0.12, (start, end)
