"""AsyncTranslatorClient: the asyncio twin of TranslatorClient (grpc.aio), same methods."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import AsyncIterable, AsyncIterator, Iterable, Sequence

import grpc
import numpy as np

from pix2pix_stream.client import frames as fr
from pix2pix_stream.client import remote_video as rv
from pix2pix_stream.client.channel import call_metadata, open_aio_channel, unreachable
from pix2pix_stream.client.config import ClientConfig, as_config
from pix2pix_stream.client.errors import ClientError, ModelNotFoundError, ServerError, from_rpc_error
from pix2pix_stream.client.frames import ModelInfo, TranslatedFrame
from pix2pix_stream.client.failover import (AsyncReplayableRequests, Failover, accepted,
                                             as_async_iter)
from pix2pix_stream.client.local_video import LocalVideoJob, Progress, VideoResult
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos.translator_pb2_grpc import TranslatorStub

Frames = Iterable[np.ndarray] | AsyncIterable[np.ndarray]


class AsyncTranslatorClient:
    """    async with AsyncTranslatorClient("localhost:50051") as client:
            async for out in client.translate_frames(frames, model="facades"):
                ...

    The channel is opened on first use inside the running event loop (grpc.aio binds a
    channel to the loop it was made in). ``frames`` may be a plain or an async iterable; a
    plain one is iterated on the event loop, so it should not block."""

    def __init__(self, target: str | Sequence[str] | ClientConfig | None = None, **options):
        self.config = as_config(target, **options)
        self.target = self.config.display_target
        self._metadata = call_metadata(self.config)
        self._channel: grpc.aio.Channel | None = None
        self._stub: TranslatorStub | None = None
        self._connected = False

    # -- connection -------------------------------------------------------------------------
    def _open(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = open_aio_channel(self.config)
            self._stub = TranslatorStub(self._channel)
        return self._channel

    async def wait_until_ready(self, timeout_s: float | None = None) -> None:
        channel = self._open()
        if self._connected:
            return
        try:
            await asyncio.wait_for(channel.channel_ready(),
                                   timeout_s or self.config.connect_timeout_s)
        except asyncio.TimeoutError:
            raise unreachable(self.config) from None
        self._connected = True

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def __aenter__(self) -> "AsyncTranslatorClient":
        self._open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- unary calls ------------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        await self.wait_until_ready()
        try:
            reply = await self._stub.ListModels(pb.ListModelsRequest(), metadata=self._metadata,
                                                timeout=self.config.call_timeout_s)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target, "ListModels") from None
        return [ModelInfo.from_proto(m) for m in reply.models]

    async def health(self, model: str = "") -> str:
        from pix2pix_stream.client.health import check_async

        await self.wait_until_ready()
        return await check_async(self._channel, model, metadata=self._metadata,
                                 timeout=self.config.call_timeout_s, target=self.target)

    # -- frames -----------------------------------------------------------------------------
    async def stream(self, frames: Frames, *, model: str, mode: str = "lossless",
                     encoding: str = "raw", size: tuple[int, int] | None = None,
                     input_encoding: str = "raw", jpeg_quality: int = 0,
                     scale: str | int | None = None,
                     temporal: str | None = None) -> AsyncIterator[TranslatedFrame]:
        config = fr.stream_config(model, mode=mode, encoding=encoding, size=size,
                                  jpeg_quality=jpeg_quality, scale=scale, temporal=temporal)
        await self.wait_until_ready()
        source = AsyncReplayableRequests(frames, input_encoding)
        checker = fr.ReplyOrder(mode, self.target)
        failover = Failover(self.config.max_failovers)
        while True:  # one call, or more when a replica goes away mid-stream (client.failover)
            call = self._stub.Translate(source.requests(config), metadata=self._metadata,
                                        timeout=self.config.stream_timeout_s)
            try:
                async for reply in call:
                    source.raise_error()
                    yield accepted(reply, checker, source, failover)
                break
            except grpc.RpcError as exc:
                source.raise_error()
                pause = failover.pause_before_retry(exc)
                if pause is None:
                    raise await self._diagnose(exc, model, "Translate") from None
                await asyncio.sleep(pause)
                if not await self._a_replica_is_up():
                    raise await self._diagnose(exc, model, "Translate") from None
            finally:
                call.cancel()
        source.raise_error()

    async def _a_replica_is_up(self) -> bool:
        """As TranslatorClient._a_replica_is_up."""
        try:
            await asyncio.wait_for(self._channel.channel_ready(), self.config.connect_timeout_s)
            return True
        except asyncio.TimeoutError:
            return False

    async def _diagnose(self, exc: grpc.RpcError, model: str, what: str) -> Exception:
        """The typed error for a failed stream. grpc.aio (1.85) can hide the status a server
        ended a stream with behind INTERNAL "Internal error from Core" when a request write
        raced with the end (grpc/grpc#36066); the common causes of such early ends (wrong
        token, unknown model) are then found with one ListModels call."""
        error = from_rpc_error(exc, self.target, what)
        if exc.code() != grpc.StatusCode.INTERNAL or "Internal error from Core" not in str(
                exc.details()):
            return error
        try:
            names = [m.name for m in await self.list_models()]
        except ClientError as probe_error:
            return probe_error
        if model not in names:
            return ModelNotFoundError(f"{what} failed: no model named {model!r}; loaded: "
                                      f"{', '.join(names) or 'none'}", target=self.target,
                                      code=grpc.StatusCode.NOT_FOUND)
        return error

    async def translate_frames(self, frames: Frames, *, model: str, mode: str = "lossless",
                               encoding: str = "raw", size: tuple[int, int] | None = None,
                               input_encoding: str = "raw",
                               scale: str | int | None = None,
                               temporal: str | None = None) -> AsyncIterator[np.ndarray]:
        async for reply in self.stream(frames, model=model, mode=mode, encoding=encoding,
                                       size=size, input_encoding=input_encoding, scale=scale,
                                       temporal=temporal):
            yield reply.image

    async def translate_image(self, image: np.ndarray, *, model: str,
                              size: tuple[int, int] | None = None,
                              encoding: str = "raw",
                              scale: str | int | None = None) -> np.ndarray:
        outputs = [o async for o in self.translate_frames([image], model=model, size=size,
                                                          encoding=encoding, scale=scale)]
        if len(outputs) != 1:
            raise ServerError(f"Translate returned {len(outputs)} images for 1", target=self.target)
        return outputs[0]

    # -- video files ------------------------------------------------------------------------
    async def translate_video(self, src: str | Path, dst: str | Path, *, model: str,
                              server_decode: bool = False, side_by_side: bool = False,
                              size: tuple[int, int] | None = None,
                              progress: Progress | None = None, codec: str = "",
                              audio: bool = True,
                              stop: threading.Event | None = None,
                              scale: str | int | None = None,
                              temporal: str | None = None) -> VideoResult:
        """As TranslatorClient.translate_video; decoding and encoding run in worker threads so
        the event loop stays free."""
        fr.temporal_filter(temporal)  # a bad value fails here, before the output is touched
        if server_decode:
            return await self._translate_video_on_server(src, dst, model=model, size=size,
                                                         side_by_side=side_by_side,
                                                         progress=progress, codec=codec,
                                                         stop=stop, scale=scale,
                                                         temporal=temporal)
        await self.wait_until_ready()
        job = LocalVideoJob(src, dst, size=size, side_by_side=side_by_side, codec=codec,
                            audio=audio, progress=progress, stop=stop)
        await asyncio.to_thread(job.__enter__)
        failed = True
        try:
            async for image in self.translate_frames(_pull(job.next_input), model=model,
                                                     size=size, scale=scale, temporal=temporal):
                await asyncio.to_thread(job.write, image)
            failed = False
        finally:
            await asyncio.to_thread(job.close, not failed)
        return job.result()

    async def _translate_video_on_server(self, src, dst, *, model, size, side_by_side,
                                         progress, codec, stop, scale=None,
                                         temporal=None) -> VideoResult:
        config = rv.video_config(model, dst, size=size, side_by_side=side_by_side, codec=codec,
                                 scale=scale, temporal=temporal)
        await self.wait_until_ready()
        with rv.ServerVideoJob(src, dst, config, progress, stop,
                               self.config.max_failovers) as job:
            for pause in job.pauses():  # after a failover: the job goes again, whole, elsewhere
                if pause:
                    await asyncio.sleep(pause)
                    if not await self._a_replica_is_up():
                        break
                upload, writer = job.next_call()
                job.call_ended(await self._video_call(upload, writer, model,
                                                      f"TranslateVideo of {src}"))
        return job.conclude(self.target)

    async def _video_call(self, upload: rv.Upload, writer: rv.ReplyWriter, model: str,
                          what: str) -> ClientError | None:
        """As TranslatorClient._video_call."""
        feed = _AsyncFeed.of(upload.async_requests())
        call = self._stub.TranslateVideo(feed.requests(), metadata=self._metadata,
                                         timeout=self.config.stream_timeout_s)
        upload.attach(call.cancel)
        error = None
        try:
            async for reply in call:
                writer.handle(reply)
        except grpc.RpcError as exc:
            feed.raise_error()
            error = await self._diagnose(exc, model, what)
        finally:
            upload.close()
            call.cancel()
        feed.raise_error()
        return error


async def _pull(next_item) -> AsyncIterator[np.ndarray]:
    """An async iterable over a blocking ``next_item()`` (None at the end), run in a thread."""
    while True:
        item = await asyncio.to_thread(next_item)
        if item is None:
            return
        yield item


class _AsyncFeed:
    """The request stream of a grpc.aio call. Like pipeline.RequestFeed: an exception in the
    source ends the requests and is kept for the receiving side, instead of being logged and
    turned into CANCELLED by grpc."""

    def __init__(self, requests: Iterable | AsyncIterable):
        self._source = requests
        self.error: BaseException | None = None

    @classmethod
    def of(cls, requests: Iterable | AsyncIterable) -> "_AsyncFeed":
        return cls(requests)

    async def requests(self):
        try:
            async for request in as_async_iter(self._source):
                yield request
        except Exception as exc:
            self.error = exc

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


