"""Checkpoints: one torch.save'd dict per file, written atomically.

A checkpoint stores the generator's constructor arguments beside its weights, so export and
serving rebuild the network without the training configuration:

    {
      "format": "pix2pix-stream/checkpoint", "format_version": 1,
      "generator_config": {...GeneratorConfig...}, "generator": state_dict,
      "discriminator_config": {...}, "discriminator": state_dict,        # training only
      "optimizer_G", "optimizer_D", "scheduler_G", "scheduler_D": state dicts  # training only
      "input_transform": {"name": "canny", "params": {...}},
      "direction": "AtoB" | "BtoA", "image_size": 256,
      "epoch": int, "step": int, "train_config": {...}, "metrics": {...}, "rng": {...}
    }
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from pix2pix_stream.networks.models import GeneratorConfig, UnetGenerator

FORMAT = "pix2pix-stream/checkpoint"
FORMAT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint file that is missing, unreadable or not one of ours."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Writes ``state`` to ``path`` so that ``path`` is, at every moment, either the previous
    complete checkpoint or the new complete one: write a temporary file in the same directory,
    fsync it, then rename over the target (rename is atomic on POSIX within one filesystem)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    # A writer killed mid-write (SIGKILL, power cut) leaves its temporary file behind; one
    # process writes a given checkpoint, so any other is such a leftover.
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    return path


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable across a power cut; harmless where unsupported.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated / foreign files
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a pix2pix-stream checkpoint "
                              "(for the official code's *_net_G.pth use --from-official)")
    return state


def load_generator(path: str | os.PathLike, map_location: str | torch.device = "cpu"
                   ) -> tuple[UnetGenerator, dict[str, Any]]:
    """Rebuilds the generator from a checkpoint alone. Returns (generator in eval mode, the
    checkpoint dict without the large state dicts)."""
    state = load_checkpoint(path, map_location)
    config = GeneratorConfig(**state["generator_config"])
    generator = UnetGenerator(**config.to_dict())
    generator.load_state_dict(state["generator"])
    generator.eval()
    info = {k: v for k, v in state.items()
            if k not in ("generator", "discriminator") and not k.startswith(("optimizer", "scheduler"))}
    return generator, info
