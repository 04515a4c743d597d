"""The exported graph gives PyTorch's frames, for every backend, independently of the batch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pix2pix_stream.engines.runtime.backends.torch_backend import TorchBackend
from pix2pix_stream.engines.build.export import export_generator
from pix2pix_stream.engines.runtime.graph import FrameTranslator
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.registry import load_backend
from pix2pix_stream.engines.build.synthetic import synthetic_generator
from tests.engines.pixels import assert_parity, frames, psnr


def torch_reference(generator, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return FrameTranslator(generator)(torch.from_numpy(batch)).numpy()


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_onnxruntime_matches_pytorch(tmp_path, norm):
    generator = synthetic_generator("unet_128", ngf=8, norm=norm, seed=5)
    engine = export_generator(generator, tmp_path / norm, name=norm, input_size=128)
    batch = frames(4)
    assert_parity(load_backend(engine, "onnxruntime").infer(batch), torch_reference(generator, batch))


def test_output_is_not_degenerate(tiny_engine_dir):
    out = load_backend(tiny_engine_dir, "onnxruntime").infer(frames(2))
    assert out.std() > 2 and len(np.unique(out)) > 50  # a real image, not a constant


@pytest.mark.parametrize("backend", ["onnxruntime", "torch", "torch-bf16", "openvino-fp32", "openvino"])
def test_frame_alone_equals_frame_in_a_batch(tiny_engine_dir, backend):
    """Frames from different clients share batches on the server: a frame's output must not
    depend on its neighbours nor on the batch size."""
    engine = load_backend(tiny_engine_dir, backend, max_batch=8)
    batch = frames(8, seed=1)
    together = engine.infer(batch)
    for i in (0, 5):
        np.testing.assert_array_equal(engine.infer(batch[i:i + 1])[0], together[i])
    shuffled = engine.infer(batch[::-1].copy())
    np.testing.assert_array_equal(shuffled[::-1], together)


@pytest.mark.parametrize("backend", ["torch", "torch-bf16", "openvino", "openvino-fp32"])
def test_every_backend_matches_onnxruntime(tiny_engine_dir, backend):
    batch = frames(3, seed=2)
    want = load_backend(tiny_engine_dir, "onnxruntime").infer(batch)
    got = load_backend(tiny_engine_dir, backend).infer(batch)
    if read_metadata(tiny_engine_dir).precision == "fp32" and backend in ("torch", "openvino-fp32"):
        assert_parity(got, want)
    else:  # reduced precision: the quality bar, not bit-parity
        assert psnr(got, want) >= 40


def test_torch_backend_rebuilds_the_exported_weights(tiny_engine_dir):
    rebuilt = load_backend(tiny_engine_dir, "torch").generator
    original = synthetic_generator("unet_128", ngf=8, seed=1)  # what the fixture exported
    for key, value in original.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(rebuilt.state_dict()[key], value, rtol=0, atol=0)


def test_in_memory_torch_backend(tiny_engine_dir):
    meta = read_metadata(tiny_engine_dir)
    backend = TorchBackend(None, meta, generator=synthetic_generator("unet_128", ngf=8, seed=1))
    batch = frames(2)
    assert_parity(backend.infer(batch), load_backend(tiny_engine_dir, "onnxruntime").infer(batch))


def test_bf16_holds_the_quality_bar_with_instance_norm(tmp_path):
    generator = synthetic_generator("unet_128", ngf=8, norm="instance", seed=6)
    engine = export_generator(generator, tmp_path / "inst", name="inst", input_size=128)
    batch = frames(8, seed=4)
    want = load_backend(engine, "onnxruntime").infer(batch)
    bf16 = load_backend(engine, "torch-bf16")
    together = bf16.infer(batch)
    assert psnr(together, want) >= 40
    np.testing.assert_array_equal(bf16.infer(batch[3:4])[0], together[3])
