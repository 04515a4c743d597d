"""What ListModels may tell any caller about an engine: engine.json without the build machine's
file system. Export records where the checkpoint and the training data were
(``/home/alice/runs/facades/latest.pt``); a client needs the names, not the paths."""
from __future__ import annotations

import ntpath
import re
from typing import Any

# An absolute POSIX path, a Windows drive path, a home-relative path or a file:// URL.
_PATH = re.compile(r"^(/|~[/\\]|[A-Za-z]:[/\\]|\\\\|file://)")


def public_metadata(value: Any) -> Any:
    """A copy of ``value`` (engine.json as a dict) where every string that is a path on the
    build machine is cut to its last component."""
    if isinstance(value, dict):
        return {key: public_metadata(item) for key, item in value.items()}
    if isinstance(value, list):
        return [public_metadata(item) for item in value]
    if isinstance(value, str) and _PATH.match(value):
        return ntpath.basename(value.rstrip("/\\")) or "<path>"
    return value
