"""pix2pix-train and pix2pix-eval end to end on tiny real runs."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.pix2pix.checkpoint import load_generator
from pix2pix_stream.pix2pix.cli import evaluate as eval_cli
from pix2pix_stream.pix2pix.cli import train as train_cli
from pix2pix_stream.pix2pix.errors import ConfigError
from pix2pix_stream.media.synthetic import make_clip
from tests.training.helpers import make_aligned_folder

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--netG", "unet_128", "--ngf", "8", "--ndf", "8", "--crop-size", "128", "--no-progress"]


def test_help_explains_data_kinds_and_defaults():
    out = subprocess.run([sys.executable, "-m", "pix2pix_stream.pix2pix.cli.train", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    for phrase in ("--data", "aligned", "A/ and B/", "video", "--input-transform", "--resume",
                   "--epochs-decay", "--val-fraction", "--no-engine", "--plain", "torchrun"):
        assert phrase in out
    out = subprocess.run([sys.executable, "-m", "pix2pix_stream.pix2pix.cli.evaluate", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "contact sheet" in out and "SSIM" in out


def test_tiny_training_run_writes_checkpoint_tensorboard_and_engine(tmp_path, capsys):
    data = make_aligned_folder(tmp_path / "data", count=5)
    out = tmp_path / "runs" / "tiny"
    code = train_cli.main(["--data", str(data), "--out", str(out), *TINY, "--epochs", "1",
                           "--epochs-decay", "1", "--val-fraction", "0.4", "--log-every", "1",
                           "--direction", "BtoA"])
    assert code == 0, capsys.readouterr().err
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    generator, info = load_generator(out / "latest.pt")
    assert info["direction"] == "BtoA" and info["image_size"] == 128
    assert "pix2pix-train --data" in info["train_config"]["command_line"]
    assert (out / "best.pt").is_file()
    meta = read_metadata(out / "engine")
    assert (out / "engine" / "model.onnx").is_file()
    assert meta.name == "tiny" and meta.input_width == 128 and meta.direction == "BtoA"
    assert meta.training["epochs"] == 2 and meta.training["steps"] == 6
    # the engine card carries the last validation, the one latest.pt holds
    assert meta.training["val_metrics"] == pytest.approx(info["metrics"], abs=1e-6)
    assert set(info["metrics"]) == {"l1", "psnr", "ssim"}
    assert "trained 6 steps" in capsys.readouterr().out


def test_tensorboard_holds_losses_lr_validation_and_grid(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = make_aligned_folder(tmp_path / "data", count=5)
    out = tmp_path / "run"
    assert train_cli.main(["--data", str(data), "--out", str(out), *TINY, "--epochs", "1",
                           "--epochs-decay", "0", "--val-fraction", "0.4", "--log-every", "1",
                           "--no-engine"]) == 0
    acc = EventAccumulator(str(out / "tensorboard")).Reload()
    tags = acc.Tags()
    assert {"loss/G_GAN", "loss/G_L1", "loss/D_real", "loss/D_fake", "lr", "val/L1", "val/PSNR",
            "val/SSIM"} <= set(tags["scalars"])
    assert tags["images"] == ["val/input|output|target"]
    image = acc.Images("val/input|output|target")[0]
    assert image.width == 3 * 128 + 4 and image.height == 2 * 128 + 2  # 2 rows: 2 val samples


def test_video_training_stores_the_input_transform(tmp_path):
    clip = make_clip(tmp_path / "person.mp4", frames=6, width=64, height=48)
    out = tmp_path / "edges"
    assert train_cli.main(["--data", str(clip), "--out", str(out), *TINY, "--epochs", "1",
                           "--epochs-decay", "0", "--transform-param", "low=50",
                           "--transform-param", "high=120", "--no-engine"]) == 0
    _, info = load_generator(out / "latest.pt")
    assert info["input_transform"] == {"name": "canny", "params": {"low": 50, "high": 120}}
    assert info["train_config"]["data"]["mode"] == "video"


def test_bad_data_exits_with_a_message_naming_the_file(tmp_path, capsys):
    folder = make_aligned_folder(tmp_path / "data", count=2)
    Image.new("RGB", (101, 50)).save(folder / "odd.png")
    assert train_cli.main(["--data", str(folder), "--out", str(tmp_path / "r"), *TINY]) == 3
    err = capsys.readouterr().err
    assert "odd.png" in err and "odd width" in err and "Traceback" not in err


def test_bad_settings_exit_with_usage_errors(tmp_path, capsys):
    data = make_aligned_folder(tmp_path / "data", count=3)
    assert train_cli.main(["--data", str(data), "--crop-size", "100", "--out",
                           str(tmp_path / "r")]) == 2
    assert "multiple of 256" in capsys.readouterr().err
    assert train_cli.main(["--data", str(data), *TINY, "--input-transform", "sobel", "--out",
                           str(tmp_path / "r")]) == 2
    assert "sobel" in capsys.readouterr().err


@pytest.mark.parametrize("flags, says", [
    (["--val-fraction", "1.5"], "--val-fraction must be in [0, 1)"),
    (["--load-size", "100"], "--load-size 100 is smaller than --crop-size 128"),
    (["--transform-param", "low"], "--transform-param expects KEY=VALUE"),
    (["--video-stride", "0"], "--video-stride and --max-frames must be >= 1"),
])
def test_each_bad_setting_is_a_usage_error_without_a_traceback(tmp_path, capsys, flags, says):
    data = make_aligned_folder(tmp_path / "data", count=3)
    code = train_cli.main(["--data", str(data), *TINY, "--out", str(tmp_path / "r"), *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    assert says in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_progress_bar_shows_the_losses(tmp_path, capsys, monkeypatch):
    import tqdm

    # Redraw on every step: tiny steps outrun tqdm's 0.1 s refresh, and the bar (leave=False)
    # is cleared at the end. (TQDM_MININTERVAL is read when tqdm is imported: too late here.)
    init = tqdm.tqdm.__init__
    monkeypatch.setattr(tqdm.tqdm, "__init__",
                        lambda self, *a, **k: init(self, *a, **{**k, "mininterval": 0}))
    data = make_aligned_folder(tmp_path / "data", count=3)
    argv = ["--data", str(data), "--out", str(tmp_path / "r"), *TINY, "--epochs", "1",
            "--epochs-decay", "0", "--no-engine", "--val-fraction", "0"]
    argv.remove("--no-progress")
    assert train_cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "it/s" in err
    for loss in ("G_GAN", "G_L1", "D_real", "D_fake"):
        assert re.search(loss + r" \d+\.\d{3}", err), err


def test_the_run_records_the_papers_loss_and_adam_by_default(tmp_path):
    """No loss or optimiser flags: the saved run config and optimisers hold the paper's
    settings (tests/training/test_step.py checks that the step computes with them)."""
    data = make_aligned_folder(tmp_path / "data", count=3)
    assert train_cli.main(["--data", str(data), "--out", str(tmp_path / "r"), *TINY,
                           "--epochs", "1", "--epochs-decay", "0", "--no-engine"]) == 0
    from pix2pix_stream.pix2pix.checkpoint import load_checkpoint

    state = load_checkpoint(tmp_path / "r" / "latest.pt")
    assert state["train_config"]["optim"] == {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999,
                                              "gan_mode": "vanilla", "lambda_l1": 100.0}
    for key in ("optimizer_G", "optimizer_D"):
        (group,) = state[key]["param_groups"]
        assert group["betas"] == (0.5, 0.999) and group["initial_lr"] == 2e-4


def test_existing_run_needs_resume(tmp_path, capsys):
    data = make_aligned_folder(tmp_path / "data", count=3)
    argv = ["--data", str(data), "--out", str(tmp_path / "r"), *TINY, "--epochs", "1",
            "--epochs-decay", "0", "--no-engine"]
    assert train_cli.main(argv) == 0
    assert train_cli.main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert train_cli.main(argv + ["--resume", "--epochs", "2"]) == 0


def test_resume_without_a_run_says_it_starts_one(tmp_path, capsys):
    data = make_aligned_folder(tmp_path / "data", count=3)
    assert train_cli.main(["--data", str(data), "--out", str(tmp_path / "new"), *TINY,
                           "--epochs", "1", "--epochs-decay", "0", "--no-engine",
                           "--resume"]) == 0
    assert "holds no latest.pt yet; starting a new run" in capsys.readouterr().err


def test_resuming_at_max_steps_trains_no_further(tmp_path, capsys):
    data = make_aligned_folder(tmp_path / "data", count=4)
    argv = ["--data", str(data), "--out", str(tmp_path / "r"), *TINY, "--epochs", "2",
            "--epochs-decay", "0", "--no-engine", "--val-fraction", "0", "--max-steps", "3"]
    assert train_cli.main(argv) == 0
    assert train_cli.main(argv + ["--resume"]) == 0
    from pix2pix_stream.pix2pix.checkpoint import load_checkpoint

    assert load_checkpoint(tmp_path / "r" / "latest.pt")["step"] == 3
    assert "trained 3 steps" in capsys.readouterr().out.splitlines()[-1]


def test_eval_cli_scores_a_checkpoint_and_writes_a_contact_sheet(tmp_path, capsys):
    data = make_aligned_folder(tmp_path / "data", count=4, size=128)  # the model's size: no resize
    out = tmp_path / "run"
    assert train_cli.main(["--data", str(data), "--out", str(out), *TINY, "--epochs", "1",
                           "--epochs-decay", "0", "--no-engine"]) == 0
    capsys.readouterr()
    sheet = tmp_path / "sheet.png"
    assert eval_cli.main([str(out / "latest.pt"), "--data", str(data), "--sheet", str(sheet),
                          "--sheet-rows", "3", "--json", "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    want = scores_of(out / "latest.pt", sorted(data.glob("*.png")))
    assert result["count"] == 4
    assert result["l1"] == pytest.approx(want["l1"], abs=1e-5)
    assert result["psnr"] == pytest.approx(want["psnr"], abs=1e-3)
    assert result["ssim"] == pytest.approx(want["ssim"], abs=1e-5)
    image = np.asarray(Image.open(sheet))
    assert image.shape == (3 * 128 + 2 * 2, 3 * 128 + 2 * 2, 3)


def scores_of(checkpoint: Path, pairs: list[Path]) -> dict[str, float]:
    """Mean L1 (in [-1, 1]), PSNR and SSIM (in [0, 1]) of the checkpoint's generator, in eval
    mode, on aligned A|B images at its size: computed here, but for SSIM's window arithmetic
    (pix2pix.metrics.ssim, tested on its own in test_losses_metrics.py)."""
    import torch

    from pix2pix_stream.networks.models import UnetGenerator
    from pix2pix_stream.pix2pix.checkpoint import load_checkpoint
    from pix2pix_stream.pix2pix.metrics import ssim

    state = load_checkpoint(checkpoint)
    generator = UnetGenerator(**state["generator_config"])
    generator.load_state_dict(state["generator"])
    generator.eval()
    l1, psnr, similarity = [], [], []
    for path in pairs:
        pair = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).float()
        a, b = (half.permute(2, 0, 1)[None] / 127.5 - 1 for half in pair.chunk(2, dim=1))
        with torch.no_grad():
            fake = generator(a)
        l1.append(float((fake - b).abs().mean()))
        mse = float((((fake.clamp(-1, 1) + 1) / 2 - (b + 1) / 2) ** 2).mean())
        psnr.append(10 * np.log10(1 / mse))
        similarity.append(float(ssim(fake, b)[0]))
    return {"l1": float(np.mean(l1)), "psnr": float(np.mean(psnr)),
            "ssim": float(np.mean(similarity))}


def test_eval_cli_reports_a_missing_checkpoint(tmp_path, capsys):
    data = make_aligned_folder(tmp_path / "data", count=2)
    assert eval_cli.main([str(tmp_path / "nope.pt"), "--data", str(data)]) == 4
    assert "checkpoint not found" in capsys.readouterr().err


@pytest.mark.slow
def test_console_script_runs(tmp_path):
    data = make_aligned_folder(tmp_path / "data", count=3)
    exe = Path(sys.executable).with_name("pix2pix-train")
    proc = subprocess.run([str(exe), "--data", str(data), "--out", str(tmp_path / "r"), *TINY,
                           "--epochs", "1", "--epochs-decay", "0", "--no-engine", "--threads", "1"],
                          capture_output=True, text=True, timeout=400)  # a loaded 2-core host
    assert proc.returncode == 0, proc.stderr


def test_preset_sets_the_generator_and_explicit_flags_override_it(tmp_path):
    from pix2pix_stream.pix2pix.cli.train import build_parser, generator_from_args

    def generator(*flags):
        return generator_from_args(build_parser().parse_args(["--data", str(tmp_path), *flags]))

    paper = generator()
    assert (paper.netG, paper.ngf, paper.norm, paper.dropout) == ("unet_256", 64, "batch", True)
    assert generator("--preset", "realtime").ngf == 16
    assert generator("--preset", "balanced").ngf == 32
    mixed = generator("--preset", "realtime", "--netG", "unet_128", "--norm", "instance",
                      "--no-dropout")
    assert (mixed.netG, mixed.ngf, mixed.norm, mixed.dropout) == ("unet_128", 16, "instance", False)


def test_stability_flags_reach_the_config(tmp_path):
    from pix2pix_stream.pix2pix.cli.train import build_parser, stability_from_args

    def stability(mode, *flags):
        return stability_from_args(build_parser().parse_args(["--data", str(tmp_path), *flags]),
                                   mode)

    video = stability("video")
    assert (video.weight, video.temporal_weight) == (100.0, 100.0)
    assert video.detail_invariant and not video.scale_invariant       # the default since 12-04
    assert not stability("video", "--no-stability-detail-invariant").detail_invariant
    chosen = stability("video", "--stability", "50", "--temporal-weight", "40",
                       "--stability-scale-invariant")
    assert (chosen.weight, chosen.temporal_weight, chosen.scale_invariant) == (50.0, 40.0, True)
    assert not chosen.detail_invariant    # by contrast instead: the detail default steps aside
    with pytest.raises(ConfigError, match="not both"):
        stability("video", "--stability-scale-invariant", "--stability-detail-invariant")
    images = stability("images")
    assert images.weight == 0.0 and not images.detail_invariant      # no terms, nothing to measure
    assert stability("images", "--stability", "20").detail_invariant
    off = stability("video", "--stability", "0", "--temporal-weight", "0")
    assert not off.enabled and not off.detail_invariant


def test_resume_with_other_settings_warns_that_it_is_no_continuation(tmp_path, caplog):
    data = make_aligned_folder(tmp_path / "data", count=3)
    argv = ["--data", str(data), "--out", str(tmp_path / "r"), *TINY, "--epochs", "1",
            "--epochs-decay", "0", "--no-engine"]
    assert train_cli.main(argv) == 0
    with caplog.at_level("WARNING", logger="pix2pix.train"):
        assert train_cli.main([*argv, "--resume", "--epochs", "2"]) == 0
    assert "other settings" not in caplog.text  # more epochs: still the same run
    with caplog.at_level("WARNING", logger="pix2pix.train"):
        assert train_cli.main([*argv, "--resume", "--epochs", "3", "--seed", "7"]) == 0
    assert "other settings" in caplog.text and "seed: 0 -> 7" in caplog.text


def test_a_bad_image_found_by_a_loader_worker_is_one_line_naming_it(tmp_path, capsys):
    data = make_aligned_folder(tmp_path / "data", count=4)
    broken = sorted(data.iterdir())[1]
    broken.write_bytes(broken.read_bytes()[:200])  # a cut file: found only when decoded
    code = train_cli.main(["--data", str(data), "--out", str(tmp_path / "r"), *TINY,
                           "--epochs", "1", "--epochs-decay", "0", "--no-engine",
                           "--workers", "1", "--val-fraction", "0"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert broken.name in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
