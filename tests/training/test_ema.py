"""The generator's weight average (pix2pix.ema): its arithmetic, and that validation,
checkpoints and resume use it (export reads the checkpoint's "generator", so it gets it too)."""
import copy

import pytest
import torch
from torch import nn

from pix2pix_stream.pix2pix.checkpoint import load_checkpoint, load_generator
from pix2pix_stream.pix2pix.config import TrainConfig
from pix2pix_stream.pix2pix.errors import ConfigError
from pix2pix_stream.pix2pix.ema import WeightAverage
from pix2pix_stream.pix2pix.train import train
from tests.training.helpers import make_aligned_folder, tiny_config


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_each_update_moves_the_average_by_the_warmed_up_rate():
    net = small_net()
    average = WeightAverage(net, decay=0.9)
    start = copy.deepcopy(average.module.state_dict())
    assert average.rate() == pytest.approx(1 - 2 / 11)     # warm-up: (1 + n) / (10 + n), n = 1
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    net.train()(torch.randn(2, 3, 8, 8))                    # moves BatchNorm's statistics
    rate = average.rate()
    average.update(net)
    now = net.state_dict()
    for name, value in average.module.state_dict().items():
        if value.dtype.is_floating_point:
            expected = start[name] + rate * (now[name] - start[name])
            assert torch.allclose(value, expected, atol=1e-6), name
        else:
            assert torch.equal(value, now[name]), name      # num_batches_tracked: copied
    assert average.updates == 1
    average.updates = 10_000
    assert average.rate() == pytest.approx(1 - 0.9)         # the decay caps the warm-up
    assert not any(p.requires_grad for p in average.module.parameters())


def test_a_run_checkpoints_the_average_as_its_generator(tmp_path):
    data = make_aligned_folder(tmp_path / "data", count=6)
    result = train(tiny_config(data, tmp_path / "run", ema=0.99, seed=3))
    latest = load_checkpoint(result.checkpoint)
    assert latest["ema_updates"] == result.steps
    trained, averaged = latest["generator_trained"], latest["generator"]
    assert any(not torch.equal(trained[k], averaged[k]) for k in trained)
    generator, _ = load_generator(result.checkpoint)          # what export rebuilds
    for name, value in generator.state_dict().items():
        assert torch.equal(value, averaged[name]), name
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert "generator_trained" not in best


def test_without_the_average_the_generator_is_the_trained_weights(tmp_path):
    data = make_aligned_folder(tmp_path / "data", count=6)
    result = train(tiny_config(data, tmp_path / "run", ema=0.0, seed=3, max_steps=2))
    latest = load_checkpoint(result.checkpoint)
    assert "generator_trained" not in latest and "ema_updates" not in latest


def test_resuming_a_run_without_the_average_starts_it_from_the_weights(tmp_path):
    data = make_aligned_folder(tmp_path / "data", count=6)
    out = tmp_path / "run"
    first = train(tiny_config(data, out, ema=0.0, seed=3, max_steps=2))
    weights = load_checkpoint(first.checkpoint)["generator"]
    resumed = train(tiny_config(data, out, ema=0.99, seed=3, max_steps=3, resume=True))
    latest = load_checkpoint(resumed.checkpoint)
    assert latest["ema_updates"] == 1
    # one update at the warm-up rate from the resumed weights toward the trained ones
    rate = 1 - 2 / 11
    for name, value in latest["generator"].items():
        if value.dtype.is_floating_point:
            expected = weights[name] + rate * (latest["generator_trained"][name] - weights[name])
            assert torch.allclose(value, expected, atol=1e-5), name


def test_a_decay_outside_0_1_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="ema must be in"):
        tiny_config(tmp_path, tmp_path / "run", ema=1.0)
    assert TrainConfig.__dataclass_fields__["ema"].default == 0.999
