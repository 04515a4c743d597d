"""Typed errors of the media layer. Callers map them: the server to gRPC statuses, CLIs to exit
codes; nothing here exits."""
from __future__ import annotations


class MediaError(Exception):
    """Base class of everything the media layer raises on purpose."""


class TransformError(MediaError, ValueError):
    """Unknown input transform name or bad parameters."""


class VideoReadError(MediaError):
    """A video that cannot be read; ``reason`` holds FFmpeg's (or the OS's) own words, for
    callers that phrase their own message."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


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
