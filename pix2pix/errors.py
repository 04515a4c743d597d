"""Typed errors of the training package. Library code raises these; only the CLIs print them and
exit. Every data error names the file (or folder) at fault, so a user can go and fix it."""
from __future__ import annotations

from pathlib import Path


class Pix2PixError(Exception):
    """Base class of everything pix2pix raises on purpose."""


class ConfigError(Pix2PixError, ValueError):
    """A training / evaluation setting that cannot work (e.g. a crop size the U-Net cannot take)."""


class DataError(Pix2PixError, ValueError):
    """Training data that cannot be used. ``path`` is the file or folder at fault."""

    def __init__(self, message: str, path: str | Path | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None


def from_worker(exc: DataError) -> DataError:
    """A DataError raised in a DataLoader worker process reaches the main process as the same
    type, but with the worker's whole traceback as its message (torch's ExceptionWrapper). The
    user needs the last line, the original message: this returns the error with only that."""
    text = str(exc)
    if not (text.startswith("Caught ") and "Original Traceback" in text):
        return exc
    last = text.rstrip().splitlines()[-1]  # "pix2pix_stream.pix2pix.errors.UnreadableImageError: cannot ..."
    _, sep, message = last.partition(": ")
    return type(exc)(message if sep else last)


class EmptyDatasetError(DataError):
    """A folder with no images, or a split that leaves no training samples."""


class UnreadableImageError(DataError):
    """An image file that PIL cannot open or decode."""


class AlignedImageError(DataError):
    """An aligned A|B image whose width is odd, so it cannot be cut into two equal halves."""


class UnmatchedPairsError(DataError):
    """Folders A and B whose file names do not match one to one."""


class VideoError(DataError):
    """A video that cannot be opened, has no video stream, or decodes to no frames."""
