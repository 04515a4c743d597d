"""PyTorch backend: the reference for checks, and in bf16 (autocast + channels_last) the fastest
route on CPUs with native bf16 (AVX-512 BF16 / AMX); see bench/engines.py.

Its weights come from the engine's own model.onnx: export keeps the generator's parameters as
named initializers, and engine.json carries the constructor arguments, so an engine needs no
second copy of the weights (the demo engine stays small) and the two can never disagree.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from pix2pix_stream.engines.runtime.backend import Backend
from pix2pix_stream.engines.runtime.errors import BackendUnavailableError, MetadataMismatchError
from pix2pix_stream.engines.runtime.metadata import EngineMetadata

try:
    import torch
except ImportError as exc:  # pragma: no cover - depends on the install
    raise BackendUnavailableError("the torch backend needs PyTorch "
                                  "(pip install pix2pix-stream[train])") from exc

from pix2pix_stream.engines.runtime.graph import FrameTranslator, to_frames, to_generator_input  # noqa: E402

PRECISIONS = ("fp32", "bf16")


def fold_batchnorm(generator: torch.nn.Module) -> torch.nn.Module:
    """Folds every eval-mode BatchNorm into the convolution before it (in place). Exact in real
    arithmetic; done before casting to bf16 so the cast rounds the folded weights once."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for block in (*generator.encoder, *generator.decoder):
        if isinstance(block.norm, torch.nn.BatchNorm2d):
            transposed = isinstance(block.conv, torch.nn.ConvTranspose2d)
            block.conv = fuse_conv_bn_eval(block.conv, block.norm, transpose=transposed)
            block.norm = torch.nn.Identity()
    return generator


def generator_from_engine(engine_dir: str | Path, metadata: EngineMetadata) -> torch.nn.Module:
    """Rebuilds the UnetGenerator from engine.json's constructor arguments and the ONNX
    initializers; raises MetadataMismatchError when they do not fit together."""
    from pix2pix_stream.networks.models import UnetGenerator

    from pix2pix_stream.engines.runtime.onnx_graph import generator_state_dict, load_onnx

    if not metadata.generator:
        raise BackendUnavailableError(f"{metadata.name}: engine.json has no generator "
                                      "configuration, so the torch backend cannot rebuild it")
    try:
        generator = UnetGenerator(**metadata.generator)
    except (TypeError, ValueError) as exc:
        raise MetadataMismatchError(f"{metadata.name}: bad generator configuration in engine.json: "
                                    f"{exc}") from exc
    weights = generator_state_dict(load_onnx(Path(engine_dir) / metadata.onnx_file))
    expected = generator.state_dict()
    missing = [k for k in expected if k not in weights and not k.endswith("num_batches_tracked")]
    wrong = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    if missing or wrong:
        raise MetadataMismatchError(
            f"{metadata.name}: model.onnx does not hold the weights of the generator engine.json "
            f"describes ({metadata.generator}); missing {missing[:3]}, wrong shape {wrong[:3]}")
    state = {k: torch.from_numpy(np.array(weights[k])) if k in weights else v
             for k, v in expected.items()}
    generator.load_state_dict(state)
    return generator.eval()


class TorchBackend(Backend):
    def __init__(self, engine_dir: str | Path | None, metadata: EngineMetadata, *,
                 max_batch: int = 8, precision: str = "fp32", threads: int | None = None,
                 generator: torch.nn.Module | None = None, autocast: bool = False):
        """``generator`` (optional, copied) is used instead of rebuilding from ``engine_dir``.
        bf16 runs a bf16 copy of the network with BatchNorm folded into the convolutions;
        ``autocast=True`` runs fp32 weights under torch.autocast instead (slower: the weights
        are cast on every call; kept for bench/engines.py's comparison)."""
        super().__init__(metadata)
        if precision not in PRECISIONS:
            raise BackendUnavailableError(f"torch backend precisions are {PRECISIONS}, not {precision!r}")
        if threads:
            torch.set_num_threads(threads)
        if generator is None:
            generator = generator_from_engine(engine_dir, metadata)
        else:
            generator = copy.deepcopy(generator)
        generator = generator.cpu().float().eval()
        self._precision, self._autocast = precision, precision == "bf16" and autocast
        if precision == "bf16" and not autocast:
            generator = fold_batchnorm(generator).to(torch.bfloat16)
        for block in generator.decoder:
            # A decoder block's input is a fresh concatenation (or the innermost output, used
            # nowhere else), so its ReLU may overwrite it: one allocation and pass fewer.
            if isinstance(block.act, torch.nn.ReLU):
                block.act.inplace = True
        self._model = FrameTranslator(generator)
        if precision == "bf16":
            # oneDNN's bf16 convolutions want NHWC activations; without it they reorder per layer.
            self._model = self._model.to(memory_format=torch.channels_last)
        self._info = self.describe("torch", max_batch, precision)

    @property
    def generator(self) -> torch.nn.Module:
        return self._model.generator

    def _run(self, batch: np.ndarray) -> np.ndarray:
        frames = torch.from_numpy(batch)
        with torch.inference_mode():
            if self._autocast:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return self._model(frames).contiguous().numpy()
            if self._precision == "bf16":
                x = to_generator_input(frames).to(torch.bfloat16)
                x = x.contiguous(memory_format=torch.channels_last)
                return to_frames(self._model.generator(x)).contiguous().numpy()
            return self._model(frames).contiguous().numpy()

    def close(self) -> None:
        self._model = None
