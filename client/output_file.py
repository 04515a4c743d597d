"""PendingFile: an output written under a temporary name beside its destination and moved onto
it only once there is something to keep.

So a run that fails before it has written a frame (unknown model, server unreachable, Ctrl-C
at once) leaves no empty file behind, and a file that already was at the destination is
replaced only by a finished output, never truncated by a run that produced nothing."""
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

    def keep(self) -> None:
        try:
            os.replace(self.path, self.dst)
        except OSError as exc:
            raise OutputFileError(f"cannot write {self.dst}: {exc.strerror}") from exc

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
