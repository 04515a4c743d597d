"""The README.md model card written beside every exported engine.

The card is rendered from engine.json, and rendered again whenever engine.json changes (an fp16
graph or a TensorRT plan is added). Anything a person writes below ``NOTES_MARKER`` (data and
licence, sample pictures) survives those re-renders."""
from __future__ import annotations

import json
import os
from pathlib import Path

from pix2pix_stream.engines.runtime.metadata import EngineMetadata, read_metadata, write_metadata

README = "README.md"
NOTES_MARKER = "<!-- Notes below this line are kept when the card is re-rendered from engine.json. -->"


# Keys of the summary pix2pix-train records, in the order a reader wants them.
_TRAINING_LABELS = {
    "data": "data", "data_mode": "data mode", "direction": "direction", "epochs": "epochs",
    "steps": "steps", "wall_time_s": "wall time (s)", "val_metrics": "validation (held out)",
    "held_out_eval": "held-out evaluation (pix2pix-eval)", "held_out_images": "held-out images",
}


def _input_line(meta: EngineMetadata) -> str:
    if not meta.is_dynamic:
        return (f"- Input: uint8 RGB frames, `[N, {meta.input_height}, {meta.input_width}, 3]` "
                "(NHWC), any batch size N. Output: the same shape and type.")
    geometry = meta.geometry
    return (f"- Input: uint8 RGB frames, `[N, H, W, 3]` (NHWC), any batch size N, H and W "
            f"{geometry.describe()} (trained at crop size {geometry.crop_size}; "
            f"{meta.input_width}x{meta.input_height} by default). Output: the same shape and "
            "type. Servers scale frames to a size it takes (media.geometry).")


def _training_lines(training: dict) -> list[str]:
    if not training:
        return ["- not recorded (exported from weights without a training summary)"]
    lines = [f"- {label}: {_summary_value(training[key])}"
             for key, label in _TRAINING_LABELS.items() if key in training]
    if "command_line" in training:
        lines += ["- command:", "", "  ```", f"  {training['command_line']}", "  ```"]
    rest = sorted(set(training) - set(_TRAINING_LABELS) - {"command_line"})
    if rest:
        lines.append(f"- also recorded in engine.json: {', '.join(rest)}")
    return lines


def _summary_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_summary_value(v)}" for k, v in value.items())
    return str(value)


def _artifact_lines(artifacts: dict) -> list[str]:
    lines = []
    for key, value in sorted(artifacts.items()):
        for record in value if isinstance(value, list) else [value]:
            extra = f", {record['psnr_vs_fp32_db']} dB PSNR vs fp32" if "psnr_vs_fp32_db" in record else ""
            where = f", TensorRT {record['trt_version']}, compute capability {record['compute_capability']}" \
                if "trt_version" in record else ""
            lines.append(f"- `{record.get('file', key)}` ({record.get('precision', key)}{extra}{where})")
    return lines or ["- none besides model.onnx"]


def render_model_card(meta: EngineMetadata) -> str:
    g = meta.generator
    transform = meta.transform
    t_text = "none (frames go in as they are)" if transform.is_identity else \
        f"`{transform.name}` {json.dumps(transform.params, sort_keys=True)}"
    lines = [
        f"# {meta.name}",
        "",
        meta.description or "A pix2pix generator exported by pix2pix-stream.",
        "",
        "## Use",
        "",
        _input_line(meta),
        f"- Input transform applied to each frame before the model: {t_text}.",
        f"- Direction: {meta.direction}.",
        "- List the engines of a folder with their metadata: `pix2pix-export --list FOLDER`.",
        "",
        "## Model",
        "",
        f"- Generator: U-Net `{g.get('netG', '?')}`, ngf {g.get('ngf', '?')}, norm "
        f"`{g.get('norm', '?')}`, in/out channels {g.get('input_nc', '?')}/{g.get('output_nc', '?')}; "
        "inference form (BatchNorm running statistics, no dropout): a frame's output does not "
        "depend on the other frames in its batch.",
        f"- Precision: {meta.precision}; ONNX opset {meta.opset}; `{meta.onnx_file}` sha256 "
        f"`{meta.onnx_sha256}`.",
        f"- Source: `{meta.source_checkpoint or 'in-memory generator'}`"
        + (f" (sha256 `{meta.source_checkpoint_sha256}`)" if meta.source_checkpoint_sha256 else "") + ".",
        f"- Exported {meta.created} with {', '.join(f'{k} {v}' for k, v in sorted(meta.versions.items()))}.",
        "",
        "## Other artifacts",
        "",
        *_artifact_lines(meta.artifacts),
        "",
        "## Training",
        "",
        *_training_lines(meta.training),
        "",
        "## Limits",
        "",
        "- A pix2pix generator only knows the kind of input it was trained on; other inputs give "
        "plausible-looking but meaningless output.",
        ("- Frames of other sizes are scaled (aspect kept) and padded to a size it takes; edges "
         "and textures far from the training scale give weaker results."
         if meta.is_dynamic else
         "- Frames of another size must be resized to the input size above before inference."),
        "",
    ]
    return "\n".join(lines)


def kept_notes(card_text: str) -> str:
    """The hand-written part of an existing card: the marker and everything after it."""
    at = card_text.find(NOTES_MARKER)
    return card_text[at:] if at >= 0 else ""


def write_model_card(engine_dir: str | os.PathLike, meta: EngineMetadata, notes: str | None = None) -> None:
    """Renders the card from ``meta`` into ``engine_dir``/README.md, keeping the notes already
    there; ``notes`` (markdown) replaces them."""
    path = Path(engine_dir) / README
    if notes is not None:
        kept = f"{NOTES_MARKER}\n{notes.strip()}\n" if notes.strip() else ""
    else:
        kept = kept_notes(path.read_text()) if path.is_file() else ""
    path.write_text(render_model_card(meta) + ("\n" + kept if kept else ""))


def update_metadata(engine_dir: str | os.PathLike, **changes) -> EngineMetadata:
    """Re-writes engine.json with ``changes`` and re-renders the card (keeping its notes); used
    when artifacts are added. Torch-free, so that GPU hosts can add a plan with the serve extra."""
    meta = read_metadata(engine_dir).with_changes(**changes)
    write_metadata(engine_dir, meta)
    write_model_card(engine_dir, meta)
    return meta
