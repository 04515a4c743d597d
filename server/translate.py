"""One ``Translate`` stream: read frames, translate them through the model's batcher, answer in order.

The stream keeps at most ``inflight`` frames between "read" and "answered". Entries sit in
``_order`` in arrival order; the first ``_started`` of them are being translated (decode, batch,
encode), the rest wait. LOSSLESS stops reading while the stream is full, so gRPC flow control
pushes back on the client. LIVE keeps reading and drops the oldest waiting frames instead, so
the frame translated next is always the freshest; the dropped sequence numbers ride on the next
reply. When the server drains it stops reading, answers every frame it has read, and ends the
call with UNAVAILABLE so the client can resume elsewhere after the last sequence it got.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import time
from dataclasses import dataclass
from typing import AsyncIterator

import numpy as np

from pix2pix_stream.media.geometry import ComputePlan, GeometryError, ScalePolicy, plan_compute
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server import images
from pix2pix_stream.server.errors import ShuttingDownError, StreamConfigError, describe, status_for
from pix2pix_stream.server.metrics import Metrics
from pix2pix_stream.server.engine_set import LoadedModel
from pix2pix_stream.server.temporal_filter import FilterTurn, OrderedFilter, resolve_level


def check_stream_config(config: pb.StreamConfig, max_pixels: int) -> None:
    if not config.model:
        raise StreamConfigError("stream config names no model")
    if config.encoding not in pb.OutputEncoding.values():
        raise StreamConfigError(f"unknown output encoding {config.encoding}")
    if config.mode not in pb.StreamMode.values():
        raise StreamConfigError(f"unknown stream mode {config.mode}")
    if config.jpeg_quality > 100:
        raise StreamConfigError(f"jpeg_quality must be 1..100 (0 = default), got {config.jpeg_quality}")
    check_output_size(config.output_width, config.output_height, max_pixels)
    resolve_level(config.temporal, "off")
    scale_policy(config.scale, ScalePolicy())


def scale_policy(text: str, default: ScalePolicy) -> ScalePolicy:
    """A call's ``scale`` field: "" means the server's default."""
    if not text:
        return default
    try:
        return ScalePolicy.parse(text)
    except GeometryError as exc:
        raise StreamConfigError(str(exc)) from None


def check_output_size(width: int, height: int, max_pixels: int) -> None:
    if (width == 0) != (height == 0):
        raise StreamConfigError(f"set both output_width and output_height or neither "
                                f"(got {width}x{height})")
    if width and width * height > max_pixels:
        raise StreamConfigError(f"output size {width}x{height} exceeds the server's limit of "
                                f"{max_pixels} pixels")


@dataclass
class StreamCounts:
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    errors: int = 0
    drained: bool = False


@dataclass
class _Entry:
    frame: pb.Frame
    task: asyncio.Task | None = None
    ready_at: float = 0.0  # perf_counter when its reply was ready: the reply stage starts


@dataclass
class _Prepared:
    pixels: np.ndarray            # at the compute size, transformed and padded
    size: tuple[int, int]         # (width, height) of the reply image
    plan: ComputePlan             # how to crop the padding off the output
    source: np.ndarray | None = None  # engine-sized, before the transform (temporal filter)


class TranslateStream:
    def __init__(self, model: LoadedModel, config: pb.StreamConfig, *,
                 pool: concurrent.futures.Executor, metrics: Metrics, inflight: int,
                 max_pixels: int, draining: asyncio.Event, temporal: str = "off",
                 default_scale: ScalePolicy = ScalePolicy(), spare_core: bool = False):
        self.model = model
        self.config = config
        self.policy = scale_policy(config.scale, default_scale)
        self.live = config.mode == pb.LIVE
        self.counts = StreamCounts()
        self.temporal = OrderedFilter(resolve_level(config.temporal, temporal))
        # A LIVE frame on a CPU backend whose threads fill the cores runs the filter's estimate
        # and warp before the model, on this thread: beside the model they would take a core
        # from its threads, whose every parallel op then waits for the slowest (p50 +4.7 ms
        # against +1.7 ms inline, 455x256, 2 cores; a hop to a worker and back cost +1 ms more).
        # Elsewhere (a GPU, or a CPU model that leaves a core: ``spare_core``) they overlap the
        # model (256x256, 1 model thread on 2 cores: +1.1 / +1.8 ms against +3.0 / +3.6 inline).
        self._filter_inline = (self.live and not spare_core
                               and model.batcher.backend.info.device == "cpu")
        self._pool = pool
        self._metrics = metrics
        self._limit = inflight
        self._max_pixels = max_pixels
        self._draining = draining
        self._order: list[_Entry] = []
        self._started = 0
        self._dropped: list[int] = []
        self._reading = True
        self._room = asyncio.Event()
        self._ready = asyncio.Event()
        self._replies_raw = config.encoding in (pb.OUTPUT_ENCODING_UNSPECIFIED, pb.RAW) and \
            not config.output_width
        self._frames_in = metrics.frames_in.labels(model.name)
        self._frames_out = metrics.frames_out.labels(model.name)
        self._stages = metrics.stage_timers(model.name)

    async def run(self, requests: AsyncIterator[pb.TranslateRequest]
                  ) -> AsyncIterator[pb.TranslateResponse]:
        reader = asyncio.create_task(self._read(requests))
        self._expired = (asyncio.ensure_future(self._draining.wait_until_expiring())
                         if hasattr(self._draining, "wait_until_expiring") else None)
        drain_watch = asyncio.create_task(self._draining.wait())
        drain_watch.add_done_callback(
            lambda watch: watch.cancelled() or self._stop_reading(reader))
        try:
            while True:
                while not self._order and self._reading:
                    self._ready.clear()
                    await self._ready.wait()
                if not self._order:
                    break
                entry = self._order[0]
                response = await self._answer(entry.task)
                del self._order[0]
                self._started -= 1
                self._pump()
                self._room.set()
                if self._dropped:
                    response.dropped.extend(self._dropped)
                    self._dropped.clear()
                yield response
                self._stages.reply.observe(time.perf_counter() - entry.ready_at)
            try:
                await reader  # re-raises a protocol error the reader hit
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling() or not self.counts.drained:
                    raise  # our own call was cancelled, not just the reading
            if self.counts.drained:
                raise ShuttingDownError("server is shutting down; every frame it read has been "
                                        "answered, resend the rest elsewhere")
        finally:
            drain_watch.cancel()
            if self._expired is not None:
                self._expired.cancel()
            reader.cancel()
            for entry in self._order:
                if entry.task is not None:
                    entry.task.cancel()

    async def _answer(self, task: asyncio.Task) -> pb.TranslateResponse:
        """The next reply, raced against the end of a drain's grace period, so that a stream
        whose frames cannot all be answered in time still ends UNAVAILABLE (resend from the
        first unanswered frame) rather than with gRPC's cancellation."""
        if self._expired is None:
            return await task
        done, _ = await asyncio.wait({task, self._expired}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            self.counts.drained = True
            raise ShuttingDownError("server is shutting down and could not answer every frame "
                                    "it read in time; resend from the first unanswered frame "
                                    "elsewhere")
        return task.result()

    # -- reading -----------------------------------------------------------------------------

    async def _read(self, requests: AsyncIterator[pb.TranslateRequest]) -> None:
        try:
            messages = requests.__aiter__()
            while True:
                if not self.live:
                    while len(self._order) >= self._limit:
                        self._room.clear()
                        await self._room.wait()
                try:
                    request = await messages.__anext__()
                except StopAsyncIteration:
                    return
                self._accept(request)
        finally:
            self._reading = False
            self._ready.set()

    def _stop_reading(self, reader: asyncio.Task) -> None:
        """On drain: stop reading (a message in transit is left unread, the client resends it
        elsewhere) and answer what has been read."""
        if not reader.done():
            self.counts.drained = True
            reader.cancel()

    def _accept(self, request: pb.TranslateRequest) -> None:
        kind = request.WhichOneof("msg")
        if kind != "frame":
            raise StreamConfigError("a stream carries one config, then only frames; got "
                                    + ("a second config" if kind == "config" else "an empty message"))
        self.counts.frames_in += 1
        self._frames_in.inc()
        self._order.append(_Entry(request.frame))
        self._pump()
        if self.live:
            self._drop_stale()
        self._ready.set()

    def _pump(self) -> None:
        while self._started < len(self._order) and self._started < self._limit:
            entry = self._order[self._started]
            turn = self.temporal.reserve() if self.temporal.enabled else None
            entry.task = asyncio.create_task(self._timed(entry, turn))
            self._started += 1

    def _drop_stale(self) -> None:
        # Keep at least one waiting frame (the newest) so the stream always has a next frame.
        allowed = max(1, self._limit - self._started)
        while len(self._order) - self._started > allowed:
            entry = self._order.pop(self._started)
            self._dropped.append(entry.frame.sequence)
            self.counts.dropped += 1
            self._metrics.frames_dropped.labels(self.model.name).inc()

    # -- translating one frame ---------------------------------------------------------------

    async def _timed(self, entry: _Entry, turn: FilterTurn | None) -> pb.TranslateResponse:
        response = await self._translate(entry.frame, turn)
        entry.ready_at = time.perf_counter()
        return response

    async def _translate(self, frame: pb.Frame, turn: FilterTurn | None) -> pb.TranslateResponse:
        try:
            return await self._translate_frame(frame, turn)
        finally:
            if turn is not None:
                turn.release()  # a frame that failed must not hold up the next one

    async def _translate_frame(self, frame: pb.Frame, turn: FilterTurn | None
                               ) -> pb.TranslateResponse:
        reply = pb.TranslateResponse(sequence=frame.sequence, timestamp_us=frame.timestamp_us)
        loop = asyncio.get_running_loop()
        slot = self.model.batcher.reserve()
        try:
            if self._is_plain_copy(frame.image):
                prepared = self._prepare(frame.image)
            else:
                prepared = await loop.run_in_executor(self._pool, self._prepare, frame.image)
        except BaseException as exc:
            slot.cancel()
            if isinstance(exc, asyncio.CancelledError):
                raise
            return self._error(reply, exc)
        try:
            if turn is not None:   # motion and warp: inline, or on a worker while the model runs
                if not (self._filter_inline and turn.start_inline(prepared.source)):
                    turn.start(prepared.source, self._pool)
            result = await asyncio.wrap_future(slot.submit(prepared.pixels))
            output = prepared.plan.crop(result.output)
            if turn is not None:
                output = await turn.apply(output)
            if self._replies_raw and prepared.plan.is_identity:
                reply.image.CopyFrom(self._finish(output, prepared))
            else:
                reply.image.CopyFrom(await loop.run_in_executor(
                    self._pool, self._finish, output, prepared))
        except asyncio.CancelledError:
            slot.cancel()   # no-op once submitted; before that, the batcher must stop waiting
            raise
        except Exception as exc:
            slot.cancel()
            return self._error(reply, exc)
        reply.queue_ms = result.queue_s * 1000
        reply.inference_ms = result.inference_s * 1000
        self.counts.frames_out += 1
        self._frames_out.inc()
        return reply

    def _is_plain_copy(self, image: pb.Image) -> bool:
        """A raw RGB frame already at its compute size, no transform: preparing it is one small
        copy, cheaper to do here than a hop to a worker thread and back (which costs latency)."""
        if image.WhichOneof("payload") != "raw" or not self.model.transform.is_identity:
            return False
        raw = image.raw
        if raw.format != pb.RGB24 or raw.width * raw.height == 0:
            return False
        try:
            return self._plan(raw.width, raw.height).is_identity
        except GeometryError:
            return False  # _prepare reports it as the frame's error

    def _plan(self, width: int, height: int) -> ComputePlan:
        return plan_compute(width, height, self.policy, self.model.geometry, self._max_pixels)

    def _prepare(self, image: pb.Image) -> _Prepared:
        start = time.perf_counter()
        pixels = images.decode_image(image, self._max_pixels)
        decoded = time.perf_counter()
        height, width = pixels.shape[:2]
        size = (self.config.output_width or width, self.config.output_height or height)
        plan = self._plan(width, height)
        transform = None if self.model.transform.is_identity else self.model.transform
        source, pixels = plan.prepare_with_source(pixels, transform)
        self._stages.decode.observe(decoded - start)
        self._stages.transform.observe(time.perf_counter() - decoded)
        return _Prepared(pixels, size, plan, source if self.temporal.enabled else None)

    def _finish(self, output: np.ndarray, prepared: _Prepared) -> pb.Image:
        start = time.perf_counter()
        image = images.encode_image(prepared.plan.finish(output, prepared.size),
                                    self.config.encoding, self.config.jpeg_quality)
        self._stages.encode.observe(time.perf_counter() - start)
        return image

    def _error(self, reply: pb.TranslateResponse, exc: BaseException) -> pb.TranslateResponse:
        code = status_for(exc)
        reply.error.code = code.value[0]
        reply.error.message = f"frame {reply.sequence}: {describe(exc)}"
        self.counts.errors += 1
        self._metrics.error("Translate", code)
        return reply
