"""The --json file every bench script can write: its settings and the rows of its table.

    {"bench": "engines", "settings": {...}, "baseline": "torch", "rows": [{...}, ...], ...}

Non-finite floats (nan, inf) become null so that the file is strict JSON; each script's docstring
says what a null means for its columns. bench/run_all.py merges these files.
"""
from __future__ import annotations

import json
import math
from pathlib import Path


def finite(value):
    """``value`` with every nan/inf float inside it (dicts, lists, tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_json(path: str | Path, bench: str, settings: dict, rows: list[dict], **extra) -> None:
    settings = {k: v for k, v in settings.items() if k != "json"}  # the output path itself
    payload = {"bench": bench, "settings": settings, "rows": rows, **extra}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(finite(payload), indent=2) + "\n")
