"""TrainConfig: everything a training run needs, built by the CLI (or a test) and frozen."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pix2pix_stream.pix2pix.data import DataConfig
from pix2pix_stream.pix2pix.errors import ConfigError
from pix2pix_stream.pix2pix.gan import OptimConfig
from pix2pix_stream.networks.models import DiscriminatorConfig, GeneratorConfig
from pix2pix_stream.pix2pix.performance import Performance
from pix2pix_stream.pix2pix.stability import StabilityConfig

LATEST = "latest.pt"
BEST = "best.pt"


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig
    out: str                                   # run folder: checkpoints, tensorboard/, engine/
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    stability: StabilityConfig = field(default_factory=StabilityConfig)   # off unless asked
    epochs: int = 100                          # at the constant learning rate
    epochs_decay: int = 100                    # then linearly down towards zero
    batch_size: int = 1
    ema: float = 0.999                         # generator weight average's decay (pix2pix.ema); 0 = off
    seed: int = 0
    device: str = "auto"                       # auto | cpu | cuda | cuda:N
    performance: Performance | None = None     # None: measured default for the device
    workers: int = 0                           # DataLoader worker processes
    resume: bool = False
    save_every: int = 0                        # also write latest.pt every N steps (0: per epoch)
    keep_every: int = 10                       # keep epoch_NNN.pt (generator only) every N epochs
    log_every: int = 10                        # TensorBoard scalars every N steps
    grid_images: int = 4                       # validation samples in the TensorBoard grid
    max_steps: int | None = None               # stop early after this many steps in total
    progress: bool = True
    command_line: str = ""                     # recorded in checkpoints and the engine card

    def __post_init__(self):
        divisor = self.generator.divisor
        if self.data.crop_size % divisor:
            raise ConfigError(
                f"crop size {self.data.crop_size} is not a multiple of {divisor}, which "
                f"{self.generator.netG} needs ({self.generator.num_downs} halvings); use "
                f"--crop-size {max(divisor, self.data.crop_size // divisor * divisor)} or "
                "--netG unet_128 for 128 px images")
        for name in ("epochs", "epochs_decay", "save_every", "keep_every", "workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.batch_size < 1 or self.log_every < 1:
            raise ConfigError("batch_size and log_every must be >= 1")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"ema must be in [0, 1), got {self.ema}")
        if self.epochs + self.epochs_decay < 1:
            raise ConfigError("nothing to train: epochs + epochs_decay is 0")

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.epochs_decay

    @property
    def out_dir(self) -> Path:
        return Path(self.out)

    @property
    def discriminator_input_nc(self) -> int:
        return self.generator.input_nc + self.generator.output_nc

    def lr_factor(self, epoch: int) -> float:
        """Learning-rate multiplier for 0-based ``epoch``: 1 for the first ``epochs``, then a
        linear decay that reaches 1/(epochs_decay + 1) in the last epoch (as the official code)."""
        return 1.0 - max(0, epoch + 1 - self.epochs) / float(self.epochs_decay + 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so that checkpoints load with torch.load(weights_only=True)."""
        return asdict(self)
