"""Typed errors of the media layer. Callers map them: the server to gRPC statuses, CLIs to exit
codes; nothing here exits."""
from __future__ import annotations


class MediaError(Exception):
    """Base class of everything the media layer raises on purpose."""


class TransformError(MediaError, ValueError):
    """Unknown input transform name or bad parameters."""
