"""start_server(config) -> RunningServer: the server factory, kept apart from the CLI.

The server is grpc.aio on an asyncio event loop in a background thread, so callers (the CLI,
tests, benchmarks) stay synchronous. Every server of a process shares that one loop thread:
grpc.aio binds itself to the loop it first runs on. The loop only shuffles messages; decoding,
resizing, the input transform and encoding run in a worker thread pool and inference in one
thread per model (server.batcher).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc
from pix2pix_stream.server.auth import TokenAuthInterceptor, is_loopback_host
from pix2pix_stream.server.config import ServerConfig
from pix2pix_stream.server.drain import DrainSignal
from pix2pix_stream.server.errors import StartupError
from pix2pix_stream.server.metrics import Metrics
from pix2pix_stream.server.engine_set import ModelSet
from pix2pix_stream.server.service import TranslatorService
from pix2pix_stream.server.video import enable_ffmpeg_error_logs

log = logging.getLogger("pix2pix.server")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Translator"].full_name

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _shared_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, daemon=True, name="grpc-aio").start()
        return _loop


class RunningServer:
    """A started server. ``stop()`` drains it; ``wait()`` blocks until it has stopped."""

    def __init__(self, runtime: "_Runtime"):
        self._runtime = runtime
        self.port: int = runtime.port
        self.metrics_port: int | None = runtime.metrics_port
        self.address: str = runtime.address
        self.metrics: Metrics = runtime.metrics
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()

    @property
    def model_names(self) -> list[str]:
        return self._runtime.models.names

    def stop(self, grace_s: float | None = None) -> None:
        """Stops accepting calls, lets open calls finish for up to ``grace_s`` (default: the
        config's), then frees every model. Safe to call twice and from any thread but the
        server's own loop."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            grace = self._runtime.config.grace_s if grace_s is None else grace_s
            asyncio.run_coroutine_threadsafe(self._runtime.stop(grace), self._runtime.loop).result()
            self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the server has stopped; False when ``timeout`` passed first."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def warn_plaintext_token(config: ServerConfig) -> None:
    """A token sent in plaintext can be read by anyone on the path; on loopback that is only
    this machine, elsewhere it deserves a warning (the metrics port has no auth at all)."""
    if config.token and not config.tls and not is_loopback_host(config.host):
        log.warning("token auth on a plaintext port (%s): anyone on the network path can read "
                    "the token; use --tls-cert/--tls-key, or listen on 127.0.0.1 behind a "
                    "TLS proxy", config.address)
    if config.metrics_port is not None and not is_loopback_host(config.metrics_bind_host) \
            and (config.token or config.tls):
        log.warning("metrics on %s:%s are plaintext and unauthenticated while gRPC uses %s; "
                    "use --metrics-host 127.0.0.1 unless a scraper elsewhere needs them",
                    config.metrics_bind_host, config.metrics_port,
                    "TLS" if config.tls else "a token")


def start_server(config: ServerConfig) -> RunningServer:
    """Loads the engines, binds the port(s) and starts serving; raises StartupError or an
    engines error when it cannot."""
    runtime = _Runtime(config, _shared_loop())
    asyncio.run_coroutine_threadsafe(runtime.start(), runtime.loop).result()
    return RunningServer(runtime)


def _prestarted_pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    """The frame workers, all started now: a ThreadPoolExecutor starts threads only as load
    first needs them, so the process's thread count would creep up under the first bursts and
    a leak check could not tell that from a leak; the first calls also skip thread creation."""
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="frames")
    all_started = threading.Barrier(workers)
    for waited in [pool.submit(all_started.wait) for _ in range(workers)]:
        waited.result()
    return pool


def single_threaded_opencv() -> None:
    """One OpenCV thread per call: the server already runs frames and streams side by side (its
    worker pool, the batcher, ONNX Runtime's threads), and OpenCV's own pool only adds a hand-off
    per call and competes with ONNX Runtime's threads for the cores. On 2 cores the temporal
    filter then added 1.7 ms to a LIVE frame's p50 instead of 2.0 (means of 6 and 4 runs of
    bench/temporal.py's LIVE rows, each run anywhere from 0.3 to 2.7 ms), and served 1280x768
    frames cost 10-18 % less CPU (bench/service.py, one run each). The OPENCV_FOR_THREADS_NUM
    environment variable, when set, is left to decide."""
    if "OPENCV_FOR_THREADS_NUM" not in os.environ:
        import cv2
        cv2.setNumThreads(1)


class _Runtime:
    """What lives on the loop: the grpc.aio server and everything it owns."""

    def __init__(self, config: ServerConfig, loop: asyncio.AbstractEventLoop):
        self.config = config
        self.loop = loop
        self.metrics = Metrics(config.max_batch)
        self.models: ModelSet | None = None
        self.port = 0
        self.metrics_port: int | None = None
        self.address = ""

    async def start(self) -> None:
        config = self.config
        enable_ffmpeg_error_logs()
        single_threaded_opencv()
        self.models = await self.loop.run_in_executor(None, lambda: ModelSet.load(
            Path(config.engines_dir), backend=config.backend, max_batch=config.max_batch,
            max_delay_s=config.max_delay_ms / 1000, observer_for=self.metrics.batch_observer,
            threads=config.inference_threads, spinning=config.spinning))
        try:
            await self._start_grpc()
            if config.metrics_port is not None:
                self.metrics_port = self.metrics.serve(config.metrics_port, config.metrics_bind_host)
        except BaseException:
            await self.stop(0)
            raise
        log.info("serving %s on %s (%s) with backend %s%s%s", ", ".join(self.models.names),
                 self.address, "TLS" if config.tls else "plaintext", config.backend,
                 ", token auth" if config.token else "",
                 f", metrics on :{self.metrics_port}" if self.metrics_port is not None else "")

    async def _start_grpc(self) -> None:
        config = self.config
        self.pool = _prestarted_pool(config.worker_threads)
        self.draining = DrainSignal()
        interceptors = []
        warn_plaintext_token(config)
        if config.token:
            interceptors.append(TokenAuthInterceptor(
                config.token, lambda method: self.metrics.error(method, grpc.StatusCode.UNAUTHENTICATED)))
        self.server = grpc.aio.server(interceptors=interceptors, options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", 0),  # a port in use must fail here, not be shared silently
            # Ping idle peers so a vanished client's streams are freed, and accept the clients'
            # own keepalive pings (every 30 s by default in client/) instead of a GOAWAY.
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.keepalive_timeout_ms", 20_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ])
        self.service = TranslatorService(self.models, config, self.metrics, self.pool,
                                         self.draining)
        pb_grpc.add_TranslatorServicer_to_server(self.service, self.server)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        for name in ["", SERVICE_NAME, *self.models.names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server)
        self.port = self._bind()
        host = config.address.rpartition(":")[0]
        self.address = f"{host}:{self.port}"
        await self.server.start()

    async def _grace_left_once_streams_end(self, grace_s: float) -> float:
        """Waits (within the grace) for the open streams to end before gRPC is told to stop.
        Until then the port stays open and a new call is refused by the service itself:
        UNAVAILABLE "server is shutting down", which a client retries elsewhere. Once gRPC
        stops, a call that arrives at the closing server is cut off as a bare CANCELLED."""
        service = getattr(self, "service", None)
        if service is not None and grace_s > 0:
            try:
                await asyncio.wait_for(service.wait_for_open_streams(), grace_s)
            except asyncio.TimeoutError:
                pass
        return max(0.0, self.draining.deadline - self.loop.time())

    def _bind(self) -> int:
        config = self.config
        try:
            if config.tls:
                key, cert = Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes()
                credentials = grpc.ssl_server_credentials([(key, cert)])
                port = self.server.add_secure_port(config.address, credentials)
            else:
                port = self.server.add_insecure_port(config.address)
        except (OSError, RuntimeError) as exc:
            raise StartupError(f"cannot listen on {config.address}: {exc}") from exc
        if not port:
            raise StartupError(f"cannot listen on {config.address}")
        return port

    async def stop(self, grace_s: float) -> None:
        server = getattr(self, "server", None)
        if server is not None:
            await self.health.enter_graceful_shutdown()
            self.draining.begin(grace_s)
            await server.stop(await self._grace_left_once_streams_end(grace_s))
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.metrics.stop()
        if self.models is not None:
            await self.loop.run_in_executor(None, self.models.close)
        log.info("stopped %s", self.address or self.config.address)
