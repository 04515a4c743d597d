"""The Translator servicer: call bookkeeping (limits, logs, metrics, statuses) around the stream
classes that do the work (``pix2pix_stream.server.translate``, ``pix2pix_stream.server.video``)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import AsyncIterator, Callable

import grpc

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc
from pix2pix_stream.server.config import ServerConfig
from pix2pix_stream.server.errors import (ShuttingDownError, StreamConfigError, TooManyStreamsError, describe,
                           status_for)
from pix2pix_stream.server.metrics import Metrics
from pix2pix_stream.server.engine_set import ModelSet
from pix2pix_stream.server.translate import TranslateStream, check_stream_config
from pix2pix_stream.server.upload import UploadBuffer
from pix2pix_stream.server.video import VideoJob
from pix2pix_stream.server.video_output import plan_video

log = logging.getLogger("pix2pix.server")
OUTPUT_CHUNK_BYTES = 1024 * 1024


@dataclass
class _Call:
    id: int
    method: str
    peer: str
    started: float = field(default_factory=time.perf_counter)
    status: str = "OK"
    detail: str = ""
    admitted: bool = False
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
        self._open_calls = 0

    async def ListModels(self, request, context):
        scale = str(self._config.scale_policy)
        return pb.ListModelsResponse(models=[model.info(scale) for model in self._models])

    async def Translate(self, request_iterator, context):
        call = self._begin("Translate", context)
        try:
            self._admit(call)
            config = (await _first(request_iterator, "config")).config
            check_stream_config(config, self._config.max_pixels)
            model = self._models.get(config.model)
            stream = TranslateStream(model, config, pool=self._pool, metrics=self._metrics,
                                     inflight=self._config.inflight_per_stream,
                                     max_pixels=self._config.max_pixels, draining=self._draining,
                                     default_scale=self._config.scale_policy)
            call.counts = lambda: asdict(stream.counts)
            log.info("Translate #%d opened: peer=%s model=%s mode=%s encoding=%s scale=%s",
                     call.id, call.peer, model.name, "LIVE" if stream.live else "LOSSLESS",
                     pb.OutputEncoding.Name(config.encoding or pb.RAW), stream.policy)
            async for response in stream.run(request_iterator):
                yield response
        except (asyncio.CancelledError, GeneratorExit):
            call.status = "CANCELLED"
            raise
        except Exception as exc:
            await self._fail(call, context, exc)
        finally:
            self._end(call)

    async def TranslateVideo(self, request_iterator, context):
        call = self._begin("TranslateVideo", context)
        try:
            self._admit(call)
            config = (await _first(request_iterator, "config")).config
            plan = plan_video(config, self._config.max_pixels, self._config.scale_policy)
            model = self._models.get(config.model)
            log.info("TranslateVideo #%d opened: peer=%s model=%s codec=%s container=%s scale=%s",
                     call.id, call.peer, model.name, plan.codec, plan.container, plan.scale)
            async for response in self._run_video(call, model, plan, request_iterator):
                yield response
        except (asyncio.CancelledError, GeneratorExit):
            call.status = "CANCELLED"
            raise
        except Exception as exc:
            await self._fail(call, context, exc)
        finally:
            self._end(call)

    async def _run_video(self, call, model, plan, requests) -> AsyncIterator[pb.VideoResponse]:
        loop = asyncio.get_running_loop()
        progress: asyncio.Queue = asyncio.Queue()
        upload = UploadBuffer(self._config.max_video_bytes, self._config.video_tmp_dir)
        job = VideoJob(model, plan, upload, max_pixels=self._config.max_pixels,
                       queue_depth=max(self._config.inflight_per_stream, model.batcher.max_batch),
                       tmp_dir=self._config.video_tmp_dir, metrics=self._metrics,
                       notify=lambda item: loop.call_soon_threadsafe(progress.put_nowait, item))
        call.counts = lambda: {"frames_in": job.frames_in, "frames_out": job.frames_out,
                               "upload_bytes": upload.size, **({"stopped": True} if job.stopped
                                                               else {})}
        feeder = asyncio.create_task(_feed_upload(requests, upload, job))
        job.start()
        try:
            while (message := await progress.get()) is not None:  # None: the job is over
                yield pb.VideoResponse(progress=message)
            if job.frames_out:  # every frame that decoded is delivered, even before an error
                chunk_size = min(OUTPUT_CHUNK_BYTES, self._config.max_message_bytes - 1024)
                async for chunk in _file_chunks(job.output_path, chunk_size, self._pool):
                    yield pb.VideoResponse(chunk=chunk)
            upload_error = feeder.exception() if feeder.done() else None
            if upload_error is not None or job.error is not None:
                raise upload_error or job.error
            yield pb.VideoResponse(done=job.info)
        finally:
            feeder.cancel()
            job.cancel()
            await loop.run_in_executor(None, job.close)

    # -- call bookkeeping ----------------------------------------------------------------------

    def _begin(self, method: str, context) -> _Call:
        return _Call(next(self._ids), method, context.peer())

    def _admit(self, call: _Call) -> None:
        if self._draining.is_set():
            raise ShuttingDownError("server is shutting down")
        if self._open_calls >= self._config.max_streams:
            raise TooManyStreamsError(f"{self._open_calls} streams are open, the server's limit "
                                      f"is {self._config.max_streams}; retry later")
        self._open_calls += 1
        self._metrics.active_streams.labels(call.method).inc()
        call.admitted = True

    def _end(self, call: _Call) -> None:
        if call.admitted:
            self._open_calls -= 1
            self._metrics.active_streams.labels(call.method).dec()
        log.info("%s #%d closed: %s", call.method, call.id, call.summary())

    async def _fail(self, call: _Call, context, exc: Exception) -> None:
        code = status_for(exc)
        call.status, call.detail = code.name, describe(exc)
        self._metrics.error(call.method, code)
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


async def _feed_upload(requests, upload: UploadBuffer, job: VideoJob) -> None:
    """Appends the uploaded chunks. The upload ends at ``last``, at ``stop`` or when the client
    half-closes (without ``last`` first, the job finds a truncated file). After ``last`` the
    stream is still read: a client may send ``stop`` while the server is translating."""
    try:
        async for request in requests:
            kind = request.WhichOneof("msg")
            if kind == "config":
                raise StreamConfigError("a video stream carries one config, then only chunks")
            if kind == "chunk":
                upload.append(request.chunk)
            if request.stop:
                job.stop()
                return
            if request.last:
                upload.finish()
    except BaseException as exc:
        upload.fail(exc if isinstance(exc, Exception) else StreamConfigError("upload cancelled"))
        raise
    finally:
        upload.finish()


async def _file_chunks(path, size: int, pool) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    with open(path, "rb") as fh:
        while chunk := await loop.run_in_executor(pool, fh.read, size):
            yield chunk
