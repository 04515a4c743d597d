"""Typed errors of the media layer. Callers map them: the server to gRPC statuses, CLIs to exit
codes; nothing here exits."""
from __future__ import annotations


class MediaError(Exception):
    """Base class of everything the media layer raises on purpose."""


class TransformError(MediaError, ValueError):
    """Unknown input transform name or bad parameters."""


class VideoError(MediaError):
    """A video that cannot be read or written; ``reason`` holds FFmpeg's (or the OS's) own
    words, for callers that phrase their own message."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


class VideoReadError(VideoError):
    """An input that cannot be read."""


class VideoOpenError(VideoReadError):
    """The input cannot be opened (missing, not a container FFmpeg knows, cut before its
    header)."""


class NoVideoStreamError(VideoOpenError):
    """The input opens but holds no video stream (an audio file, say)."""


class VideoDecodeError(VideoReadError):
    """Decoding failed part way; ``frames_decoded`` frames came out before."""

    def __init__(self, message: str, reason: str, frames_decoded: int):
        super().__init__(message, reason)
        self.frames_decoded = frames_decoded


class VideoWriteError(VideoError):
    """An output that cannot be written: an unknown encoder or container, an encoder that
    refuses its settings, a file that cannot be created or written."""


class ImageError(MediaError, ValueError):
    """An image payload that cannot be decoded or encoded: empty, not the format it claims,
    cut, corrupt, a zero or over-limit size, a byte count that does not fit its size."""
