"""The stability loss terms (pix2pix/stability.py) and the video pairs that feed the temporal one
(pix2pix/data/temporal.py): the geometry agrees with OpenCV's, a generator that already obeys
the terms pays nothing, the terms reach the step, a video run trains with them and reports the
validation clip's stability; 2-process DDP and CUDA in their own tests."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pix2pix_stream.media.synthetic import make_clip
from pix2pix_stream.media.temporal import warp as cv_warp
from pix2pix_stream.networks.models import PatchDiscriminator, UnetGenerator
from pix2pix_stream.pix2pix.data.jitter import JitterParams
from pix2pix_stream.pix2pix.data.temporal import jitter_flow
from pix2pix_stream.pix2pix.errors import ConfigError
from pix2pix_stream.pix2pix.gan import Pix2PixModel
from pix2pix_stream.pix2pix.stability import (StabilityConfig, StabilityTerms, affine,
                                              mean_gradient, random_affine, warp)
from pix2pix_stream.pix2pix.train import train
from tests.training.helpers import tiny_config

ROOT = Path(__file__).resolve().parents[2]


def smooth_image(size=32, seed=0) -> np.ndarray:
    import cv2
    noise = np.random.default_rng(seed).integers(0, 256, (size, size, 3)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def nchw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float()


def test_torch_warp_matches_the_opencv_warp_of_the_metrics():
    image = smooth_image()
    flow = np.zeros((32, 32, 2), np.float32)
    flow[..., 0], flow[..., 1] = 1.5, -0.75
    ours = warp(nchw(image), torch.from_numpy(flow).permute(2, 0, 1)[None])
    theirs = nchw(cv_warp(image, flow))
    assert (ours - theirs)[..., 2:-2, 2:-2].abs().max() < 1.0   # uint8 rounding in OpenCV's


def test_identity_affine_and_zero_flow_change_nothing():
    x = nchw(smooth_image()) / 127.5 - 1
    moved, inside = affine(x, torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]]))
    assert torch.allclose(moved, x, atol=1e-5) and bool(inside.all())
    assert torch.allclose(warp(x, torch.zeros(1, 2, 32, 32)), x, atol=1e-5)


def test_random_transforms_stay_within_their_bounds():
    cfg = StabilityConfig(weight=1.0, max_shift=4.0, max_zoom=0.03)
    theta = random_affine(64, (128, 128), cfg, torch.Generator().manual_seed(0))
    assert (theta[:, 0, 0] - 1).abs().max() <= 0.03 and (theta[:, 0, 2].abs() * 64).max() <= 4.0


def test_jitter_flow_crops_and_mirrors_the_field():
    flow = np.zeros((8, 8, 2), np.float16)
    flow[..., 0] = np.arange(8)[None, :]
    mask = np.zeros((8, 8), bool)
    mask[:, 0] = True
    cropped, m = jitter_flow(flow, mask, JitterParams(x=2, y=1, flip=False), 4)
    assert cropped.shape == (4, 4, 2) and cropped[0, 0, 0] == 2
    flipped, m = jitter_flow(flow, mask, JitterParams(x=0, y=0, flip=True), 8)
    assert flipped[0, 0, 0] == -7 and m[:, -1].all() and not m[:, 0].any()


class Identity(torch.nn.Module):
    def forward(self, x):
        return x


def test_a_generator_that_obeys_the_terms_pays_nothing():
    cfg = StabilityConfig(weight=1.0, temporal_weight=1.0, noise=0.0)
    terms = StabilityTerms(cfg)
    a = nchw(smooth_image()) / 127.5 - 1
    flow = torch.zeros(1, 2, 32, 32)
    flow[:, 0] = 2.0                                    # frame t-1 is frame t moved 2 px left
    prev = torch.roll(a, shifts=2, dims=3)
    mask = torch.ones(1, 1, 32, 32)
    mask[..., -2:] = 0                                  # those come from outside frame t-1
    batch = terms.batch(a, step=3, temporal={"prev_input": prev, "flow": flow, "flow_mask": mask})
    g = Identity()
    losses = terms.losses(g(a), g(batch.inputs), batch)
    assert losses["G_stab"] < 1e-4
    assert losses["G_temp"] < 1e-4
    flat = terms.losses(torch.zeros_like(a), torch.rand_like(batch.inputs), batch)
    assert flat["G_stab"] > 0.1 and flat["G_temp"] > 0.1


def tiny_model(stability: StabilityConfig | None = None) -> Pix2PixModel:
    torch.manual_seed(0)
    terms = StabilityTerms(stability) if stability is not None else None
    return Pix2PixModel(UnetGenerator(netG="unet_128", ngf=8), PatchDiscriminator(ndf=8),
                        stability=terms)


def test_terms_reach_the_step_and_off_is_the_plain_step():
    a, b = torch.rand(1, 3, 128, 128) * 2 - 1, torch.rand(1, 3, 128, 128) * 2 - 1
    plain, off = tiny_model(), tiny_model(StabilityConfig())
    torch.manual_seed(1)
    first = plain.train_step(a, b).as_floats()
    torch.manual_seed(1)
    assert off.train_step(a, b).as_floats() == first
    assert set(first) == {"G_GAN", "G_L1", "D_real", "D_fake"}
    # Same forward (the concatenated batch) and random draws, only the weight differs: the
    # term must reach the generator's gradient.
    steps = {}
    for weight in (1e-9, 100.0):
        model = tiny_model(StabilityConfig(weight=weight))
        torch.manual_seed(1)
        steps[weight] = (model.train_step(a, b, step=0).as_floats(),
                         [p.detach().clone() for p in model.G_net.parameters()])
    assert steps[100.0][0]["G_stab"] > 0
    assert any(not torch.equal(p, q) for p, q in zip(steps[1e-9][1], steps[100.0][1]))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=10, width=96,
                     height=96, audio=False)


def test_a_video_run_trains_with_both_terms_and_scores_its_validation_clip(clip, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tiny_config(clip, tmp_path / "run", epochs=1, epochs_decay=0, log_every=1,
                         stability=StabilityConfig(weight=10.0, temporal_weight=10.0),
                         val_fraction=0.3, mode="video")
    result = train(config)
    assert result.steps == 7 and {"flicker", "warp_error"} <= set(result.val_metrics)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/G_stab", "loss/G_temp", "video/flicker", "video/warp_error",
            "video/detail"} <= tags


@pytest.mark.slow
def test_two_process_ddp_with_both_terms_ends_with_identical_weights(clip, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(ROOT / "tests" / "training" / "ddp_worker.py"), str(clip), str(out), "stability"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, value in ranks[0]["G"].items():
        assert torch.equal(value, ranks[1]["G"][name]), f"G.{name} differs between ranks"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_step_with_both_terms_has_finite_losses():
    from pix2pix_stream.pix2pix.performance import default_performance

    device = torch.device("cuda")
    torch.manual_seed(0)
    model = Pix2PixModel(UnetGenerator(netG="unet_128", ngf=16), PatchDiscriminator(ndf=16),
                         perf=default_performance(device), device=device,
                         stability=StabilityTerms(StabilityConfig(weight=100, temporal_weight=100)))
    a, b = torch.rand(2, 3, 128, 128) * 2 - 1, torch.rand(2, 3, 128, 128) * 2 - 1
    temporal = {"prev_input": a.roll(1, 3), "flow": torch.ones(2, 2, 128, 128),
                "flow_mask": torch.ones(2, 1, 128, 128)}
    losses = model.train_step(a, b, step=0, temporal=temporal).as_floats()
    assert {"G_stab", "G_temp"} <= set(losses)
    assert all(np.isfinite(v) for v in losses.values())


def plain_and_relative_terms(**relative_to):
    """(plain terms, terms relative to the output, a batch, an output and the moved input's
    output that do not obey the terms, the target)."""
    a = nchw(smooth_image()) / 127.5 - 1
    target = nchw(smooth_image(seed=1)) / 127.5 - 1
    plain = StabilityTerms(StabilityConfig(weight=1.0, noise=0.0))
    relative = StabilityTerms(StabilityConfig(weight=1.0, noise=0.0, **relative_to))
    fake, extra = torch.tanh(2 * a), torch.tanh(2 * a.flip(3))
    return plain, relative, plain.batch(a, step=3), fake, extra, target


def test_scale_invariant_terms_do_not_fall_when_the_output_is_washed_out():
    # The plain terms shrink with the output's contrast: a washed-out generator scores as
    # stable. Relative to the output's contrast they stay put, down to where it is flat.
    plain, relative, batch, fake, extra, target = plain_and_relative_terms(scale_invariant=True)

    def term(terms, contrast):
        return float(terms.losses(contrast * fake, contrast * extra, batch, target)["G_stab"])

    assert term(plain, 0.2) == pytest.approx(0.2 * term(plain, 1.0), rel=1e-4)
    assert term(relative, 0.2) == pytest.approx(term(relative, 1.0), rel=1e-4)
    ratio = float(target.std() / fake.std())
    assert term(relative, 1.0) == pytest.approx(ratio * term(plain, 1.0), rel=1e-4)
    with pytest.raises(ValueError, match="target"):
        relative.losses(fake, extra, batch)


def test_detail_invariant_terms_do_not_fall_when_the_output_is_blurred():
    # The plain terms shrink with the output's fine structure: a blurred generator scores as
    # stable. Relative to the output's mean gradient they do not fall.
    plain, relative, batch, fake, extra, target = plain_and_relative_terms(detail_invariant=True)
    target = torch.tanh(4 * target)          # sharper than the output, as real frames are
    blur = torch.nn.AvgPool2d(9, stride=1, padding=4, count_include_pad=False)

    def term(terms, soften):
        f, e = (blur(fake), blur(extra)) if soften else (fake, extra)
        return float(terms.losses(f, e, batch, target)["G_stab"])

    assert term(plain, True) < 0.8 * term(plain, False)
    assert term(relative, True) >= 0.95 * term(relative, False)
    ratio = max(1.0, float(mean_gradient(target) / mean_gradient(fake)))
    assert term(relative, False) == pytest.approx(ratio * term(plain, False), rel=1e-4)
    # Sharper than the target is not rewarded: the factor stops at 1.
    sharp = relative.losses(4 * fake, 4 * extra, batch, target)["G_stab"]
    assert float(sharp) == pytest.approx(float(plain.losses(4 * fake, 4 * extra, batch)["G_stab"]),
                                         rel=1e-5)
    with pytest.raises(ValueError, match="target"):
        relative.losses(fake, extra, batch)
    with pytest.raises(ConfigError, match="not both"):
        StabilityConfig(scale_invariant=True, detail_invariant=True)


def test_a_checkpoint_from_before_an_option_resumes_without_a_settings_warning(tmp_path):
    from pix2pix_stream.pix2pix.train_state import resume_differences
    config = tiny_config(tmp_path, tmp_path / "r", stability=StabilityConfig(weight=1.0))
    stored = config.to_dict()
    del stored["stability"]["scale_invariant"]      # written before the option existed
    assert resume_differences({"train_config": stored}, config) == []
    on = tiny_config(tmp_path, tmp_path / "r",
                     stability=StabilityConfig(weight=1.0, scale_invariant=True))
    assert [d.split(":")[0] for d in resume_differences({"train_config": stored}, on)] == \
        ["stability"]
