"""Which precision training picks on a CUDA GPU, decided on CPU with the GPU's compute
capability stood in: bf16 only where the GPU has it in hardware, else fp16 with loss scaling."""
import pytest
import torch

from pix2pix_stream.pix2pix.performance import Performance, default_performance

CUDA = torch.device("cuda")


@pytest.mark.parametrize("capability, gpu, precision", [
    ((7, 0), "V100", "fp16"), ((7, 5), "T4", "fp16"),
    ((8, 0), "A100", "bf16"), ((8, 9), "L4", "bf16"), ((9, 0), "H100", "bf16"),
])
def test_bf16_only_on_gpus_that_have_it_natively(monkeypatch, capability, gpu, precision):
    """torch.cuda.is_bf16_supported() says True on a V100 or T4 too (emulated, slow)."""
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    perf = default_performance(CUDA)
    assert perf.precision == precision, gpu
    assert perf.needs_grad_scaler(CUDA) == (precision == "fp16")


def test_loss_scaling_is_for_fp16_on_cuda_only():
    assert Performance("fp16").needs_grad_scaler(CUDA)
    assert not Performance("bf16").needs_grad_scaler(CUDA)
    assert not Performance("fp16").needs_grad_scaler(torch.device("cpu"))
