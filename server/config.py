"""ServerConfig: everything a server needs, built by the CLI (or a test) and never changed."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from pix2pix_stream.engines.runtime.registry import SPINNING_MODES
from pix2pix_stream.media.geometry import GeometryError, ScalePolicy
from pix2pix_stream.server import cpus
from pix2pix_stream.server.errors import ConfigError
from pix2pix_stream.server.limits import JobLimits

# A raw DCI 4K RGB frame (4096 x 2160 x 3 = 26.5 MB) plus protobuf framing fits with room to spare.
DEFAULT_MAX_PIXELS = 4096 * 2160
DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    engines_dir: Path
    address: str = "[::]:50051"          # host:port; port 0 picks a free port
    backend: str = "auto"                # passed to pix2pix_stream.engines.runtime.registry.load_backend
    inference_threads: int | None = None # intra-op threads per backend; None = its default
    spinning: str = "always"             # how ONNX Runtime's threads wait (registry.SPINNING_MODES)
    max_batch: int = 8                   # frames per inference call
    max_delay_ms: float = 5.0            # longest a queued frame waits for a batch to fill
    max_streams: int = 64                # concurrent Translate + TranslateVideo calls
    inflight_per_stream: int = 4         # frames read but not yet answered, per stream
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS  # per input, output or compute-size frame
    scale: str = "engine"                # compute-size policy when a call sets none (media.geometry)
    max_video_bytes: int = 4 * 1024**3   # one TranslateVideo upload
    worker_threads: int = max(2, min(8, (os.cpu_count() or 1) + 2))  # decode/resize/encode
    tls_cert: Path | None = None         # PEM certificate chain; with tls_key enables TLS
    tls_key: Path | None = None
    token: str | None = None             # bearer token; None = no auth
    metrics_port: int | None = None      # None = no metrics endpoint; 0 = a free port
    metrics_host: str | None = None      # None = the serving host (address's host)
    grace_s: float = 10.0                # drain time on stop / SIGTERM
    video_tmp_dir: Path | None = None    # where uploads and outputs are spooled; None = $TMPDIR
    idle_timeout_s: float = 30.0         # a stream waiting this long for its next message ends; 0 = never
    max_streams_per_peer: int | None = None  # per client IP, or per token with auth; None = max_streams
    job_limits: JobLimits = field(default_factory=JobLimits)  # what one video job may cost
    temporal: str = "off"                # temporal filter of streams that do not choose one

    def __post_init__(self):
        _require(self.max_batch >= 1, f"max_batch must be >= 1, got {self.max_batch}")
        _require(self.max_delay_ms >= 0, f"max_delay_ms must be >= 0, got {self.max_delay_ms}")
        _require(self.max_streams >= 1, f"max_streams must be >= 1, got {self.max_streams}")
        _require(self.inflight_per_stream >= 1,
                 f"inflight_per_stream must be >= 1, got {self.inflight_per_stream}")
        _require(self.max_message_bytes >= 1024,
                 f"max_message_bytes must be >= 1024, got {self.max_message_bytes}")
        _require(self.max_pixels >= 1, f"max_pixels must be >= 1, got {self.max_pixels}")
        _require(self.worker_threads >= 1, f"worker_threads must be >= 1, got {self.worker_threads}")
        _require(self.inference_threads is None or self.inference_threads >= 1,
                 f"inference_threads must be >= 1, got {self.inference_threads}")
        _require(self.spinning in SPINNING_MODES,
                 f"spinning must be one of {', '.join(SPINNING_MODES)}, got {self.spinning!r}")
        _require(self.grace_s >= 0, f"grace_s must be >= 0, got {self.grace_s}")
        _require((self.tls_cert is None) == (self.tls_key is None),
                 "TLS needs both a certificate and a key")
        _require(self.token is None or self.token.strip() != "", "token must not be empty")
        _require(self.metrics_port is None or 0 <= self.metrics_port < 65536,
                 f"metrics_port must be 0..65535, got {self.metrics_port}")
        _require(self.idle_timeout_s >= 0, f"idle_timeout_s must be >= 0, got {self.idle_timeout_s}")
        _require(self.max_streams_per_peer is None or self.max_streams_per_peer >= 1,
                 f"max_streams_per_peer must be >= 1, got {self.max_streams_per_peer}")
        _require(self.temporal in ("off", "light", "strong"),
                 f"temporal must be off, light or strong, got {self.temporal!r}")
        try:
            ScalePolicy.parse(self.scale)
        except GeometryError as exc:
            raise ConfigError(str(exc)) from None
        host, sep, port = self.address.rpartition(":")
        _require(bool(sep and host and port.isdigit()),
                 f"address must be host:port, got {self.address!r}")

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0]

    @property
    def metrics_bind_host(self) -> str:
        """Where /metrics listens: --metrics-host, else the serving host (brackets off)."""
        return (self.metrics_host or self.host).strip("[]")

    @property
    def per_peer_limit(self) -> int:
        return min(self.max_streams_per_peer or self.max_streams, self.max_streams)

    @property
    def scale_policy(self) -> ScalePolicy:
        return ScalePolicy.parse(self.scale)

    @property
    def cpu_model_leaves_a_core(self) -> bool:
        """Whether a CPU backend is told to use fewer threads than this process may run on.
        Then a LIVE stream's filter estimate runs on a worker beside the model, on the core
        left free, instead of before the model on the frame's path (TranslateStream). Left to the
        backend (None), the model fills the cores: ONNX Runtime takes one thread per core."""
        return self.inference_threads is not None and self.inference_threads < cpus.usable_cpus()

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def with_changes(self, **changes) -> "ServerConfig":
        return replace(self, **changes)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
