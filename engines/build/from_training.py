"""The last step of pix2pix-train: turn the final checkpoint into a servable engine directory."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pix2pix_stream.pix2pix.config import TrainConfig


def training_summary(config: TrainConfig, result) -> dict[str, Any]:
    """What the engine card says about how the model was made."""
    return {
        "data": config.data.path,
        "data_mode": config.data.mode,
        "direction": config.data.direction,
        "input_transform": config.data.input_transform.to_dict(),
        "command_line": config.command_line,
        "epochs": result.epochs_done,
        "steps": result.steps,
        "wall_time_s": round(result.wall_s, 1),
        "val_metrics": dict(result.val_metrics),
        "generator": config.generator.to_dict(),
    }


def export_engine(checkpoint: Path, engine_dir: Path, name: str, summary: dict[str, Any]) -> Path:
    # Imported here: exporting pulls onnx / onnxruntime, which training itself does not need.
    from pix2pix_stream.engines.build.export import export_checkpoint

    return export_checkpoint(checkpoint, engine_dir, name=name, training=summary)
