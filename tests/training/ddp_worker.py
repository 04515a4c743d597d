"""Run by torchrun in test_ddp.py: a tiny training run, then every rank saves what it holds."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pix2pix_stream.pix2pix.train import Trainer  # noqa: E402
from pix2pix_stream.pix2pix import distributed as ddp  # noqa: E402
from tests.training.helpers import tiny_config  # noqa: E402


def main(data: str, out: str, variant: str = "") -> None:
    torch.set_num_threads(1)
    extra = {}
    if variant == "stability":  # test_stability.py: a video with both stability terms
        from pix2pix_stream.pix2pix.stability import StabilityConfig
        extra = dict(mode="video", val_fraction=0.2,
                     stability=StabilityConfig(weight=10.0, temporal_weight=10.0))
    config = tiny_config(Path(data), Path(out), epochs=2, epochs_decay=1, **extra)
    ctx = ddp.init_distributed("cpu")
    trainer = Trainer(config, ctx)
    result = trainer.fit()
    torch.save({"G": trainer.model.G_net.state_dict(), "D": trainer.model.D_net.state_dict(),
                "G_avg": trainer.model.inference_generator.state_dict(),
                "steps": result.steps, "world": ctx.world_size},
               Path(out) / f"rank{ctx.rank}.pt")
    ddp.barrier(ctx)
    ddp.shutdown(ctx)


if __name__ == "__main__":
    main(*sys.argv[1:4])
