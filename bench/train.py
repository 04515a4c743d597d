"""Training iterations per second of the default pix2pix model on this machine.

One iteration = G forward, D on the real and the fake pair, G backward through GAN + L1, both
Adam steps (pix2pix_stream.pix2pix.gan.Pix2PixModel.train_step). The baseline, measured in the same run, is the
plain fp32 NCHW eager step with the for-loop Adam, as the official pytorch-CycleGAN-and-pix2pix
code runs it; every other row is a speed setting from pix2pix.performance. Each variant starts
from the same seeded weights and sees the same batches, so the "loss drift" columns show what
the setting does to training: the relative difference of the summed G_L1 / D losses over the run
against the baseline's. The last two rows add the stability loss terms (pix2pix.stability) to the
CPU default: what ``--stability`` and, for video, ``--temporal-weight`` cost per step (their
"drift" is what they change in the G_L1 / D losses: they are different objectives, not speed
settings). The temporal term's flow is computed once per frame pair in the data pipeline and
cached: its one-off cost per pair is printed below the table.

    .venv/bin/python bench/train.py                 # default model: unet_256, ngf 64, 256x256
    .venv/bin/python bench/train.py --steps 20 --compile
    .venv/bin/python bench/train.py --json out/train.json   # also write the rows (bench/run_all.py)
"""
from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as pix2pix-train; see pix2pix/__init__.py
import torch  # noqa: E402


from pix2pix_stream.pix2pix.data import to_tensor  # noqa: E402
from pix2pix_stream.pix2pix.gan import Pix2PixModel  # noqa: E402
from pix2pix_stream.networks.models import PatchDiscriminator, UnetGenerator  # noqa: E402
from pix2pix_stream.pix2pix.performance import Performance, cpu_has_fast_bf16, default_performance  # noqa: E402
from pix2pix_stream.pix2pix.stability import StabilityConfig, StabilityTerms  # noqa: E402
from results_json import write_json  # noqa: E402  (bench/, this script's folder)

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
    ("bf16 + fused Adam, 1 thread", Performance(precision="bf16", fused_adam=True)),
]


def speed_variants(time_bf16: bool, compile_model: bool) -> list[tuple[str, Performance]]:
    """The speed settings to time. Without native bf16 the bf16 rows are left out unless asked
    for: emulated bf16 is several times slower than fp32 (a paper-size run did not finish one
    variant in 8 minutes on such a CPU) and no default uses it there."""
    variants = [(name, perf) for name, perf in VARIANTS if time_bf16 or perf.precision != "bf16"]
    if compile_model:
        variants.append(("torch.compile + CPU default", default_performance(torch.device("cpu"))))
    return variants


def default_variant(variants: list[tuple[str, Performance]], default: Performance) -> str | None:
    """The row the targets read: the speed setting pix2pix-train uses on this CPU (bf16 + fused
    Adam where bf16 is native, fp32 + fused Adam elsewhere), not a 1-thread, compile or
    stability row that happens to share it."""
    return next((name for name, perf in variants if perf == default
                 and not name.endswith("1 thread")
                 and not name.startswith(("CPU default", "torch.compile"))), None)


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


class Variant:
    """One speed setting with its own model copy and its own dropout RNG stream, so that the
    variants can be stepped in interleaved rounds and still see identical random numbers."""

    def __init__(self, name: str, perf: Performance, init: tuple[dict, dict], compile_model=False,
                 stability: StabilityConfig | None = None):
        g, d = UnetGenerator(), PatchDiscriminator()
        g.load_state_dict(init[0])
        d.load_state_dict(init[1])
        self.name, self.perf = name, perf
        self.model = Pix2PixModel(g, d, perf=perf, stability=StabilityTerms(stability)
                                  if stability is not None else None)
        self.temporal = stability is not None and stability.temporal_weight > 0
        if compile_model:
            self.model.G, self.model.D = torch.compile(self.model.G), torch.compile(self.model.D)
        self.model.train()
        torch.manual_seed(1)
        self.rng = torch.get_rng_state()
        self.seconds: list[float] = []
        self.losses: list[list[float]] = []

    def run(self, batches, timed: bool) -> None:
        threads = torch.get_num_threads()
        if self.name.endswith("1 thread"):
            torch.set_num_threads(1)
        torch.set_rng_state(self.rng)
        for step, (a, b) in enumerate(batches):
            # The temporal term's inputs as the data pipeline delivers them: the previous frame
            # (here the same pair moved 2 px) and the target flow with its mask.
            temporal = {"prev_input": a.roll(2, 3), "flow": torch.full((1, 2) + a.shape[2:], 2.0),
                        "flow_mask": torch.ones((1, 1) + a.shape[2:])} if self.temporal else None
            start = time.perf_counter()
            losses = self.model.train_step(a, b, step=step, temporal=temporal).as_floats()
            elapsed = time.perf_counter() - start
            if timed:
                self.seconds.append(elapsed)
                self.losses.append(list(losses.values()))
        self.rng = torch.get_rng_state()
        torch.set_num_threads(threads)

    @property
    def its(self) -> float:
        return 1.0 / float(np.median(self.seconds))


STABILITY_VARIANTS = [
    ("--stability 100", StabilityConfig(weight=100.0)),
    ("--stability 100 --temporal-weight 100", StabilityConfig(weight=100.0, temporal_weight=100.0)),
]


def flow_pair_ms(size: int, repeats: int = 5) -> float:
    """What FlowCache pays per frame pair: DIS both ways plus the forward-backward mask."""
    from pix2pix_stream.media.temporal import FlowEstimator, reliable

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    b = np.roll(a, 2, axis=1)
    estimate = FlowEstimator("medium")
    start = time.perf_counter()
    for _ in range(repeats):
        reliable(estimate(b, a), estimate(a, b))
    return (time.perf_counter() - start) / repeats * 1000


def drift(losses: np.ndarray, base: np.ndarray, column: slice) -> float:
    ref = np.abs(base[:, column]).sum()
    return float(np.abs(losses[:, column] - base[:, column]).sum() / max(ref, 1e-12))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=24, help="timed iterations per variant")
    parser.add_argument("--round", type=int, default=4, help="iterations per variant per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first")
    parser.add_argument("--size", type=int, default=256, help="image size (default model: 256)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile of G and D with the CPU default (slow to compile)")
    parser.add_argument("--emulated-bf16", action="store_true",
                        help="time the bf16 rows even where the CPU only emulates bf16 (slow)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    init = (copy.deepcopy(UnetGenerator().state_dict()), copy.deepcopy(PatchDiscriminator().state_dict()))
    batches = real_batches(args.warmup + args.steps, args.size)
    time_bf16 = cpu_has_fast_bf16() or args.emulated_bf16
    variants = speed_variants(time_bf16, args.compile)
    if not time_bf16:
        print("note: this CPU has no native bf16 (AVX512-BF16/AMX); bf16 rows are left out "
              "(--emulated-bf16 times them anyway)")
    print(f"torch {torch.__version__}, {args.threads} threads, batch 1, {args.size}x{args.size}, "
          f"unet_256 ngf 64 + 70x70 PatchGAN, {args.steps} timed steps after {args.warmup} warm-up")
    variants = [Variant(name, perf, init, name.startswith("torch.compile"))
                for name, perf in variants]
    cpu_default = default_performance(torch.device("cpu"))
    variants += [Variant(f"CPU default + {name}", cpu_default, init, stability=stability)
                 for name, stability in STABILITY_VARIANTS]
    # Warm-up, then rounds: each round steps every variant over the same few batches, so a
    # change in machine load during the run hits all variants alike.
    for v in variants:
        v.run(batches[:args.warmup], timed=False)
    timed = batches[args.warmup:]
    for start in range(0, len(timed), args.round):
        for v in variants:
            v.run(timed[start:start + args.round], timed=True)
        print(f"  round {start // args.round + 1}: "
              + ", ".join(f"{v.its:.2f}" for v in variants), flush=True)
    base = variants[0]
    default = default_performance(torch.device("cpu"))
    base_losses = np.array(base.losses)
    rows = []
    marked = default_variant([(v.name, v.perf) for v in variants], default)
    for v in variants:
        losses = np.array(v.losses)
        name = v.name + (" [default]" if v.name == marked else "")
        rows.append({"variant": name, "its": v.its, "vs_baseline": v.its / base.its,
                     "g_l1_drift": drift(losses, base_losses, slice(1, 2)),
                     "d_drift": drift(losses, base_losses, slice(2, 4)),
                     "last_losses": [float(x) for x in losses[-1]]})
    print_table(rows)
    print(f"temporal term's flow (DIS medium, forward + backward, {round(args.size * 286 / 256)} px "
          f"frames): {flow_pair_ms(round(args.size * 286 / 256)):.1f} ms per frame pair, once "
          "(cached)")
    if args.json:
        write_json(args.json, "train", {**vars(args), "torch": torch.__version__,
                                        "fast_bf16": cpu_has_fast_bf16()}, rows,
                   baseline=base.name, unit="it/s", loss_names=["G_GAN", "G_L1", "D_real", "D_fake"])


def print_table(rows: list[dict]) -> None:
    print()
    print(f"| {'variant':<44} | it/s | vs baseline | G_L1 drift | D drift | last G_GAN/G_L1/D_real/D_fake |")
    print(f"|{'-' * 46}|------|-------------|------------|---------|-------------------------------|")
    for r in rows:
        print(f"| {r['variant']:<44} | {r['its']:4.2f} | {r['vs_baseline']:10.2f}x | "
              f"{r['g_l1_drift']:9.2%} | {r['d_drift']:6.2%} | "
              f"{' / '.join(f'{v:.3f}' for v in r['last_losses'])} |")


if __name__ == "__main__":
    main()
