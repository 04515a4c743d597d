"""Training iterations per second of the default pix2pix model on this machine.

One iteration = G forward, D on the real and the fake pair, G backward through GAN + L1, both
Adam steps (pix2pix.gan.Pix2PixModel.train_step). The baseline, measured in the same run, is the
plain fp32 NCHW eager step with the for-loop Adam, as the official pytorch-CycleGAN-and-pix2pix
code runs it; every other row is a speed setting from pix2pix.performance. Each variant starts
from the same seeded weights and sees the same batches, so the "loss drift" columns show what
the setting does to training: the relative difference of the summed G_L1 / D losses over the run
against the baseline's.

    .venv/bin/python bench/train.py                 # default model: unet_256, ngf 64, 256x256
    .venv/bin/python bench/train.py --steps 20 --compile
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pix2pix.data import to_tensor  # noqa: E402
from pix2pix.gan import Pix2PixModel  # noqa: E402
from pix2pix.models import PatchDiscriminator, UnetGenerator  # noqa: E402
from pix2pix.performance import Performance, cpu_has_fast_bf16, default_performance  # noqa: E402

FACADES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "facades" / "train"

VARIANTS: list[tuple[str, Performance]] = [
    ("baseline fp32 NCHW (official)", Performance()),
    ("fused Adam", Performance(fused_adam=True)),
    ("channels_last", Performance(channels_last=True)),
    ("channels_last + fused Adam", Performance(channels_last=True, fused_adam=True)),
    ("bf16 autocast", Performance(precision="bf16")),
    ("bf16 + fused Adam", Performance(precision="bf16", fused_adam=True)),
    ("bf16 + channels_last + fused Adam", Performance(precision="bf16", channels_last=True,
                                                      fused_adam=True)),
]


def real_batches(n: int, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Facades pairs (label -> photo) when ../shared/data is there, else seeded noise images."""
    files = sorted(FACADES.glob("*.jpg"))[:n] if FACADES.is_dir() else []
    batches = []
    rng = np.random.default_rng(0)
    for i in range(n):
        if files:
            from PIL import Image
            img = np.asarray(Image.open(files[i % len(files)]).convert("RGB"))
            w = img.shape[1] // 2
            a = np.asarray(Image.fromarray(img[:, w:]).resize((size, size)))
            b = np.asarray(Image.fromarray(img[:, :w]).resize((size, size)))
        else:
            a, b = (rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(2))
        batches.append((to_tensor(a)[None], to_tensor(b)[None]))
    return batches


def run_variant(perf: Performance, init: tuple[dict, dict], batches, warmup: int,
                compile_model: bool = False) -> tuple[float, np.ndarray]:
    g, d = UnetGenerator(), PatchDiscriminator()
    g.load_state_dict(init[0])
    d.load_state_dict(init[1])
    model = Pix2PixModel(g, d, perf=perf)
    if compile_model:
        model.G, model.D = torch.compile(model.G), torch.compile(model.D)
    model.train()
    torch.manual_seed(1)  # same dropout masks in every variant
    losses = []
    for a, b in batches[:warmup]:
        model.train_step(a, b)
    start = time.perf_counter()
    for a, b in batches[warmup:]:
        losses.append(list(model.train_step(a, b).as_floats().values()))
    elapsed = time.perf_counter() - start
    return (len(batches) - warmup) / elapsed, np.array(losses)


def drift(losses: np.ndarray, base: np.ndarray, column: slice) -> float:
    ref = np.abs(base[:, column]).sum()
    return float(np.abs(losses[:, column] - base[:, column]).sum() / max(ref, 1e-12))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12, help="timed iterations per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first")
    parser.add_argument("--size", type=int, default=256, help="image size (default model: 256)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile of G and D with the CPU default (slow to compile)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    init = (copy.deepcopy(UnetGenerator().state_dict()), copy.deepcopy(PatchDiscriminator().state_dict()))
    batches = real_batches(args.warmup + args.steps, args.size)
    variants = list(VARIANTS)
    if not cpu_has_fast_bf16():
        print("note: this CPU has no native bf16 (AVX512-BF16/AMX); bf16 rows are emulated")
    print(f"torch {torch.__version__}, {args.threads} threads, batch 1, {args.size}x{args.size}, "
          f"unet_256 ngf 64 + 70x70 PatchGAN, {args.steps} timed steps after {args.warmup} warm-up")
    rows = []
    base = None
    if args.compile:
        variants.append(("torch.compile + CPU default", default_performance(torch.device("cpu"))))
    variants.append(("pix2pix-train CPU default", default_performance(torch.device("cpu"))))
    for name, perf in variants:
        its, losses = run_variant(perf, init, batches, args.warmup, name.startswith("torch.compile"))
        if base is None:
            base = (its, losses)
        rows.append((name, its, its / base[0], drift(losses, base[1], slice(1, 2)),
                     drift(losses, base[1], slice(2, 4)), losses[-1]))
        print(f"  measured {name}: {its:.2f} it/s", flush=True)
    print()
    print(f"| {'variant':<40} | it/s | vs baseline | G_L1 drift | D drift | last G_GAN/G_L1/D_real/D_fake |")
    print(f"|{'-' * 42}|------|-------------|------------|---------|-------------------------------|")
    for name, its, ratio, dl1, dd, last in rows:
        print(f"| {name:<40} | {its:4.2f} | {ratio:10.2f}x | {dl1:9.2%} | {dd:6.2%} | "
              f"{' / '.join(f'{v:.3f}' for v in last)} |")


if __name__ == "__main__":
    main()
