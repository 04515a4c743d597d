"""What the CLIs share: parsing KEY=VALUE parameters and turning typed errors into exit codes."""
from __future__ import annotations

import sys
from typing import Any, Callable

EXIT_OK, EXIT_USAGE, EXIT_DATA, EXIT_CHECKPOINT, EXIT_EXPORT, EXIT_INTERRUPTED = 0, 2, 3, 4, 5, 130


def parse_value(text: str) -> Any:
    """'100' -> 100, '1.5' -> 1.5, 'true'/'false' -> bool, anything else stays a string."""
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_params(items: list[str] | None) -> dict[str, Any]:
    from pix2pix_stream.pix2pix.errors import ConfigError

    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--transform-param expects KEY=VALUE, got {item!r}")
        params[key.strip().replace("-", "_")] = parse_value(value.strip())
    return params


def run_main(body: Callable[[], int], prog: str) -> int:
    """Runs a CLI body; typed errors become one line on stderr and a distinct exit code."""
    from pix2pix_stream.engines.runtime.errors import EngineError
    from pix2pix_stream.media.errors import TransformError
    from pix2pix_stream.pix2pix.checkpoint import CheckpointError
    from pix2pix_stream.pix2pix.errors import ConfigError, DataError

    codes = [(DataError, EXIT_DATA), (ConfigError, EXIT_USAGE), (TransformError, EXIT_USAGE),
             (CheckpointError, EXIT_CHECKPOINT), (EngineError, EXIT_EXPORT)]
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except tuple(kind for kind, _ in codes) as exc:
        code = next(c for kind, c in codes if isinstance(exc, kind))
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return code
