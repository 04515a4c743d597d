"""The server's typed errors and the one place where errors become gRPC status codes."""
from __future__ import annotations

import errno
import re

import grpc

from pix2pix_stream.engines.runtime import errors as engine_errors
from pix2pix_stream.media.errors import TransformError
from pix2pix_stream.media.geometry import GeometryError


class ServerError(Exception):
    """Base class of everything the server raises on purpose."""


class ConfigError(ServerError, ValueError):
    """A ServerConfig that cannot work (bad numbers, half a TLS pair, ...)."""


class StartupError(ServerError):
    """The server could not start: no engines, a port in use, unreadable TLS files."""


class StreamConfigError(ServerError):
    """The first message of a stream is missing or holds an invalid configuration."""


class ModelNotFoundError(ServerError):
    """A stream asked for a model this server has not loaded."""


class FrameError(ServerError):
    """One bad frame (corrupt image, wrong byte count, bad size); the stream goes on."""


class TooManyStreamsError(ServerError):
    """max_streams calls are already open (or max_streams_per_peer of this peer / token).
    ``reason`` names the limit for the refusal metric."""

    def __init__(self, message: str, reason: str = "max_streams"):
        super().__init__(message)
        self.reason = reason


class IdleStreamError(ServerError):
    """A stream sent nothing for idle_timeout_s while the server waited for its next message."""


class JobLimitError(ServerError):
    """A video job would pass (or passed) one of its limits: output bytes, output pixels x
    frames, frame count, wall time (server.limits)."""


class JobRequestError(ServerError):
    """A video job that cannot be done at all (an output size of zero pixels, ...)."""


class DiskReserveError(ServerError):
    """The spool folder's free space is down to the reserve the server keeps."""


class VideoInputError(ServerError):
    """An upload FFmpeg cannot demux or decode (truncated, not a video, no video stream)."""


class VideoStoppedError(ServerError):
    """The client stopped a video job (VideoRequest.stop) before any frame was translated."""


class UploadTooLargeError(ServerError):
    """A TranslateVideo upload larger than max_video_bytes."""


class VideoOutputError(ServerError):
    """The requested output codec or container cannot be written."""


class ShuttingDownError(ServerError):
    """The server is draining and takes no more work."""


# Each status code with the exceptions that mean it. An exception gets the status of the most
# specific class listed for it (status_for walks its class's MRO), so a subclass may be listed
# under a status other than its base's, in any order.
STATUS_CODES: dict[grpc.StatusCode, tuple[type[BaseException], ...]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (
        StreamConfigError, FrameError, JobRequestError, VideoInputError, VideoOutputError,
        engine_errors.InputError, TransformError, GeometryError),
    grpc.StatusCode.NOT_FOUND: (ModelNotFoundError, engine_errors.EngineNotFoundError),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (
        TooManyStreamsError, JobLimitError, DiskReserveError, UploadTooLargeError),
    grpc.StatusCode.DEADLINE_EXCEEDED: (IdleStreamError,),
    grpc.StatusCode.CANCELLED: (VideoStoppedError,),
    grpc.StatusCode.UNAVAILABLE: (ShuttingDownError, engine_errors.BackendUnavailableError),
    grpc.StatusCode.FAILED_PRECONDITION: (  # the engine on disk does not fit this server
        engine_errors.EngineVersionMismatchError, engine_errors.MetadataMismatchError,
        engine_errors.CorruptEngineError),
    grpc.StatusCode.INTERNAL: (engine_errors.EngineError,),  # any other engine failure
}
_STATUS_OF = {kind: code for code, kinds in STATUS_CODES.items() for kind in kinds}


def status_for(exc: BaseException) -> grpc.StatusCode:
    """The gRPC status for an exception; anything unexpected is INTERNAL."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return grpc.StatusCode.RESOURCE_EXHAUSTED  # a full disk is a resource, not a bug
    for kind in type(exc).__mro__:
        if kind in _STATUS_OF:
            return _STATUS_OF[kind]
    return grpc.StatusCode.INTERNAL


def describe(exc: BaseException) -> str:
    """The message a client sees: ours verbatim; unexpected ones with their type, for triage.
    Never a server path: a client has no use for the spool folder's name, and an attacker
    learns the file system from it (file names are cut to their last component)."""
    if isinstance(exc, (ServerError, engine_errors.EngineError)):
        return without_paths(str(exc))
    if isinstance(exc, OSError) and exc.strerror:
        return f"internal error: {type(exc).__name__}: {exc.strerror}"
    return without_paths(f"internal error: {type(exc).__name__}: {exc}")


# Two or more path components after a slash (or a drive), quoted or not: /tmp/pix2pix-video-x/o.mkv
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][\w.+@~-]+){2,}[/\\]?")


def without_paths(message: str) -> str:
    """``message`` with every absolute file path replaced by its last component."""
    return _PATH.sub(lambda m: "<server path>/" + re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1],
                     message)
