"""TranslatorClient: the synchronous client library."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import grpc
import numpy as np

from pix2pix_stream.client import frames as fr
from pix2pix_stream.client import remote_video as rv
from pix2pix_stream.client.channel import call_metadata, open_channel, unreachable
from pix2pix_stream.client.config import ClientConfig, as_config
from pix2pix_stream.client.errors import ClientError, ServerError, from_rpc_error
from pix2pix_stream.client.failover import Failover, ReplayableRequests, accepted
from pix2pix_stream.client.frames import ModelInfo, TranslatedFrame
from pix2pix_stream.client.local_video import LocalVideoJob, Progress, VideoResult
from pix2pix_stream.client.partial import with_partial_output
from pix2pix_stream.client.pipeline import RequestFeed
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos.translator_pb2_grpc import TranslatorStub


class TranslatorClient:
    """A connection to one pix2pix-stream server or a set of replicas.

        with TranslatorClient("localhost:50051", token="...") as client:
            print([m.name for m in client.list_models()])
            for out in client.translate_frames(frames, model="facades"):
                ...

    ``target`` is a ClientConfig, or a target (see ClientConfig) plus ClientConfig's options as
    keywords (token, tls, connect_timeout_s, ...). Thread-safe: calls from several threads
    share the channel.
    """

    def __init__(self, target: str | Sequence[str] | ClientConfig | None = None, **options):
        self.config = as_config(target, **options)
        self.target = self.config.display_target
        self._metadata = call_metadata(self.config)
        self._channel = open_channel(self.config)
        self._stub = TranslatorStub(self._channel)
        self._connected = threading.Event()
        self._connect_lock = threading.Lock()

    # -- connection -------------------------------------------------------------------------
    def wait_until_ready(self, timeout_s: float | None = None) -> None:
        """Blocks until a connection to (one of) the server(s) is up; ServerUnavailableError
        after ``timeout_s`` (default: the config's connect timeout)."""
        if self._connected.is_set():
            return
        with self._connect_lock:
            if self._connected.is_set():
                return
            ready = grpc.channel_ready_future(self._channel)
            try:
                ready.result(timeout=timeout_s or self.config.connect_timeout_s)
            except grpc.FutureTimeoutError:
                ready.cancel()  # stops watching the channel's connectivity
                raise unreachable(self.config) from None
            self._connected.set()

    def _a_replica_is_up(self) -> bool:
        """Waits (up to the connect timeout) until the channel has a server to talk to: after a
        failover, the one that went away is skipped by round_robin once it is down."""
        ready = grpc.channel_ready_future(self._channel)
        try:
            ready.result(timeout=self.config.connect_timeout_s)
            return True
        except grpc.FutureTimeoutError:
            ready.cancel()
            return False

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "TranslatorClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- unary calls ------------------------------------------------------------------------
    def list_models(self) -> list[ModelInfo]:
        self.wait_until_ready()
        try:
            reply = self._stub.ListModels(pb.ListModelsRequest(), metadata=self._metadata,
                                          timeout=self.config.call_timeout_s)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.target, "ListModels") from None
        return [ModelInfo.from_proto(m) for m in reply.models]

    def health(self, model: str = "") -> str:
        """The standard gRPC health status: "SERVING", "NOT_SERVING", ...; ``model`` asks about
        one engine, "" about the server as a whole."""
        from pix2pix_stream.client.health import check

        self.wait_until_ready()
        return check(self._channel, model, metadata=self._metadata,
                     timeout=self.config.call_timeout_s, target=self.target)

    # -- frames -----------------------------------------------------------------------------
    def stream(self, frames: Iterable[np.ndarray], *, model: str, mode: str = "lossless",
               encoding: str = "raw", size: tuple[int, int] | None = None,
               input_encoding: str = "raw", jpeg_quality: int = 0,
               scale: str | int | None = None,
               temporal: str | None = None) -> Iterator[TranslatedFrame]:
        """Like translate_frames, with each reply's sequence number, echoed send time, server
        timings and (live mode) the sequence numbers the server dropped."""
        config = fr.stream_config(model, mode=mode, encoding=encoding, size=size,
                                  jpeg_quality=jpeg_quality, scale=scale, temporal=temporal)
        self.wait_until_ready()
        source = ReplayableRequests(frames, input_encoding)
        checker = fr.ReplyOrder(mode, self.target)
        failover = Failover(self.config.max_failovers)
        while True:  # one call, or more when a replica goes away mid-stream (client.failover)
            feed = RequestFeed(source.requests(config))
            call = self._stub.Translate(feed, metadata=self._metadata,
                                        timeout=self.config.stream_timeout_s)
            try:
                for reply in call:
                    if feed.error is not None:
                        raise feed.error
                    yield accepted(reply, checker, source, failover)
                break
            except grpc.RpcError as exc:
                if feed.error is not None:
                    raise feed.error from None
                if not failover.retry(exc) or not self._a_replica_is_up():
                    raise from_rpc_error(exc, self.target, "Translate") from None
            finally:
                feed.stop()
                call.cancel()
        if feed.error is not None:
            raise feed.error

    def translate_frames(self, frames: Iterable[np.ndarray], *, model: str,
                         mode: str = "lossless", encoding: str = "raw",
                         size: tuple[int, int] | None = None,
                         input_encoding: str = "raw",
                         scale: str | int | None = None,
                         temporal: str | None = None) -> Iterator[np.ndarray]:
        """Translates uint8 RGB [H, W, 3] frames over one stream; yields the translations in
        order, while later frames are still being sent (the iterable is consumed lazily).
        ``size`` = (width, height) of the outputs; default the input's. ``scale``: the size
        frames are translated at, aspect ratio kept: "engine" (short side = the engine's
        crop size), "native" (the frame's own size) or a short side in pixels; None = the
        server's default. ``temporal``: the server's temporal filter for this stream, "off",
        "light" or "strong" (each output blended with the previous one moved along the input's
        motion where the input only moved: less flicker); None = the server's default."""
        for reply in self.stream(frames, model=model, mode=mode, encoding=encoding, size=size,
                                 input_encoding=input_encoding, scale=scale, temporal=temporal):
            yield reply.image

    def translate_image(self, image: np.ndarray, *, model: str,
                        size: tuple[int, int] | None = None, encoding: str = "raw",
                        scale: str | int | None = None) -> np.ndarray:
        outputs = list(self.translate_frames([image], model=model, size=size, encoding=encoding,
                                             scale=scale))
        if len(outputs) != 1:
            raise ServerError(f"Translate returned {len(outputs)} images for 1", target=self.target)
        return outputs[0]

    # -- video files ------------------------------------------------------------------------
    def translate_video(self, src: str | Path, dst: str | Path, *, model: str,
                        server_decode: bool = False, side_by_side: bool = False,
                        size: tuple[int, int] | None = None, progress: Progress | None = None,
                        codec: str = "", audio: bool = True,
                        stop: threading.Event | None = None,
                        scale: str | int | None = None,
                        temporal: str | None = None) -> VideoResult:
        """Translates a video file into ``dst`` (container from its suffix; ``codec`` "" picks
        the encoder by container: H.264, VP9 for WebM). Locally decoded and encoded by default;
        ``server_decode`` sends the file to the server instead.
        ``progress(done, total)`` is called as frames complete (total 0 when unknown).
        Setting ``stop`` ends the job early: the result holds the frames done so far
        (``complete`` False); StoppedError when there were none. ``dst`` is written only
        when there is output to keep (client.output_file). ``scale``, ``temporal``: as
        translate_frames."""
        fr.temporal_filter(temporal)  # a bad value fails here, before the output is touched
        if server_decode:
            return self._translate_video_on_server(src, dst, model=model, size=size,
                                                   side_by_side=side_by_side, progress=progress,
                                                   codec=codec, stop=stop, scale=scale,
                                                   temporal=temporal)
        self.wait_until_ready()  # before the output file is created
        job = LocalVideoJob(src, dst, size=size, side_by_side=side_by_side, codec=codec,
                            audio=audio, progress=progress, stop=stop)
        try:
            with job:
                for image in self.translate_frames(job.inputs(), model=model, size=size,
                                                   scale=scale, temporal=temporal):
                    job.write(image)
            return job.result()
        except (ClientError, KeyboardInterrupt) as exc:  # a second Ctrl-C: the output is closed
            sink = job.sink
            raise with_partial_output(exc, sink and sink.path, sink.frames_written if sink else 0)

    def _translate_video_on_server(self, src, dst, *, model, size, side_by_side,
                                   progress, codec, stop, scale=None,
                                   temporal=None) -> VideoResult:
        config = rv.video_config(model, dst, size=size, side_by_side=side_by_side, codec=codec,
                                 scale=scale, temporal=temporal)
        self.wait_until_ready()
        with rv.ServerVideoJob(src, dst, config, progress, stop,
                               self.config.max_failovers) as job:
            for pause in job.pauses():  # after a failover: the job goes again, whole, elsewhere
                if pause:
                    time.sleep(pause)
                    if not self._a_replica_is_up():
                        break
                upload, writer = job.next_call()
                job.call_ended(self._video_call(upload, writer, f"TranslateVideo of {src}"))
        return job.conclude(self.target)

    def _video_call(self, upload: rv.Upload, writer: rv.ReplyWriter,
                    what: str) -> ClientError | None:
        """Runs one TranslateVideo call into ``writer``; the server's error, if any, is
        returned for the job to judge (after a stop it may be no failure)."""
        feed = RequestFeed(upload.requests())
        call = self._stub.TranslateVideo(feed, metadata=self._metadata,
                                         timeout=self.config.stream_timeout_s)
        upload.attach(call.cancel)
        error = None
        try:
            for reply in call:
                writer.handle(reply)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc, self.target, what)
        finally:
            upload.close()
            feed.stop()
            call.cancel()
        if feed.error is not None:
            raise feed.error
        return error
