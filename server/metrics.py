"""Prometheus metrics, one CollectorRegistry per server so several servers in one process (tests,
benchmarks) never share counters."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import start_http_server

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
# Per-frame work around inference takes tens of microseconds to milliseconds.
_STAGE_BUCKETS = (0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                  0.05, 0.1, 0.5)
# The stages of a streamed frame that have no histogram of their own (queue wait and inference
# have theirs): decode = payload to pixels; transform = resize to the engine's size plus the
# model's input transform; encode = resize to the output size plus encoding; reply = from the
# frame's reply being ready until gRPC took it (waiting for earlier frames, in order, and the
# write, which waits on the client's flow control).
STAGES = ("decode", "transform", "encode", "reply")


@dataclass(frozen=True)
class StageTimers:
    """One model's per-stage histograms (children ready to observe, looked up once per stream)."""

    decode: object
    transform: object
    encode: object
    reply: object


class Metrics:
    def __init__(self, max_batch: int):
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames_in = Counter("pix2pix_frames_in", "Frames received", ["model"], registry=r)
        self.frames_out = Counter("pix2pix_frames_out", "Translated frames sent", ["model"],
                                  registry=r)
        self.frames_dropped = Counter("pix2pix_frames_dropped",
                                      "Frames dropped unprocessed in LIVE mode", ["model"],
                                      registry=r)
        self.errors = Counter("pix2pix_errors", "Per-frame errors and failed calls, by status",
                              ["method", "status"], registry=r)
        self.batch_size = Histogram("pix2pix_batch_size", "Frames per inference call", ["model"],
                                    buckets=tuple(range(1, max_batch + 1)), registry=r)
        self.queue_wait = Histogram("pix2pix_queue_wait_seconds",
                                    "Time a frame waited in the batch queue", ["model"],
                                    buckets=_LATENCY_BUCKETS, registry=r)
        self.inference = Histogram("pix2pix_inference_seconds", "Time of one inference call",
                                   ["model"], buckets=_LATENCY_BUCKETS, registry=r)
        self.stage = Histogram("pix2pix_stage_seconds",
                               "Time of one stage of one streamed frame (see STAGES)",
                               ["model", "stage"], buckets=_STAGE_BUCKETS, registry=r)
        self.active_streams = Gauge("pix2pix_active_streams", "Open streaming calls", ["method"],
                                    registry=r)
        self.streams_refused = Counter(
            "pix2pix_streams_refused",
            "Streams refused or ended by a server limit, by reason: max_streams, per_peer, "
            "draining, idle_timeout, job_limit, disk_reserve", ["method", "reason"], registry=r)
        self._http = None

    def batch_observer(self, model: str):
        """A Batcher observer that records this model's batches."""
        batch_size = self.batch_size.labels(model)
        queue_wait = self.queue_wait.labels(model)
        inference = self.inference.labels(model)

        def observe(size: int, waits: list, inference_s: float) -> None:
            batch_size.observe(size)
            inference.observe(inference_s)
            for wait in waits:
                queue_wait.observe(wait)

        return observe

    def stage_timers(self, model: str) -> StageTimers:
        return StageTimers(*(self.stage.labels(model, stage) for stage in STAGES))

    def error(self, method: str, status) -> None:
        self.errors.labels(method, status.name).inc()

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Starts the /metrics HTTP endpoint; returns the port it listens on."""
        self._http, _ = start_http_server(port, addr=host, registry=self.registry)
        return self._http.server_port

    def stop(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            # shutdown() waits out serve_forever's 0.5 s poll; nobody needs to wait for that.
            threading.Thread(target=lambda: (http.shutdown(), http.server_close()),
                             daemon=True).start()

    def text(self) -> str:
        return generate_latest(self.registry).decode()
