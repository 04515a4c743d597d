"""Scoring a checkpoint on a folder of pairs (or a video): mean L1 / PSNR / SSIM and a contact
sheet of input | output | target rows."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from pix2pix_stream.media.transforms import InputTransform
from pix2pix_stream.pix2pix.checkpoint import load_generator
from pix2pix_stream.pix2pix.data import eval_dataset
from pix2pix_stream.pix2pix.distributed import pick_device
from pix2pix_stream.pix2pix.reporting import evaluate


@dataclass(frozen=True)
class EvalConfig:
    checkpoint: str
    data: str
    mode: str = "auto"
    direction: str | None = None      # None: the checkpoint's
    sheet: str | None = None          # contact-sheet PNG path; None: no sheet
    sheet_rows: int = 8
    batch_size: int = 4
    device: str = "auto"
    progress: bool = True


@dataclass(frozen=True)
class EvalResult:
    metrics: dict[str, float]
    count: int
    sheet: Path | None


def evaluate_checkpoint(config: EvalConfig) -> EvalResult:
    device = pick_device(config.device)
    generator, info = load_generator(config.checkpoint, map_location=device)
    generator.to(device)
    dataset = eval_dataset(config.data, mode=config.mode,
                           direction=config.direction or info.get("direction", "AtoB"),
                           transform=InputTransform.from_dict(info.get("input_transform")),
                           size=int(info.get("image_size", 256)))

    @torch.no_grad()
    def generate(batch: torch.Tensor) -> torch.Tensor:
        return generator(batch.to(device)).float()

    keep = config.sheet_rows if config.sheet else 0
    values, sheets = evaluate(generate, dataset, batch_size=config.batch_size, keep=keep,
                              progress=config.progress)
    sheet = None
    if config.sheet and sheets:
        sheet = Path(config.sheet)
        sheet.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sheets[0]).save(sheet)
    return EvalResult(values, len(dataset), sheet)
