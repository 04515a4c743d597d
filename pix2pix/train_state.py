"""What a training checkpoint holds and how a run is restored from one.

``latest.pt`` holds everything needed to continue exactly: weights, optimiser and scheduler
state, the position in the epoch, and every rank's RNG state (dropout masks come from it; the
data order and jitter are derived from the seed and the epoch, see pix2pix_stream.pix2pix.data.dataset).
``best.pt`` and ``epoch_NNN.pt`` hold only what inference needs. With a weight average
(pix2pix.ema), "generator" is the average everywhere (it is what export and serving read) and
latest.pt also holds the trained weights as "generator_trained".
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from pix2pix_stream.pix2pix.checkpoint import CheckpointError


@dataclass
class Progress:
    epoch: int = 0            # the epoch in progress (0-based)
    batch_in_epoch: int = 0   # batches of that epoch already trained on
    step: int = 0             # batches trained on in total
    best_val_l1: float = float("inf")


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def inference_state(model, config, *, epoch: int, step: int, metrics: dict | None = None
                    ) -> dict[str, Any]:
    return {
        "generator_config": config.generator.to_dict(),
        "generator": model.inference_generator.state_dict(),   # the weight average when kept
        "input_transform": config.data.input_transform.to_dict(),
        "direction": config.data.direction,
        "image_size": config.data.crop_size,
        "epoch": epoch, "step": step,
        "train_config": config.to_dict(),
        "metrics": dict(metrics or {}),
    }


def full_state(model, schedulers, config, progress: Progress, rng_per_rank: list,
               metrics: dict | None = None) -> dict[str, Any]:
    state = inference_state(model, config, epoch=progress.epoch, step=progress.step,
                            metrics=metrics)
    state.update({
        "discriminator_config": config.discriminator.to_dict(),
        "discriminator": model.D_net.state_dict(),
        "optimizer_G": model.opt_G.state_dict(), "optimizer_D": model.opt_D.state_dict(),
        "scheduler_G": schedulers[0].state_dict(), "scheduler_D": schedulers[1].state_dict(),
        "grad_scaler": model.scaler.state_dict(),
        **({"generator_trained": model.G_net.state_dict(), "ema_updates": model.G_avg.updates}
           if model.G_avg is not None else {}),
        "batch_in_epoch": progress.batch_in_epoch,
        "best_val_l1": progress.best_val_l1,
        "rng": {"per_rank": rng_per_rank},
    })
    return state


# Settings that change what a resumed run computes; the others (epochs, logging, saving, the
# step limit, workers, the device) may change between the two halves of a run.
_RESULT_SETTINGS = ("data", "discriminator", "optim", "stability", "batch_size", "seed",
                    "performance", "ema")


def resume_differences(state: dict[str, Any], config) -> list[str]:
    """"name: stored -> now" for each setting that differs from the run being resumed: the
    resumed run is then not the continuation of the first one (it still trains)."""
    stored, now = state.get("train_config") or {}, config.to_dict()
    return [f"{key}: {stored[key]} -> {now[key]}" for key in _RESULT_SETTINGS
            if key in stored and _with_defaults(stored[key], getattr(config, key)) != now[key]]


def _with_defaults(stored: Any, section: Any) -> Any:
    """A stored settings section with the fields added since it was written at their
    defaults: a checkpoint written before an option existed ran with the option's default."""
    if not (isinstance(stored, dict) and dataclasses.is_dataclass(section)):
        return stored
    defaults = {f.name: f.default for f in dataclasses.fields(section)
                if f.default is not dataclasses.MISSING}
    return {**defaults, **stored}


def restore(state: dict[str, Any], model, schedulers, config, rank: int) -> Progress:
    """Loads ``state`` into a freshly built model; refuses a checkpoint of another network."""
    if state.get("generator_config") != config.generator.to_dict():
        raise CheckpointError(f"cannot resume: the checkpoint's generator "
                              f"{state.get('generator_config')} differs from the configured "
                              f"{config.generator.to_dict()}")
    if "optimizer_G" not in state:
        raise CheckpointError("cannot resume from an inference-only checkpoint (no optimiser state)")
    model.G_net.load_state_dict(state.get("generator_trained", state["generator"]))
    if model.G_avg is not None:
        if "generator_trained" in state:
            model.G_avg.load(state["generator"], state["ema_updates"])
        else:   # a run without the average: it starts from the weights now
            model.G_avg.load(model.G_net.state_dict(), 0)
    model.D_net.load_state_dict(state["discriminator"])
    model.opt_G.load_state_dict(state["optimizer_G"])
    model.opt_D.load_state_dict(state["optimizer_D"])
    schedulers[0].load_state_dict(state["scheduler_G"])
    schedulers[1].load_state_dict(state["scheduler_D"])
    if state.get("grad_scaler"):
        model.scaler.load_state_dict(state["grad_scaler"])
    per_rank = state["rng"]["per_rank"]
    if len(per_rank) > rank:  # a different world size resumes with fresh dropout streams
        set_rng_state(per_rank[rank])
    return Progress(epoch=state["epoch"], batch_in_epoch=state["batch_in_epoch"],
                    step=state["step"], best_val_l1=state.get("best_val_l1", float("inf")))
