"""The training loop: epochs of pix2pix steps with the paper's schedule, validation, TensorBoard,
atomic checkpoints and exact resume; one process or many under torchrun (DDP)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

from pix2pix_stream.pix2pix import distributed as ddp
from pix2pix_stream.pix2pix.checkpoint import load_checkpoint, save_checkpoint
from pix2pix_stream.pix2pix.config import BEST, LATEST, TrainConfig
from pix2pix_stream.pix2pix.data import build_datasets
from pix2pix_stream.pix2pix.errors import DataError, from_worker
from pix2pix_stream.pix2pix.gan import Pix2PixModel
from pix2pix_stream.networks.models import PatchDiscriminator, UnetGenerator
from pix2pix_stream.pix2pix.performance import default_performance
from pix2pix_stream.pix2pix.reporting import Reporter, evaluate
from pix2pix_stream.pix2pix.stability import StabilityTerms
from pix2pix_stream.pix2pix.video_eval import ValidationClip
from pix2pix_stream.pix2pix.train_state import (Progress, full_state, inference_state, restore,
                                 resume_differences, rng_state)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    checkpoint: Path                    # latest.pt
    epochs_done: int
    steps: int
    wall_s: float
    val_metrics: dict[str, float] = field(default_factory=dict)
    finished: bool = True               # False when max_steps stopped the run early
    rank: int = 0


class Trainer:
    def __init__(self, config: TrainConfig, ctx: ddp.DistContext):
        self.config, self.ctx = config, ctx
        torch.manual_seed(config.seed)  # identical initial weights on every rank
        self.train_set, self.val_set = build_datasets(
            config.data, config.seed, temporal_pairs=config.stability.temporal_weight > 0)
        g = UnetGenerator(**config.generator.to_dict())
        d_cfg = config.discriminator
        d = PatchDiscriminator(config.discriminator_input_nc, d_cfg.ndf, d_cfg.n_layers, d_cfg.norm)
        perf = config.performance or default_performance(ctx.device)
        self.model = Pix2PixModel(g, d, config.optim, perf, ctx.device,
                                  StabilityTerms(config.stability, config.seed, ctx.rank),
                                  ema_decay=config.ema)
        self.model.G, self.model.D = ddp.wrap_ddp(self.model.G_net, ctx), ddp.wrap_ddp(self.model.D_net, ctx)
        self.schedulers = tuple(torch.optim.lr_scheduler.LambdaLR(opt, config.lr_factor)
                                for opt in (self.model.opt_G, self.model.opt_D))
        # Each rank draws its own dropout masks.
        torch.manual_seed(config.seed + 1_000_003 * ctx.rank)
        self.sampler = DistributedSampler(self.train_set, num_replicas=ctx.world_size,
                                          rank=ctx.rank, shuffle=True, seed=config.seed)
        self.progress = Progress()
        self.val_metrics: dict[str, float] = {}
        latest = config.out_dir / LATEST
        if config.resume and latest.is_file():
            state = load_checkpoint(latest, map_location=ctx.device)
            self.progress = restore(state, self.model, self.schedulers, config, ctx.rank)
            changed = resume_differences(state, config)
            if changed and ctx.is_main:
                log.warning("resuming %s with other settings than it was started with, so it "
                            "will not match an uninterrupted run: %s", latest, "; ".join(changed))
            self.val_metrics = dict(state.get("metrics", {}))
        self.reporter = Reporter(config.out_dir / "tensorboard" if ctx.is_main else None)
        # A video run's held-out tail is a clip: its stability is scored per epoch too.
        self.val_clip = (ValidationClip.from_dataset(self.val_set)
                         if ctx.is_main and config.data.mode == "video" else None)

    @property
    def lr(self) -> float:
        return self.model.opt_G.param_groups[0]["lr"]

    def fit(self) -> TrainResult:
        cfg, p = self.config, self.progress
        start = time.perf_counter()
        self.model.train()
        try:
            while p.epoch < cfg.total_epochs:
                if not self._train_epoch():
                    return self._result(start, finished=False)
                self._end_epoch()
            return self._result(start, finished=True)
        except DataError as exc:
            raise from_worker(exc) from None
        finally:
            self.reporter.close()

    def _epoch_loader(self) -> DataLoader:
        self.sampler.set_epoch(self.progress.epoch)
        self.train_set.set_epoch(self.progress.epoch)
        order = list(self.sampler)[self.progress.batch_in_epoch * self.config.batch_size:]
        # A loader draws its workers' base seed from the global RNG unless given a generator;
        # that draw would shift the dropout stream of a resumed run, so it gets its own.
        seeds = torch.Generator().manual_seed(self.config.seed * 100_003 + self.progress.epoch)
        return DataLoader(self.train_set, batch_size=self.config.batch_size, sampler=order,
                          num_workers=self.config.workers, drop_last=False, generator=seeds)

    def _train_epoch(self) -> bool:
        """Trains the rest of the current epoch; False when max_steps stopped it."""
        cfg, p = self.config, self.progress
        if cfg.max_steps is not None and p.step >= cfg.max_steps:
            return False  # resumed at the limit: not one step more
        loader = self._epoch_loader()
        bar = self._progress_bar(len(loader))
        for batch in loader:
            temporal = batch if "flow" in batch else None
            losses = self.model.train_step(batch["input"], batch["target"], step=p.step,
                                           temporal=temporal)
            p.step += 1
            p.batch_in_epoch += 1
            if p.step % cfg.log_every == 0 or bar is not None:
                values = losses.as_floats()
                if p.step % cfg.log_every == 0:
                    self.reporter.losses(p.step, values, self.lr)
                if bar is not None:
                    bar.set_postfix_str(" ".join(f"{k} {v:.3f}" for k, v in values.items()),
                                        refresh=False)
                    bar.update()
            if cfg.save_every and p.step % cfg.save_every == 0:
                self._save_latest()
            if cfg.max_steps is not None and p.step >= cfg.max_steps:
                self._save_latest()
                if bar is not None:
                    bar.close()
                return False
        if bar is not None:
            bar.close()
        return True

    def _progress_bar(self, batches: int):
        if not (self.config.progress and self.ctx.is_main):
            return None
        from tqdm import tqdm
        # No bar graphic: the four losses need the width (tqdm cuts a long line in the middle).
        return tqdm(total=batches, desc=f"epoch {self.progress.epoch + 1}/{self.config.total_epochs}",
                    unit="it", dynamic_ncols=True, leave=False,
                    bar_format="{desc} {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}] "
                               "{postfix}")

    def _end_epoch(self) -> None:
        cfg, p = self.config, self.progress
        for s in self.schedulers:
            s.step()
        p.epoch, p.batch_in_epoch = p.epoch + 1, 0
        if self.ctx.is_main and self.val_set is not None:
            self._validate()
        self._save_latest()
        if self.ctx.is_main and cfg.keep_every and p.epoch % cfg.keep_every == 0:
            save_checkpoint(inference_state(self.model, cfg, epoch=p.epoch, step=p.step,
                                            metrics=self.val_metrics),
                            cfg.out_dir / f"epoch_{p.epoch:03d}.pt")

    def _validate(self) -> None:
        g = self.model.inference_generator
        g.eval()
        generate = self.model.generate_for_inference
        try:
            values, grids = evaluate(generate, self.val_set,
                                     batch_size=max(self.config.batch_size, 4),
                                     keep=self.config.grid_images)
            video = self.val_clip.score(generate) if self.val_clip else None
        finally:
            if g is self.model.G_net:   # the average is never trained: it stays in eval mode
                g.train()
        self.val_metrics = values
        self.reporter.validation(self.progress.epoch, values, grids)
        if video is not None:
            self.reporter.video(self.progress.epoch, video)
            self.val_metrics.update({"flicker": video["flicker"],
                                     "warp_error": video["warp_error"],
                                     "warp_floor": video["warp_floor"],
                                     "detail": video["detail"]})
        if values["l1"] < self.progress.best_val_l1:
            self.progress.best_val_l1 = values["l1"]
            save_checkpoint(inference_state(self.model, self.config, epoch=self.progress.epoch,
                                            step=self.progress.step, metrics=values),
                            self.config.out_dir / BEST)

    def _save_latest(self) -> None:
        rngs = ddp.gather_objects(rng_state(), self.ctx)
        if self.ctx.is_main:
            save_checkpoint(full_state(self.model, self.schedulers, self.config, self.progress,
                                       rngs, self.val_metrics),
                            self.config.out_dir / LATEST)

    def _result(self, start: float, finished: bool) -> TrainResult:
        averaged = [self.model.G_avg.module] if self.model.G_avg is not None else []
        for module in (self.model.G_net, self.model.D_net, *averaged):
            ddp.broadcast_buffers(module, self.ctx)
        p = self.progress
        return TrainResult(self.config.out_dir / LATEST, p.epoch, p.step,
                           time.perf_counter() - start, dict(self.val_metrics), finished,
                           self.ctx.rank)


def train(config: TrainConfig) -> TrainResult:
    """Runs (or, with ``config.resume``, continues) a training run. Under torchrun every process
    calls this; rank 0 writes checkpoints and TensorBoard."""
    ctx = ddp.init_distributed(config.device)
    try:
        return Trainer(config, ctx).fit()
    finally:
        ddp.barrier(ctx)
