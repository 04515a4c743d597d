"""The Translator servicer: call bookkeeping (limits, logs, metrics, statuses) around the stream
classes that do the work (``pix2pix_stream.server.translate`` for frame streams,
``pix2pix_stream.server.translate_video`` for video files)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import time
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from typing import AsyncIterator, Callable

import grpc

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc
from pix2pix_stream.server.config import ServerConfig
from pix2pix_stream.server.admission import Admission, Ticket
from pix2pix_stream.server.errors import StreamConfigError, describe, status_for
from pix2pix_stream.server.idle import idle_limited
from pix2pix_stream.server.job_cleanup import close_when_abandoned
from pix2pix_stream.server.job_watch import ended_by_limit
from pix2pix_stream.server.limits import JobBudget
from pix2pix_stream.server.metrics import Metrics
from pix2pix_stream.server.engine_set import ModelSet
from pix2pix_stream.server.temporal_filter import resolve_level
from pix2pix_stream.server.translate import TranslateStream, check_stream_config
from pix2pix_stream.server.translate_video import TranslateVideoStream
from pix2pix_stream.server.video_output import plan_video

log = logging.getLogger("pix2pix.server")


@dataclass
class _Call:
    id: int
    method: str
    peer: str
    started: float = field(default_factory=time.perf_counter)
    status: str = "OK"
    detail: str = ""
    ticket: Ticket | None = None
    counts: Callable[[], dict] | None = None  # the stream's counters, for the close log line

    def summary(self) -> str:
        parts = [f"status={self.status}", f"{time.perf_counter() - self.started:.2f}s"]
        if self.counts is not None:
            parts += [f"{key}={value}" for key, value in self.counts().items()]
        if self.detail:
            parts.append(f"detail={self.detail!r}")
        return " ".join(parts)


class TranslatorService(pb_grpc.TranslatorServicer):
    def __init__(self, models: ModelSet, config: ServerConfig, metrics: Metrics,
                 pool: concurrent.futures.Executor, draining: asyncio.Event):
        self._models = models
        self._config = config
        self._metrics = metrics
        self._pool = pool
        self._draining = draining
        self._ids = itertools.count(1)
        self._admission = Admission(config.max_streams, config.per_peer_limit, config.token,
                                    metrics, draining)

    async def wait_for_open_streams(self) -> None:
        """Returns once every admitted stream has ended (the drain waits for this)."""
        await self._admission.wait_until_empty()

    async def ListModels(self, request, context):
        scale = str(self._config.scale_policy)
        return pb.ListModelsResponse(models=[model.info(scale) for model in self._models])

    async def Translate(self, request_iterator, context):
        async with aclosing(self._serve("Translate", context, request_iterator,
                                        self._open_frame_stream)) as responses:
            async for response in responses:
                yield response

    async def TranslateVideo(self, request_iterator, context):
        async with aclosing(self._serve("TranslateVideo", context, request_iterator,
                                        self._open_video_stream)) as responses:
            async for response in responses:
                yield response

    async def _open_frame_stream(self, call: _Call, context, requests):
        requests = idle_limited(requests, self._config.idle_timeout_s, "frame")
        config = (await _first(requests, "config")).config
        check_stream_config(config, self._config.max_pixels)
        model = self._models.get(config.model)
        stream = TranslateStream(model, config, pool=self._pool, metrics=self._metrics,
                                 inflight=self._config.inflight_per_stream,
                                 max_pixels=self._config.max_pixels, draining=self._draining,
                                 temporal=self._config.temporal,
                                 default_scale=self._config.scale_policy,
                                 spare_core=self._config.cpu_model_leaves_a_core)
        call.counts = lambda: asdict(stream.counts)
        log.info("Translate #%d opened: peer=%s model=%s mode=%s encoding=%s scale=%s",
                 call.id, call.peer, model.name, "LIVE" if stream.live else "LOSSLESS",
                 pb.OutputEncoding.Name(config.encoding or pb.RAW), stream.policy)
        return stream, requests

    async def _open_video_stream(self, call: _Call, context, requests):
        job_state: dict = {}  # the idle timeout watches the upload, not the job after it
        close_when_abandoned(context, job_state)
        requests = idle_limited(
            requests, self._config.idle_timeout_s, "upload chunk",
            watching=lambda: "upload" not in job_state or not job_state["upload"].finished)
        config = (await _first(requests, "config")).config
        plan = plan_video(config, self._config.max_pixels, self._config.scale_policy)
        budget = JobBudget(self._config.job_limits, self._config.video_tmp_dir, plan.codec)
        budget.check_disk()
        model = self._models.get(config.model)
        stream = TranslateVideoStream(model, plan, self._config, metrics=self._metrics,
                                      pool=self._pool, budget=budget, job_state=job_state,
                                      temporal=resolve_level(config.temporal,
                                                             self._config.temporal),
                                      draining=self._draining)
        call.counts = stream.counts
        log.info("TranslateVideo #%d opened: peer=%s model=%s codec=%s container=%s scale=%s",
                 call.id, call.peer, model.name, plan.codec, plan.container, plan.scale)
        return stream, requests

    async def _serve(self, method: str, context, requests, open_stream) -> AsyncIterator:
        """One streaming call: admission, the stream's replies, the status of what failed, the
        close log line. ``open_stream(call, context, requests)`` reads the config and returns the
        stream with the requests it reads (behind the idle timeout)."""
        call = self._begin(method, context)
        try:
            self._admit(call, context)
            stream, requests = await open_stream(call, context, requests)
            async for response in stream.run(requests):
                yield response
        except (asyncio.CancelledError, GeneratorExit):
            call.status = "CANCELLED"
            raise
        except Exception as exc:
            await self._fail(call, context, exc)
        finally:
            self._end(call)

    # -- call bookkeeping ----------------------------------------------------------------------

    def _begin(self, method: str, context) -> _Call:
        return _Call(next(self._ids), method, context.peer())

    def _admit(self, call: _Call, context) -> None:
        call.ticket = self._admission.admit(call.method, context)

    def _end(self, call: _Call) -> None:
        if call.ticket is not None:
            self._admission.release(call.ticket)
        log.info("%s #%d closed: %s", call.method, call.id, call.summary())

    async def _fail(self, call: _Call, context, exc: Exception) -> None:
        code = status_for(exc)
        call.status, call.detail = code.name, describe(exc)
        self._metrics.error(call.method, code)
        reason = ended_by_limit(exc)
        if reason:
            self._metrics.streams_refused.labels(call.method, reason).inc()
        if code == grpc.StatusCode.INTERNAL:
            log.exception("%s #%d failed", call.method, call.id)
        await context.abort(code, describe(exc))


async def _first(requests, field_name: str):
    """The first message of a stream, which must carry the stream's configuration."""
    try:
        first = await requests.__aiter__().__anext__()
    except StopAsyncIteration:
        raise StreamConfigError("the stream ended before its config message") from None
    if first.WhichOneof("msg") != field_name:
        raise StreamConfigError(f"the first message of a stream must carry {field_name}")
    return first
