"""DistributedDataParallel under torchrun: 2 gloo processes on one machine end with identical
weights (and BatchNorm statistics) on both ranks, the generator's weight average included."""
import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.training.helpers import make_aligned_folder

ROOT = Path(__file__).resolve().parents[2]


def test_two_process_gloo_run_ends_with_identical_weights(tmp_path):
    data = make_aligned_folder(tmp_path / "data", count=8)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # torchrun would set it too
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(ROOT / "tests" / "training" / "ddp_worker.py"), str(data), str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["world"] == 2
    # 6 training images split over 2 ranks, batch 1: 3 steps per epoch, 3 epochs.
    assert ranks[0]["steps"] == ranks[1]["steps"] == 9
    for net in ("G", "D", "G_avg"):
        for name, value in ranks[0][net].items():
            assert torch.equal(value, ranks[1][net][name]), f"{net}.{name} differs between ranks"
    latest = torch.load(out / "latest.pt", weights_only=True)  # written by rank 0 alone
    assert len(latest["rng"]["per_rank"]) == 2
    for stored, net in (("generator_trained", "G"), ("generator", "G_avg")):
        for name, value in latest[stored].items():
            assert torch.equal(value, ranks[0][net][name]), f"latest.pt {stored}.{name} is not rank 0's"


def test_pix2pix_train_under_torchrun_writes_one_checkpoint_and_engine(tmp_path):
    """The documented command line, end to end: torchrun runs the console entry point on 2 gloo
    processes; rank 0 alone writes the checkpoint, TensorBoard and the servable engine."""
    from pix2pix_stream.engines.runtime.metadata import read_metadata

    data = make_aligned_folder(tmp_path / "data", count=6)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "pix2pix_stream.pix2pix.cli.train", "--data", str(data), "--out", str(out),
         "--netG", "unet_128", "--ngf", "8", "--ndf", "8", "--crop-size", "128",
         "--epochs", "1", "--epochs-decay", "0", "--val-fraction", "0.34", "--no-progress"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    latest = torch.load(out / "latest.pt", weights_only=True)
    assert len(latest["rng"]["per_rank"]) == 2
    assert read_metadata(out / "engine").input_width == 128
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 1
