"""Typed errors of the engines package. The server maps them to gRPC status codes; CLIs print
them and exit; nothing here exits."""
from __future__ import annotations


class EngineError(Exception):
    """Base class of everything engines raises on purpose."""


class EngineNotFoundError(EngineError):
    """No engine directory / model file at the given place, or no engine of that name."""


class CorruptEngineError(EngineError):
    """A model file or engine.json that exists but cannot be read or parsed."""


class MetadataMismatchError(EngineError):
    """engine.json disagrees with the graph it describes (input size, channels, dtype...)."""


class InputError(EngineError, ValueError):
    """A batch given to infer() has the wrong shape or dtype."""


class BackendUnavailableError(EngineError):
    """The requested backend cannot run here (package missing, no GPU, no artifact for it)."""


class EngineVersionMismatchError(EngineError):
    """A TensorRT plan built for another TensorRT version or GPU; the message holds the exact
    command that rebuilds it."""


class ExportError(EngineError):
    """Export could not produce a valid engine (bad input size, graph that fails its check...)."""


class OfficialCheckpointError(EngineError):
    """A file given with --from-official that does not hold an official U-Net generator of the
    stated configuration (wrong netG / ngf / norm, missing or extra keys)."""


class ProfileShapeError(InputError):
    """A batch outside a TensorRT plan's optimisation profile (batch, height or width below its
    minimum or above its maximum, or a size that is not the engine's multiple); the message
    names the bound."""
