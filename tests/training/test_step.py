"""What one training step computes with the defaults, read off the step itself: the gradients it
left on G and D and the state of its Adam optimisers, against the paper's objective recomputed
here from copies of the networks taken before the step.

    D: 0.5 * (BCE(D(a, b), real) + BCE(D(a, G(a)), fake))     (halved, section 6.2)
    G: BCE(D'(a, G(a)), real) + 100 * L1(G(a), b)              (D' = D after its update)
    Adam lr 2e-4, betas (0.5, 0.999): after one step exp_avg = 0.5 g, exp_avg_sq = 0.001 g^2
    and every weight moved by lr * g / (|g| + eps).

The loss functions alone are tested in test_losses_metrics.py; these fail when the step uses
them otherwise (another lambda, D's loss unhalved, other Adam settings), also through the
command line's defaults and the training loop's model."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from pix2pix_stream.media.synthetic import drawn_frame
from pix2pix_stream.networks.models import PatchDiscriminator, UnetGenerator
from pix2pix_stream.pix2pix.data import to_tensor
from pix2pix_stream.pix2pix.gan import Pix2PixModel
from tests.training.helpers import TINY_D, TINY_G, make_aligned_folder

PAPER = {"lambda_l1": 100.0, "lr": 2e-4, "betas": (0.5, 0.999), "eps": 1e-8}


def drawn_pairs(n: int, size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs: drawn frames; targets: their colour inverses; [n, 3, size, size] in [-1, 1]."""
    a = [drawn_frame(i, size, size) for i in range(n)]
    return (torch.stack([to_tensor(x) for x in a]),
            torch.stack([to_tensor(255 - x) for x in a]))


def relative_error(got: list[torch.Tensor], want: list[torch.Tensor]) -> float:
    got, want = torch.cat([g.flatten() for g in got]), torch.cat([w.flatten() for w in want])
    return float((got - want).norm() / want.norm())


def check_one_step(model: Pix2PixModel, real_a: torch.Tensor, real_b: torch.Tensor) -> None:
    """Runs model.train_step once and compares what it did with the paper's step."""
    G0, D0 = copy.deepcopy(model.G_net), copy.deepcopy(model.D_net)
    G_before = [p.detach().clone() for p in model.G_net.parameters()]
    dropout_rng = torch.get_rng_state()
    model.train()
    model.train_step(real_a, real_b)

    torch.set_rng_state(dropout_rng)  # the same dropout masks as the step's G forward
    fake = G0(real_a)
    pred_real = D0(torch.cat([real_a, real_b], 1))
    pred_fake = D0(torch.cat([real_a, fake.detach()], 1))
    d_loss = 0.5 * (F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real))
                    + F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake)))
    d_want = torch.autograd.grad(d_loss, list(D0.parameters()))
    pred = model.D_net(torch.cat([real_a, fake], 1))  # D after its update, as in the step
    g_loss = (F.binary_cross_entropy_with_logits(pred, torch.ones_like(pred))
              + PAPER["lambda_l1"] * F.l1_loss(fake, real_b))
    g_want = torch.autograd.grad(g_loss, list(G0.parameters()))

    d_got = [p.grad for p in model.D_net.parameters()]
    g_got = [p.grad for p in model.G_net.parameters()]
    assert relative_error(d_got, d_want) < 1e-4, "D's gradient is not that of the halved loss"
    assert relative_error(g_got, g_want) < 1e-4, "G's gradient is not that of GAN + 100 * L1"

    lr, (beta1, beta2), eps = PAPER["lr"], PAPER["betas"], PAPER["eps"]
    for optimizer in (model.opt_G, model.opt_D):
        (group,) = optimizer.param_groups
        assert (group["lr"], group["betas"], group["eps"]) == (lr, (beta1, beta2), eps)
    params = list(model.G_net.parameters())
    state = [model.opt_G.state[p] for p in params]
    assert relative_error([s["exp_avg"] for s in state], [(1 - beta1) * g for g in g_want]) < 1e-4
    assert relative_error([s["exp_avg_sq"] for s in state],
                          [(1 - beta2) * g * g for g in g_want]) < 1e-4
    moved = [before - p.detach() for before, p in zip(G_before, params)]
    assert relative_error(moved, [lr * g / (g.abs() + eps) for g in g_want]) < 1e-3


def test_a_step_of_the_default_model_is_the_papers():
    torch.manual_seed(0)
    model = Pix2PixModel(UnetGenerator(**TINY_G.to_dict()), PatchDiscriminator(ndf=TINY_D.ndf))
    check_one_step(model, *drawn_pairs(2))


def test_the_training_loop_steps_with_the_command_lines_defaults(tmp_path):
    """The model pix2pix-train's loop builds from the parsed command line, without loss or
    optimiser flags. (--plain: fp32 and plain Adam, so the step is comparable to the float.)"""
    from pix2pix_stream.pix2pix.cli.train import build_parser, config_from_args
    from pix2pix_stream.pix2pix.distributed import DistContext
    from pix2pix_stream.pix2pix.train import Trainer

    data = make_aligned_folder(tmp_path / "data", count=2)
    argv = ["--data", str(data), "--out", str(tmp_path / "run"), "--netG", "unet_128",
            "--ngf", "8", "--ndf", "8", "--crop-size", "128", "--plain", "--device", "cpu"]
    config = config_from_args(build_parser().parse_args(argv), argv)
    trainer = Trainer(config, DistContext())
    try:
        check_one_step(trainer.model, *drawn_pairs(1))
    finally:
        trainer.reporter.close()


def test_overfitting_two_drawn_pairs_drives_l1_down():
    """The step learns, without shared data: a tiny G on two drawn pairs (target: the colour
    inverse) brings its L1 from about 0.62 to about 0.23 in 30 steps (a few CPU seconds; lr
    1e-3 instead of the paper's 2e-4 to get there in so few)."""
    from pix2pix_stream.pix2pix.gan import OptimConfig

    torch.manual_seed(0)
    real_a, real_b = drawn_pairs(2)
    model = Pix2PixModel(UnetGenerator(netG="unet_128", ngf=8, dropout=False),
                         PatchDiscriminator(ndf=8), OptimConfig(lr=1e-3))

    def l1() -> float:
        model.G_net.eval()
        value = float((model.generate(real_a) - real_b).abs().mean())
        model.train()
        return value

    start = l1()
    for _ in range(30):
        model.train_step(real_a, real_b)
    end = l1()
    assert end < 0.5 * start, (start, end)
