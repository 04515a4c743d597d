"""PendingFile: an output written under a temporary name beside its destination and moved onto
it only once there is something to keep.

So a run that fails before it has written a frame (unknown model, server unreachable, Ctrl-C
at once) leaves no empty file behind, and a file that already was at the destination is
replaced only by a finished output: a partial one (the run stopped or failed half way) goes
beside it as ``NAME.partial.SUFFIX`` instead, and the caller says so."""
from __future__ import annotations

import os
from pathlib import Path

from pix2pix_stream.client.errors import OutputFileError


class PendingFile:
    def __init__(self, dst: str | Path):
        self.dst = Path(dst)
        # Same folder (the final move is a rename) and same suffix (PyAV picks the container
        # from it); the leading dot hides it while it is written.
        self.path = self.dst.with_name(f".{self.dst.stem}.partial{self.dst.suffix}")

    def prepare(self) -> None:
        """Creates the destination's folder."""
        try:
            self.dst.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputFileError(f"cannot write {self.dst}: {exc.strerror}") from exc

    @property
    def partial_path(self) -> Path:
        """Where a partial result goes when ``dst`` already holds a file."""
        return self.dst.with_name(f"{self.dst.stem}.partial{self.dst.suffix}")

    def keep(self, partial: bool = False) -> Path:
        """Moves the output into place and returns where it went: ``dst``, or for a partial
        result when ``dst`` already exists, ``partial_path`` (an earlier output is never
        replaced by a partial one)."""
        target = self.partial_path if partial and self.dst.exists() else self.dst
        try:
            os.replace(self.path, target)
        except OSError as exc:
            raise OutputFileError(f"cannot write {target}: {exc.strerror}") from exc
        return target

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
