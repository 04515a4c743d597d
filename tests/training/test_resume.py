"""Seeded runs reproduce; an interrupted run resumed from latest.pt ends bit-identical to an
uninterrupted one; a crash or kill while saving never leaves a corrupt latest.pt."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pix2pix_stream.pix2pix import checkpoint as ckpt
from pix2pix_stream.pix2pix.checkpoint import load_checkpoint, load_generator
from pix2pix_stream.pix2pix.performance import Performance
from pix2pix_stream.pix2pix.train import train
from tests.training.helpers import make_aligned_folder, tiny_config

ROOT = Path(__file__).resolve().parents[2]
FAST = Performance(precision="bf16", fused_adam=True)  # the CPU default where bf16 is native


def assert_same_state(a: dict, b: dict) -> None:
    assert ("generator_trained" in a) == ("generator_trained" in b)
    assert a.get("ema_updates") == b.get("ema_updates")
    for key in ("generator", "discriminator", "generator_trained"):
        if key not in a:
            continue
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs"
    for key in ("optimizer_G", "optimizer_D"):
        for index, state in a[key]["state"].items():
            for name, value in state.items():
                assert torch.equal(value, b[key]["state"][index][name]), f"{key} {index} {name}"
    assert a["scheduler_G"] == b["scheduler_G"]
    assert (a["epoch"], a["step"]) == (b["epoch"], b["step"])


@pytest.fixture
def data(tmp_path):
    return make_aligned_folder(tmp_path / "data", count=6)


@pytest.mark.parametrize("perf", [Performance(), FAST], ids=["fp32", "bf16-fused"])
def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, data, perf):
    # 5 training images, batch 2: 3 batches per epoch; 2 + 2 epochs so the lr decay is crossed.
    kw = dict(batch_size=2, epochs=2, epochs_decay=2, performance=perf, seed=7)
    whole = train(tiny_config(data, tmp_path / "whole", **kw))
    assert whole.finished and whole.steps == 12
    stopped = train(tiny_config(data, tmp_path / "parts", max_steps=4, **kw))  # mid epoch 2
    assert not stopped.finished and stopped.steps == 4
    resumed = train(tiny_config(data, tmp_path / "parts", resume=True, **kw))
    assert resumed.finished and resumed.steps == 12
    assert_same_state(load_checkpoint(whole.checkpoint), load_checkpoint(resumed.checkpoint))


def test_seeded_runs_reproduce_and_seeds_matter(tmp_path, data):
    runs = [train(tiny_config(data, tmp_path / name, seed=seed, epochs=1, epochs_decay=0))
            for name, seed in (("a", 1), ("b", 1), ("c", 2))]
    a, b, c = (load_checkpoint(r.checkpoint) for r in runs)
    assert_same_state(a, b)
    assert not torch.equal(a["generator"]["encoder.0.conv.weight"],
                           c["generator"]["encoder.0.conv.weight"])


def test_checkpoint_holds_what_export_and_resume_need(tmp_path, data):
    result = train(tiny_config(data, tmp_path / "run", epochs=1, epochs_decay=1))
    state = load_checkpoint(result.checkpoint)
    assert state["generator_config"] == {"input_nc": 3, "output_nc": 3, "netG": "unet_128",
                                         "ngf": 8, "norm": "batch", "dropout": True}
    assert state["input_transform"] == {"name": "none", "params": {}}
    assert (state["direction"], state["image_size"], state["epoch"]) == ("AtoB", 128, 2)
    assert state["scheduler_G"]["last_epoch"] == 2 and "rng" in state
    assert state["optimizer_G"]["param_groups"][0]["lr"] == pytest.approx(2e-4 * (1 - 2 / 2))
    assert set(state["metrics"]) == {"l1", "psnr", "ssim"}
    generator, info = load_generator(tmp_path / "run" / "best.pt")
    assert not generator.training and info["image_size"] == 128


def test_lr_is_constant_then_decays_linearly(tmp_path, data):
    config = tiny_config(data, tmp_path, epochs=3, epochs_decay=4)
    factors = [config.lr_factor(e) for e in range(7)]
    assert factors == pytest.approx([1, 1, 1, 0.8, 0.6, 0.4, 0.2])


def test_crash_between_write_and_rename_keeps_the_previous_latest(tmp_path, data, monkeypatch):
    result = train(tiny_config(data, tmp_path / "run", epochs=1, epochs_decay=0))
    before = result.checkpoint.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(ckpt.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        train(tiny_config(data, tmp_path / "run", epochs=2, epochs_decay=0, resume=True))
    assert result.checkpoint.read_bytes() == before
    assert [p.name for p in result.checkpoint.parent.iterdir() if p.name.endswith(".tmp")] == []
    monkeypatch.undo()
    done = train(tiny_config(data, tmp_path / "run", epochs=2, epochs_decay=0, resume=True))
    assert done.finished and load_checkpoint(done.checkpoint)["epoch"] == 2


@pytest.mark.slow
def test_killing_the_trainer_at_any_moment_leaves_a_loadable_latest(tmp_path, data):
    """SIGKILL a training process that rewrites latest.pt after every step, at several
    moments; every time, latest.pt loads and the run resumes from it."""
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "pix2pix_stream.pix2pix.cli.train", "--data", str(data), "--out", str(out),
            "--netG", "unet_128", "--ngf", "8", "--ndf", "8", "--crop-size", "128",
            "--epochs", "50", "--epochs-decay", "0", "--save-every", "1", "--keep-every", "0",
            "--no-progress", "--no-engine", "--threads", "1"]
    latest = out / "latest.pt"
    steps = []
    for attempt, delay in enumerate((0.0, 0.13, 0.37, 0.05)):
        proc = subprocess.Popen(argv + (["--resume"] if attempt else []), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        start_mtime = latest.stat().st_mtime_ns if latest.exists() else 0
        while time.monotonic() < deadline and proc.poll() is None:
            if latest.exists() and latest.stat().st_mtime_ns != start_mtime:
                break
            time.sleep(0.02)
        time.sleep(delay)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        state = load_checkpoint(latest)  # never truncated or half-written
        steps.append(state["step"])
    assert steps == sorted(steps) and steps[-1] > steps[0]


def test_a_save_clears_what_a_killed_writer_left(tmp_path):
    stale = tmp_path / ".latest.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / ".best.pt.def456.tmp"
    other.write_bytes(b"another file's")
    ckpt.save_checkpoint({"step": 1}, tmp_path / "latest.pt")
    assert not stale.exists() and other.exists()
    assert load_checkpoint(tmp_path / "latest.pt")["step"] == 1
