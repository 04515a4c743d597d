"""Importing generators saved by the official pytorch-CycleGAN-and-pix2pix code.

The official U-Net is built recursively: each UnetSkipConnectionBlock holds an ``nn.Sequential``
called ``model`` whose middle element is the next-inner block. Its state-dict keys therefore nest:

    depth 0 (outermost)  model.model.{0: down conv, 3: up conv (with bias)}      [1 = submodule]
    depth 1              model.model.1.model.{1: down conv, 2: down norm, 5: up conv, 6: up norm}
    depth d (middle)     model.model.1.model.3.model. ... (d-1 times ".3.model") same indices
    innermost            ... .model.{1: down conv, 3: up conv, 4: up norm}       [no submodule]

(a middle block's Sequential is LeakyReLU, down conv, down norm, submodule, ReLU, up conv, up norm
[, Dropout]; the innermost block has no submodule and no down norm). Official convolutions carry a
bias only with instance norm, except the outermost up conv which always has one; this matches
pix2pix_stream.networks.models exactly, so the mapping is one-to-one onto ``encoder[d]`` / ``decoder[n-1-d]``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pix2pix_stream.engines.runtime.errors import OfficialCheckpointError
from pix2pix_stream.networks.models import GENERATOR_DEPTHS, GeneratorConfig, UnetGenerator

OFFICIAL_NORMS = ("batch", "instance")
_OPT_LINE = re.compile(r"^\s*([A-Za-z_][\w]*)\s*:\s*(\S*)")


@dataclass(frozen=True)
class OfficialOptions:
    """The options of the official code that fix the generator's shape, plus what export uses."""

    netG: str = "unet_256"
    ngf: int = 64
    norm: str = "batch"
    input_nc: int = 3
    output_nc: int = 3
    direction: str = "AtoB"
    crop_size: int = 256
    name: str = ""

    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(input_nc=self.input_nc, output_nc=self.output_nc, netG=self.netG,
                               ngf=self.ngf, norm=self.norm)


def read_train_opt(path: str | os.PathLike) -> dict[str, str]:
    """Parses the official ``train_opt.txt`` (``   name: value   [default: x]`` lines between
    dashed header and footer) into raw strings."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise OfficialCheckpointError(f"cannot read options file {path}: {exc}") from exc
    options = {}
    for line in text.splitlines():
        match = _OPT_LINE.match(line)
        if match and not line.lstrip().startswith("-"):
            options[match.group(1)] = match.group(2)
    if not options:
        raise OfficialCheckpointError(f"{path} holds no 'name: value' option lines")
    return options


def options_from(opt_file: str | os.PathLike | None = None, **overrides: Any) -> OfficialOptions:
    """Options from ``opt_file`` (when given), overridden by the non-None keyword arguments."""
    raw: dict[str, Any] = {}
    if opt_file is not None:
        raw = read_train_opt(opt_file)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    known = OfficialOptions.__dataclass_fields__
    values: dict[str, Any] = {}
    for key, field_ in known.items():
        if key in raw:
            try:
                values[key] = int(raw[key]) if field_.type == "int" else str(raw[key])
            except ValueError as exc:
                raise OfficialCheckpointError(f"option {key} must be an integer, got {raw[key]!r}") from exc
    options = OfficialOptions(**values)
    if options.netG not in GENERATOR_DEPTHS:
        raise OfficialCheckpointError(f"netG {options.netG!r} is not a U-Net; supported: "
                                      f"{', '.join(sorted(GENERATOR_DEPTHS))}")
    if options.norm not in OFFICIAL_NORMS:
        raise OfficialCheckpointError(f"norm {options.norm!r} is not supported for official "
                                      f"checkpoints; supported: {', '.join(OFFICIAL_NORMS)}")
    return options


def _block_prefix(depth: int) -> str:
    return "model.model." if depth == 0 else "model.model.1." + "model.3." * (depth - 1) + "model."


def official_key_map(config: GeneratorConfig) -> dict[str, str]:
    """Our state-dict key -> the official key, for every parameter and buffer we have."""
    n = config.num_downs
    # Sequential indices per kind of block: (down conv, down norm, up conv, up norm).
    index = {"outer": (0, None, 3, None), "middle": (1, 2, 5, 6), "inner": (1, None, 3, 4)}
    norm_keys = (("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
                 if config.norm == "batch" else ())
    bias = config.norm == "instance"
    mapping = {}
    for depth in range(n):
        kind = "outer" if depth == 0 else "inner" if depth == n - 1 else "middle"
        down, down_norm, up, up_norm = index[kind]
        prefix = _block_prefix(depth)
        ours_down, ours_up = f"encoder.{depth}", f"decoder.{n - 1 - depth}"
        mapping[f"{ours_down}.conv.weight"] = f"{prefix}{down}.weight"
        if bias:
            mapping[f"{ours_down}.conv.bias"] = f"{prefix}{down}.bias"
        mapping[f"{ours_up}.conv.weight"] = f"{prefix}{up}.weight"
        if bias or kind == "outer":
            mapping[f"{ours_up}.conv.bias"] = f"{prefix}{up}.bias"
        for our_norm, their_index in ((f"{ours_down}.norm", down_norm), (f"{ours_up}.norm", up_norm)):
            if their_index is not None:
                for key in norm_keys:
                    mapping[f"{our_norm}.{key}"] = f"{prefix}{their_index}.{key}"
    return mapping


def _clean(state: dict[str, torch.Tensor], norm: str) -> dict[str, torch.Tensor]:
    # DataParallel saves add "module."; checkpoints from PyTorch < 0.4 kept running statistics
    # in InstanceNorm layers (the official loader deletes them too).
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    if norm == "instance":
        state = {k: v for k, v in state.items()
                 if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    return state


def convert_state_dict(official: dict[str, torch.Tensor], config: GeneratorConfig
                       ) -> dict[str, torch.Tensor]:
    """Maps an official generator state dict onto UnetGenerator(config)'s keys; raises
    OfficialCheckpointError naming missing, unexpected and wrongly shaped keys (which is what a
    wrong --netG / --ngf / --norm looks like)."""
    official = _clean(official, config.norm)
    mapping = official_key_map(config)
    expected = UnetGenerator(**config.to_dict()).state_dict()
    missing = sorted(v for k, v in mapping.items() if v not in official
                     and not v.endswith("num_batches_tracked"))
    unexpected = sorted(set(official) - set(mapping.values()))
    shapes = [f"{v}: {tuple(official[v].shape)} vs {tuple(expected[k].shape)}"
              for k, v in mapping.items() if v in official and official[v].shape != expected[k].shape]
    if missing or unexpected or shapes:
        problems = []
        if missing:
            problems.append(f"missing {len(missing)} keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            problems.append(f"{len(shapes)} wrong shapes (e.g. {'; '.join(shapes[:2])})")
        raise OfficialCheckpointError(
            f"not an official {config.netG} generator with ngf {config.ngf}, norm {config.norm}, "
            f"{config.input_nc}->{config.output_nc} channels: " + "; ".join(problems)
            + ". Check --netG / --ngf / --norm (or pass the run's train_opt.txt with --opt-file).")
    return {k: official[v] if v in official else expected[k] for k, v in mapping.items()}


def load_official_generator(path: str | os.PathLike, options: OfficialOptions) -> UnetGenerator:
    """Reads an official ``*_net_G.pth`` (a bare state dict) into our generator, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise OfficialCheckpointError(f"official checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated files, pickles that are not state dicts...
        raise OfficialCheckpointError(f"cannot read {path} as a state dict: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise OfficialCheckpointError(f"{path} does not hold a state dict of tensors")
    config = options.generator_config()
    generator = UnetGenerator(**config.to_dict())
    generator.load_state_dict(convert_state_dict(state, config))
    return generator.eval()


def export_official(path: str | os.PathLike, out_dir: str | os.PathLike, options: OfficialOptions,
                    *, name: str | None = None, description: str = "", int8: bool = True,
                    calibration=None) -> Path:
    from pix2pix_stream.engines.build.export import export_generator

    generator = load_official_generator(path, options)
    training = {"source": "official pytorch-CycleGAN-and-pix2pix checkpoint"}
    if options.name:
        training["experiment"] = options.name
    return export_generator(
        generator, out_dir, name=name or Path(out_dir).name, input_size=options.crop_size,
        direction=options.direction, description=description, training=training,
        source_checkpoint=path, int8=int8, calibration=calibration)
