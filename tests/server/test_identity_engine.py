"""Why the compute size matters, end to end: an engine trained for a few hundred steps to copy
its input (identity), served by a real server, reproduces 1280x720 frames at >= 30 dB PSNR with
--scale native, while squashing the same frames into a 256x256 square and back (what serving
did before the compute-size policy) cannot get past 25 dB: the detail is gone before any
generator sees it."""
from __future__ import annotations

import numpy as np
import pytest

from pix2pix_stream.media.synthetic import textured_frame

# Trains a small generator: about a minute on 2 free cores, far more on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

STEPS, BATCH, CROP, NGF, LR = 300, 2, 128, 16, 5e-3
TRAIN_FRAMES = range(100, 106)  # other positions than the clip served below
CLIP = [textured_frame(i) for i in range(3)]  # 1280x720


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


@pytest.fixture(scope="module")
def identity_engines(tmp_path_factory):
    """An engines folder with ``identity``: unet_128, ngf 16, no normalisation, trained (squared
    error: PSNR is what is measured; learning rate decaying linearly to zero) to copy random
    128x128 crops of textured frames."""
    import torch

    from pix2pix_stream.engines.build.export import export_generator
    from pix2pix_stream.networks.models import UnetGenerator

    torch.manual_seed(0)
    generator = UnetGenerator(netG="unet_128", ngf=NGF, norm="none", dropout=False)
    optimiser = torch.optim.Adam(generator.parameters(), lr=LR)
    # linear decay to zero: the last steps settle instead of hopping around the optimum
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1 - step / STEPS)
    frames = [torch.from_numpy(textured_frame(i)).permute(2, 0, 1).float() / 127.5 - 1
              for i in TRAIN_FRAMES]
    rng = np.random.default_rng(0)
    for _ in range(STEPS):
        crops = []
        for _ in range(BATCH):
            frame = frames[rng.integers(len(frames))]
            y, x = rng.integers(0, 720 - CROP), rng.integers(0, 1280 - CROP)
            crops.append(frame[:, y:y + CROP, x:x + CROP])
        batch = torch.stack(crops)
        loss = ((generator(batch) - batch) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    root = tmp_path_factory.mktemp("identity")
    export_generator(generator, root / "identity", name="identity", input_size=CROP,
                     description="copies its input (test engine)")
    return root


def test_native_scale_reproduces_720p_and_squashing_cannot(identity_engines):
    import cv2

    from pix2pix_stream.client.sync_client import TranslatorClient
    from pix2pix_stream.server.app import start_server
    from pix2pix_stream.server.config import ServerConfig

    server = start_server(ServerConfig(engines_dir=identity_engines, address="127.0.0.1:0",
                                       backend="onnxruntime", inference_threads=2))
    try:
        with TranslatorClient(f"127.0.0.1:{server.port}") as client:
            native = list(client.translate_frames(CLIP, model="identity", scale="native"))
    finally:
        server.stop(0)
    squashed = [cv2.resize(cv2.resize(f, (256, 256), interpolation=cv2.INTER_AREA), (1280, 720),
                           interpolation=cv2.INTER_LINEAR) for f in CLIP]
    native_db = psnr(np.stack(native), np.stack(CLIP))
    squashed_db = psnr(np.stack(squashed), np.stack(CLIP))
    print(f"identity engine on 1280x720: native {native_db:.1f} dB, squashed {squashed_db:.1f} dB")
    assert native[0].shape == (720, 1280, 3)
    assert native_db >= 30, f"native {native_db:.1f} dB"
    assert squashed_db < 25, f"squashed {squashed_db:.1f} dB"
