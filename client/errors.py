"""Typed errors of the client. Each names the server target and, for RPC failures, the gRPC
status, so that a log line alone says which server refused what. Library code raises these;
only the CLI turns them into messages and exit codes (see client.exit_codes)."""
from __future__ import annotations

import grpc


class ClientError(Exception):
    """Base class of everything the client raises on purpose."""

    def __init__(self, message: str, *, target: str = "", code: grpc.StatusCode | None = None):
        self.target = target
        self.code = code
        parts = [message]
        if target:
            parts.append(f"server {target}")
        if code is not None:
            parts.append(f"status {code.name}")
        super().__init__(f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else message)
        self.detail = message


class ServerUnavailableError(ClientError):
    """The server could not be reached (refused, timed out while connecting, went away)."""


class ModelNotFoundError(ClientError):
    """The server has no engine of the requested name."""


class AuthError(ClientError):
    """The server refused the credentials (missing or wrong token, not allowed)."""


class InvalidInputError(ClientError, ValueError):
    """The server rejected what was sent (a frame it cannot decode, a bad size, a bad file)."""


class InvalidOptionError(ClientError, ValueError):
    """An argument of a call that is none of its allowed values (e.g. temporal="max"); raised
    before anything is sent or written."""


class DeadlineExceededError(ClientError):
    """A call took longer than its deadline."""


class ServerError(ClientError):
    """Any other failure the server reported (INTERNAL, RESOURCE_EXHAUSTED, ...)."""


class StoppedError(ClientError):
    """A job stopped on request (``stop``, the CLI's Ctrl-C) before it had any output to keep:
    no output file was written."""


class InputFileError(ClientError, OSError):
    """A local input (video, image, camera, stream URL) that cannot be opened or decoded."""


class DisplayUnavailableError(ClientError, RuntimeError):
    """--show on a machine or OpenCV build that cannot open a window."""


class OutputFileError(ClientError, OSError):
    """A local output path that cannot be created or written."""


_BY_CODE: dict[grpc.StatusCode, type[ClientError]] = {
    grpc.StatusCode.UNAVAILABLE: ServerUnavailableError,
    grpc.StatusCode.NOT_FOUND: ModelNotFoundError,
    grpc.StatusCode.UNAUTHENTICATED: AuthError,
    grpc.StatusCode.PERMISSION_DENIED: AuthError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInputError,
    grpc.StatusCode.FAILED_PRECONDITION: InvalidInputError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidInputError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def from_rpc_error(exc: grpc.RpcError, target: str, what: str = "") -> ClientError:
    """The typed error for a failed call; ``what`` says which call, e.g. "Translate"."""
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    message = f"{what} failed: {details}" if what else str(details)
    return _BY_CODE.get(code, ServerError)(message, target=target, code=code)


def from_status_code(value: int, message: str, target: str) -> ClientError:
    """The typed error for a per-frame error reply (FrameError carries a numeric code)."""
    code = next((c for c in grpc.StatusCode if c.value[0] == value), grpc.StatusCode.UNKNOWN)
    return _BY_CODE.get(code, ServerError)(message, target=target, code=code)
