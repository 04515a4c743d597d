"""Checks that an engine directory is what its engine.json says, before any backend loads it.

engine.json is data from disk, possibly copied from elsewhere: its fields must have the right
types (a string width would fail deep inside a backend with an unhelpful message), the files it
names must stay inside the engine directory (``onnx_file: ../../secret`` must not make a server
read outside its engines folder), and a model file must still hash to the sha256 recorded at
export (a file damaged in transfer can load and serve garbage: ONNX Runtime does not notice
flipped weight bytes).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pix2pix_stream.engines.runtime.errors import CorruptEngineError, EngineNotFoundError

# The JSON kind of each engine.json field, with the words an error uses for it; fields absent
# from engine.json keep their defaults.
_FIELDS_BY_KIND: dict[type, tuple[str, tuple[str, ...]]] = {
    str: ("a string", ("name", "description", "direction", "precision", "onnx_file",
                       "onnx_sha256")),
    int: ("a positive integer", ("input_width", "input_height")),
    dict: ("an object", ("input_transform", "generator", "training", "artifacts", "versions")),
}


def check_fields(data: dict[str, Any]) -> None:
    """Raises CorruptEngineError naming the first field of the wrong type or value."""
    for kind, (wanted, names) in _FIELDS_BY_KIND.items():
        for name in names:  # a bool is an int to Python, never to engine.json
            if name in data and (not isinstance(data[name], kind) or isinstance(data[name], bool)):
                raise CorruptEngineError(f"field {name!r} must be {wanted}, got {data[name]!r}")
    for name in ("input_width", "input_height"):
        if name in data and data[name] < 1:
            raise CorruptEngineError(f"field {name!r} must be a positive integer, got {data[name]}")
    if "name" in data and not data["name"].strip():
        raise CorruptEngineError("field 'name' must be a non-empty string")


def inside(engine_dir: Path, relative: str, what: str) -> Path:
    """``engine_dir / relative``, refused when it resolves outside ``engine_dir`` (absolute
    paths, ``..``, symlinks pointing away)."""
    root = Path(engine_dir).resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise CorruptEngineError(f"{what} {relative!r} points outside the engine directory "
                                 f"{engine_dir}; engine files must sit in their engine's folder")
    return target


def check_model_file(engine_dir: Path, file: str, sha256: str, what: str) -> Path:
    """The model file, checked: inside the engine directory, present, and (when a sha256 was
    recorded) unchanged since export."""
    from pix2pix_stream.engines.runtime.onnx_graph import sha256_file

    path = inside(engine_dir, file, what)
    if not path.is_file():
        raise EngineNotFoundError(f"{what} {file!r} not found in {engine_dir}")
    if sha256:
        actual = sha256_file(path)
        if actual != sha256.lower():
            raise CorruptEngineError(
                f"{path} does not match the sha256 recorded in engine.json (recorded "
                f"{sha256[:12]}..., file {actual[:12]}...): the file was changed or damaged "
                f"after export; re-export or re-copy the engine")
    return path


def check_artifact_file(engine_dir: str | os.PathLike, metadata, artifact: str | None) -> None:
    """The artifact a backend will load (its record's ``file`` and ``sha256``), when it needs
    one; the main ONNX file is checked once per load by check_model_file."""
    record = metadata.artifacts.get(artifact) if artifact else None
    if isinstance(record, dict) and isinstance(record.get("file"), str):
        check_model_file(Path(engine_dir), record["file"], str(record.get("sha256") or ""),
                         f"artifact {artifact}")
