"""Export: a PyTorch generator (or a pix2pix-stream checkpoint) -> an engine directory.

    out_dir/model.onnx    uint8 NHWC RGB [N, H, W, 3] -> uint8 NHWC RGB, dynamic N, H and W, opset 17
    out_dir/engine.json   pix2pix_stream.engines.runtime.metadata.EngineMetadata
    out_dir/README.md     model card

The graph is engines.graph.FrameTranslator: the generator in eval mode with the pixel work inside.
Constant folding is off so that the generator's parameters stay named initializers; the torch
backend rebuilds the generator from them (no second copy of the weights on disk) and ONNX Runtime
folds BatchNorm into the convolutions itself when it loads the graph.

Height and width are dynamic: the generator is fully convolutional, so the engine runs any size
that is a multiple of 2**depth (engine.json ``size_multiple``) between ``min_size`` and
``max_size``; ``input_width`` x ``input_height`` is the size it was trained at, and
``trained_size`` records the training's load and crop size (media.geometry uses the crop size
for its default ``engine`` scale).
"""
from __future__ import annotations

import copy
import datetime as _dt
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pix2pix_stream.engines.runtime.errors import ExportError
from pix2pix_stream.engines.runtime.graph import FrameTranslator
from pix2pix_stream.engines.runtime.metadata import MODEL_ONNX, EngineMetadata, write_metadata
from pix2pix_stream.engines.runtime.model_card import write_model_card
from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME, OUTPUT_NAME, check_io, load_onnx, onnx_io, sha256_file
from pix2pix_stream.media.geometry import DEFAULT_MAX_SIZE
from pix2pix_stream.media.transforms import InputTransform

OPSET = 17


def _size(input_size: int | tuple[int, int]) -> tuple[int, int]:
    """An int means a square; a pair is (width, height)."""
    if isinstance(input_size, (int, np.integer)):
        return int(input_size), int(input_size)
    width, height = input_size
    return int(width), int(height)


def _check_size(generator: torch.nn.Module, width: int, height: int) -> None:
    config = getattr(generator, "config", None)
    divisor = getattr(config, "divisor", 1)
    if width <= 0 or height <= 0 or width % divisor or height % divisor:
        raise ExportError(f"input size {width}x{height} does not suit {getattr(config, 'netG', 'this generator')}: "
                          f"width and height must be positive multiples of {divisor}")


def _cpu_copy(generator: torch.nn.Module) -> torch.nn.Module:
    # Copy first: FrameTranslator switches to eval mode and export needs CPU fp32, neither of
    # which may leak into a generator a training loop is still using.
    config = getattr(generator, "config", None)
    if hasattr(config, "to_dict"):
        copy_ = type(generator)(**config.to_dict())
        copy_.load_state_dict({k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.cpu()
                               for k, v in generator.state_dict().items()})
        return copy_
    return copy.deepcopy(generator).cpu().to(torch.float32)


def _versions() -> dict[str, str]:
    from importlib import metadata as importlib_metadata

    import onnx

    versions = {"torch": torch.__version__, "onnx": onnx.__version__}
    for dist in ("pix2pix-stream", "onnxruntime"):
        try:
            versions[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            pass
    return versions


def _json_safe(value: Any) -> Any:
    """Training summaries come from checkpoints; make them JSON (tensors, paths, tuples...)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _size_multiple(generator: torch.nn.Module) -> int | None:
    """2**depth for the project's U-Nets; None (a fixed-size export) for other modules."""
    divisor = getattr(getattr(generator, "config", None), "divisor", None)
    return int(divisor) if divisor else None


def _write_onnx(translator: FrameTranslator, path: Path, width: int, height: int,
                dynamic_size: bool) -> None:
    example = torch.zeros((2, height, width, 3), dtype=torch.uint8)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter warns that it is deprecated in favour of the dynamo one; it is
        # kept on purpose: it exports in well under a second and keeps parameter names.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            translator, (example,), buffer, dynamo=False, opset_version=OPSET,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={name: {0: "batch", **({1: "height", 2: "width"} if dynamic_size else {})}
                          for name in (INPUT_NAME, OUTPUT_NAME)},
            do_constant_folding=False, training=torch.onnx.TrainingMode.EVAL)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)


def _verify(translator: FrameTranslator, path: Path, meta: EngineMetadata) -> None:
    """The exported file loads, checks, matches engine.json, and ONNX Runtime gives the same
    frames as PyTorch on a small random batch (within the parity bar of one grey level), at
    the trained size and, for a dynamic engine, at a wider non-square size too."""
    check_io(onnx_io(load_onnx(path)), meta, str(path))
    try:
        import onnxruntime as ort
    except ImportError:
        return
    sizes = [(meta.input_height, meta.input_width)]
    if meta.is_dynamic:
        sizes.append((meta.input_height, meta.input_width + meta.size_multiple))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for height, width in sizes:
        frames = rng.integers(0, 256, (2, height, width, 3), dtype=np.uint8)
        got = session.run(None, {INPUT_NAME: frames})[0]
        with torch.no_grad():
            want = translator(torch.from_numpy(frames)).numpy()
        diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
        if got.shape != want.shape or diff.max() > 1 or (diff == 0).mean() < 0.999:
            raise ExportError(f"{path}: ONNX Runtime output differs from PyTorch at {width}x"
                              f"{height} (max {diff.max()} grey levels, "
                              f"{100 * (diff == 0).mean():.3f}% identical)")


def geometry_fields(multiple: int | None, width: int, height: int,
                    trained_size: dict[str, Any] | None,
                    max_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """engine.json's geometry (see engines.runtime.metadata); {} for a fixed-size export."""
    if not multiple:
        return {}
    trained = {"load_size": None, "crop_size": min(width, height), "source_aspect": None}
    trained.update(trained_size or {})
    return {"size_multiple": multiple, "min_size": [multiple, multiple],
            "max_size": list(max_size or DEFAULT_MAX_SIZE), "trained_size": trained}


def export_generator(generator: torch.nn.Module, out_dir: str | os.PathLike, *, name: str,
                     input_size: int | tuple[int, int], input_transform: InputTransform | None = None,
                     direction: str = "AtoB", description: str = "",
                     training: dict[str, Any] | None = None,
                     source_checkpoint: str | os.PathLike | None = None,
                     verify: bool = True, int8: bool = False,
                     calibration: np.ndarray | None = None,
                     trained_size: dict[str, Any] | None = None,
                     max_size: tuple[int, int] | None = None) -> Path:
    """Writes model.onnx, engine.json and README.md into ``out_dir`` (created; an engine already
    there is replaced) and returns ``out_dir``. ``input_size`` is an int (square) or (width,
    height). A CPU fp32 copy of the generator is exported in eval mode; the caller's module is
    left as it was (device, dtype and train/eval mode), so exporting mid-training is safe.
    ``int8`` adds model.int8.onnx (engines.int8), calibrated on ``calibration`` (camera-like
    uint8 RGB frames of any size; resized, then the input transform is applied) or on synthetic
    frames. ``trained_size`` ({"load_size", "crop_size", "source_aspect"}) defaults to a crop
    size of the short side of ``input_size``; ``max_size`` (height, width) caps the sizes the
    engine promises to take (default 2176x3840)."""
    if direction not in ("AtoB", "BtoA"):
        raise ExportError(f"direction must be AtoB or BtoA, got {direction!r}")
    width, height = _size(input_size)
    _check_size(generator, width, height)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    translator = FrameTranslator(_cpu_copy(generator))
    onnx_path = out_dir / MODEL_ONNX
    multiple = _size_multiple(generator)
    _write_onnx(translator, onnx_path, width, height, dynamic_size=multiple is not None)
    config = getattr(generator, "config", None)
    source = Path(source_checkpoint) if source_checkpoint else None
    meta = EngineMetadata(
        name=name, input_width=width, input_height=height, description=description,
        direction=direction, input_transform=(input_transform or InputTransform()).to_dict(),
        precision="fp32", opset=OPSET, onnx_file=MODEL_ONNX, onnx_sha256=sha256_file(onnx_path),
        source_checkpoint=str(source) if source else "",
        source_checkpoint_sha256=sha256_file(source) if source and source.is_file() else "",
        generator=config.to_dict() if hasattr(config, "to_dict") else {},
        training=_json_safe(training or {}), artifacts={}, versions=_versions(),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **geometry_fields(multiple, width, height, trained_size, max_size))
    if verify:
        _verify(translator, onnx_path, meta)
    for pattern in ("model.*.onnx", "model.*.plan"):  # artifacts of an engine this one replaces
        for stale in out_dir.glob(pattern):
            stale.unlink()
    write_metadata(out_dir, meta)
    write_model_card(out_dir, meta)
    if int8:
        from pix2pix_stream.engines.build.int8 import add_int8_artifact

        add_int8_artifact(out_dir, calibration)
    return out_dir


def _training_summary(info: dict[str, Any]) -> dict[str, Any]:
    summary = {k: info[k] for k in ("epoch", "step", "metrics") if k in info}
    if "train_config" in info:
        summary["train_config"] = info["train_config"]
    return summary


def export_checkpoint(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, *,
                      name: str | None = None, description: str = "",
                      training: dict[str, Any] | None = None,
                      input_size: int | tuple[int, int] | None = None, int8: bool = True,
                      calibration: np.ndarray | None = None) -> Path:
    """Exports a pix2pix-stream checkpoint (pix2pix_stream.pix2pix.checkpoint). The input size, direction and
    input transform come from the checkpoint; ``name`` defaults to the output folder's name.
    The int8 artifact is made by default: it is what `auto` runs fastest on a CPU."""
    from pix2pix_stream.pix2pix.checkpoint import load_generator

    generator, info = load_generator(checkpoint)
    size = input_size or info.get("image_size") or 256
    data = (info.get("train_config") or {}).get("data") or {}
    trained = {k: data[k] for k in ("load_size", "crop_size") if data.get(k)}
    return export_generator(
        generator, out_dir, name=name or Path(out_dir).name, input_size=size,
        input_transform=InputTransform.from_dict(info.get("input_transform")),
        direction=info.get("direction", "AtoB"), description=description,
        training=training if training is not None else _training_summary(info),
        source_checkpoint=checkpoint, int8=int8, calibration=calibration,
        trained_size=trained or None)


