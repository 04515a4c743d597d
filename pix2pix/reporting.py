"""TensorBoard logging, validation metrics and the input | output | target image grid."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pix2pix_stream.pix2pix import metrics
from pix2pix_stream.pix2pix.data import to_uint8


def contact_rows(inputs: np.ndarray, outputs: np.ndarray, targets: np.ndarray,
                 gap: int = 2) -> np.ndarray:
    """uint8 [N, H, W, 3] x 3 -> one uint8 image with a row input | output | target per sample."""
    n, h, w, _ = inputs.shape
    sheet = np.full((n * h + (n - 1) * gap, 3 * w + 2 * gap, 3), 255, np.uint8)
    for i in range(n):
        y = i * (h + gap)
        for j, img in enumerate((inputs[i], outputs[i], targets[i])):
            x = j * (w + gap)
            sheet[y:y + h, x:x + w] = img
    return sheet


@torch.no_grad()
def evaluate(generate, dataset, batch_size: int = 4, keep: int = 0, progress: bool = False
             ) -> tuple[dict[str, float], list[np.ndarray]]:
    """Mean L1 / PSNR / SSIM of ``generate`` (float NCHW -> float NCHW) over ``dataset``; also
    returns up to ``keep`` (input, output, target) uint8 batches for pictures."""
    from torch.utils.data import DataLoader

    totals = {"l1": 0.0, "psnr": 0.0, "ssim": 0.0}
    kept: list[np.ndarray] = []
    count = 0
    # Its own generator: a loader otherwise draws a seed from the global RNG (dropout's stream).
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        generator=torch.Generator().manual_seed(0))
    if progress:
        from tqdm import tqdm
        loader = tqdm(loader, desc="evaluating", unit="batch")
    for batch in loader:
        out = generate(batch["input"]).cpu()
        for name, values in metrics.all_metrics(out, batch["target"]).items():
            totals[name] += float(values.sum())
        count += len(out)
        if len(kept) < keep:
            kept.append((to_uint8(batch["input"]), to_uint8(out), to_uint8(batch["target"])))
    means = {k: v / max(count, 1) for k, v in totals.items()}
    if kept:
        ins, outs, tgts = (np.concatenate(parts)[:keep] for parts in zip(*kept))
        return means, [contact_rows(ins, outs, tgts)]
    return means, []


class Reporter:
    """TensorBoard writer of one run (rank 0 only; the others get a Reporter that does nothing)."""

    def __init__(self, log_dir: Path | None):
        self.writer = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(log_dir))

    def losses(self, step: int, losses: dict[str, float], lr: float) -> None:
        if self.writer is None:
            return
        for name, value in losses.items():
            self.writer.add_scalar(f"loss/{name}", value, step)
        self.writer.add_scalar("lr", lr, step)

    def validation(self, epoch: int, values: dict[str, float], grids: list[np.ndarray]) -> None:
        if self.writer is None:
            return
        self.writer.add_scalar("val/L1", values["l1"], epoch)
        self.writer.add_scalar("val/PSNR", values["psnr"], epoch)
        self.writer.add_scalar("val/SSIM", values["ssim"], epoch)
        for grid in grids:
            self.writer.add_image("val/input|output|target", grid, epoch, dataformats="HWC")
        self.writer.flush()

    def video(self, epoch: int, scores: dict[str, float]) -> None:
        """Temporal stability of the validation clip (pix2pix_stream.pix2pix.video_eval)."""
        if self.writer is None:
            return
        for key, tag in (("flicker", "video/flicker"), ("warp_error", "video/warp_error"),
                         ("warp_floor", "video/warp_error_input_floor"),
                         ("detail", "video/detail")):
            self.writer.add_scalar(tag, scores[key], epoch)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
