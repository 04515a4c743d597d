"""How a client connects: one frozen dataclass, built by the CLI or by the embedding service."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

DEFAULT_SERVER = "localhost:50051"
SERVER_ENV = "PIX2PIX_SERVER"


@dataclass(frozen=True)
class ClientConfig:
    """``target`` is one of: ``"host:port"``; a gRPC target URI such as ``"dns:///host:port"``
    (every address the name resolves to is used, round robin); several addresses, as a
    sequence or a comma-separated string (``"10.0.0.1:50051,10.0.0.2:50051"``), balanced
    round robin over one channel.

    ``tls``: None/False = plaintext, True = TLS with the system's root certificates, a path =
    TLS trusting that PEM root certificate. ``token`` is sent as ``authorization: Bearer ...``.
    """

    target: str | tuple[str, ...] = DEFAULT_SERVER
    token: str | None = None
    tls: bool | str | None = None
    tls_server_name: str | None = None      # expected name in the server certificate
    connect_timeout_s: float = 10.0         # how long the first call waits for a connection
    call_timeout_s: float = 30.0            # deadline of unary calls (ListModels, health)
    stream_timeout_s: float | None = None   # deadline of a whole stream; None = no deadline
    max_message_bytes: int = 64 * 1024 * 1024  # a 4K RGB frame is 25 MB
    keepalive_time_s: float = 30.0
    keepalive_timeout_s: float = 10.0
    max_attempts: int = 5                   # tries of a call that fails UNAVAILABLE
    max_failovers: int = 3                  # resumes of a stream / video job cut off mid-way, in a row

    def __post_init__(self):
        if isinstance(self.target, (list, tuple)):
            object.__setattr__(self, "target", tuple(self.target))
            if not self.target:
                raise ValueError("empty list of server addresses")
        if self.connect_timeout_s <= 0 or self.call_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_failovers < 0:
            raise ValueError(f"max_failovers must be >= 0, got {self.max_failovers}")
        if not 1 <= self.max_attempts <= 5:
            raise ValueError("max_attempts must be 1..5 (gRPC caps retries at 5 attempts)")

    @property
    def addresses(self) -> tuple[str, ...]:
        """The replica addresses when given as a list (or comma-separated), else one target."""
        if isinstance(self.target, tuple):
            return self.target
        return tuple(a.strip() for a in self.target.split(",") if a.strip())

    @property
    def display_target(self) -> str:
        """How errors name the server."""
        return ",".join(self.addresses)


def server_from_env(default: str = DEFAULT_SERVER) -> str:
    return os.environ.get(SERVER_ENV) or default


def as_config(target: str | Sequence[str] | ClientConfig | None, **options) -> ClientConfig:
    """Accepts a ready config, or a target plus ClientConfig's keyword options."""
    if isinstance(target, ClientConfig):
        if options:
            raise TypeError("give either a ClientConfig or keyword options, not both")
        return target
    return ClientConfig(target=target if target is not None else server_from_env(), **options)
