"""Server-side video translation (TranslateVideo): the file's bytes go up in chunks, the
output container's bytes come back in chunks and are written as they arrive.

Stopping early (``stop``, the CLI's first Ctrl-C) does not cancel the call: the client sends
``stop = true`` and half-closes, the server finishes the output with the frames translated so
far and sends it. A cancelled call would leave nothing: the server sends the container only
once it is closed. If the server has not finished STOP_GRACE_S after the stop, the call is
cancelled and no output is written."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import grpc

from pix2pix_stream.client.errors import ClientError, InputFileError, OutputFileError, ServerError, StoppedError
from pix2pix_stream.client.failover import Failover
from pix2pix_stream.client.local_video import VideoResult
from pix2pix_stream.client.output_file import PendingFile
from pix2pix_stream.client.partial import with_partial_output
from pix2pix_stream.media.video_encode import CONTAINERS
from pix2pix_stream.media.video_encode import container_for as container_for_suffix
from pix2pix_stream.protos import translator_pb2 as pb

CHUNK_BYTES = 1 << 20
STOP_GRACE_S = 30.0
_POLL_S = 0.1  # how often a request stream held open looks at the stop event


def container_for(dst: str | Path) -> str:
    """The muxer the server is asked for: one of the suffixes the media layer names."""
    container = container_for_suffix(dst)
    if container is None:
        raise OutputFileError(f"{dst}: unknown container for suffix {Path(dst).suffix!r}; use "
                              f"one of {', '.join(sorted(CONTAINERS))}")
    return container


def video_config(model: str, dst: str | Path, *, size: tuple[int, int] | None,
                 side_by_side: bool, codec: str = "", bit_rate: int = 0,
                 scale: str | int | None = None, temporal: str | None = None) -> pb.VideoConfig:
    from pix2pix_stream.client.frames import scale_text, temporal_filter

    width, height = size or (0, 0)
    return pb.VideoConfig(model=model, codec=codec, bit_rate=bit_rate, container=container_for(dst),
                          output_width=width, output_height=height, side_by_side=side_by_side,
                          scale=scale_text(scale), temporal=temporal_filter(temporal))


def open_input(src: str | Path) -> BinaryIO:
    try:
        return open(src, "rb")
    except OSError as exc:
        raise InputFileError(f"cannot read {src}: {exc.strerror}") from exc


def video_chunks(src: BinaryIO) -> Iterator[pb.VideoRequest]:
    chunk = src.read(CHUNK_BYTES)
    while chunk:
        following = src.read(CHUNK_BYTES)
        yield pb.VideoRequest(chunk=chunk, last=not following)
        chunk = following
    if src.tell() == 0:
        raise InputFileError(f"{getattr(src, 'name', 'input')} is empty")


class Upload:
    """The requests of one TranslateVideo call: the config, then the file in chunks. With a
    ``stop`` event the stream stays open after the last chunk, until the call ends or ``stop``
    is set; then (or as soon as ``stop`` is set during the upload) it sends ``stop = true``,
    half-closes, and gives the server ``grace_s`` to finish before the call is cancelled."""

    def __init__(self, config: pb.VideoConfig, src: BinaryIO,
                 stop: threading.Event | None = None, grace_s: float | None = None):
        self._config, self._src, self._stop = config, src, stop
        self.grace_s = STOP_GRACE_S if grace_s is None else grace_s
        self._over = threading.Event()
        self._cancel: Callable[[], None] | None = None
        self._timer = None
        self.stop_sent = False
        self.timed_out = False

    def attach(self, cancel: Callable[[], None]) -> None:
        """What to call when the grace period after a stop runs out (the call's cancel)."""
        self._cancel = cancel

    def requests(self) -> Iterator[pb.VideoRequest]:
        """For the sync client; iterated by gRPC's sender thread, so it may block."""
        yield from self._upload(_thread_timer)
        if self.stop_sent or self._stop is None:
            return
        while not self._over.is_set():
            if self._stop.wait(_POLL_S):
                yield self._stop_request(_thread_timer)
                return

    async def async_requests(self):
        """For the asyncio client: the same, without blocking the event loop (the grace timer
        runs on the loop too: a grpc.aio call must be cancelled from its own loop)."""
        start_timer = asyncio.get_running_loop().call_later
        for request in self._upload(start_timer):
            yield request
        if self.stop_sent or self._stop is None:
            return
        while not self._over.is_set():
            if self._stop.is_set():
                yield self._stop_request(start_timer)
                return
            await asyncio.sleep(_POLL_S)

    def _upload(self, start_timer) -> Iterator[pb.VideoRequest]:
        yield pb.VideoRequest(config=self._config)
        for request in video_chunks(self._src):
            if self._stop is not None and self._stop.is_set():
                yield self._stop_request(start_timer)
                return
            yield request

    def _stop_request(self, start_timer) -> pb.VideoRequest:
        self.stop_sent = True
        self._timer = start_timer(self.grace_s, self._time_out)
        return pb.VideoRequest(stop=True)

    def _time_out(self) -> None:
        if not self._over.is_set() and self._cancel is not None:
            self.timed_out = True
            self._cancel()

    def close(self) -> None:
        """The call is over: a request stream still held open ends, the grace timer stops."""
        self._over.set()
        if self._timer is not None:
            self._timer.cancel()


def _thread_timer(delay_s: float, action: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(delay_s, action)
    timer.daemon = True
    timer.start()
    return timer


class ReplyWriter:
    """Handles TranslateVideo replies in arrival order: output bytes to a pending file (moved
    onto ``dst`` by close(keep=True)), progress to the callback, the closing report in
    ``done``."""

    def __init__(self, dst: str | Path, progress=None):
        self.dst = Path(dst)
        self._file = PendingFile(dst)
        self._file.prepare()
        try:
            self._out = open(self._file.path, "wb")
        except OSError as exc:
            raise OutputFileError(f"cannot write {dst}: {exc.strerror}") from exc
        self._progress = progress
        self.done: pb.VideoInfo | None = None
        self.frames_done = 0
        self.received = False  # any output bytes

    def handle(self, reply: pb.VideoResponse) -> None:
        kind = reply.WhichOneof("msg")
        if kind == "chunk":
            self._write(reply.chunk)
        elif kind == "progress":
            self.frames_done = reply.progress.frames_done
            if self._progress is not None:
                self._progress(reply.progress.frames_done, reply.progress.frames_total)
        elif kind == "done":
            self.done = reply.done

    def _write(self, data: bytes) -> None:
        self.received = True
        try:
            self._out.write(data)
        except OSError as exc:
            raise OutputFileError(f"cannot write {self.dst}: {exc.strerror}") from exc

    def close(self, keep: bool, partial: bool = False) -> None:
        """Keeps the output (a ``partial`` one beside an existing file, never over it; ``dst``
        is then where it went) or deletes it."""
        self._out.close()
        if keep:
            self.dst = self._file.keep(partial)
        else:
            self._file.discard()


class ServerVideoJob:
    """The calls of one server-side video job. A call whose server went away is made again,
    whole, on another replica (client.failover); this object makes each call's Upload and
    ReplyWriter, deletes the output when a call fails here (a local error, a cancellation),
    decides after each call whether the job goes again and after which pause, and judges the
    last call in conclude(). A client only waits and calls, in its own way (sync or asyncio):

        with ServerVideoJob(src, dst, config, progress, stop, max_failovers) as job:
            for pause in job.pauses():  # 0 before the first call
                if pause: wait it; stop if no replica is up
                upload, writer = job.next_call()
                job.call_ended(<the TranslateVideo call>(upload, writer))
        return job.conclude(target)
    """

    def __init__(self, src: str | Path, dst: str | Path, config: pb.VideoConfig, progress,
                 stop: threading.Event | None, max_failovers: int):
        self._src, self._dst, self._config = src, dst, config
        self._progress, self._stop = progress, stop
        self._failover = Failover(max_failovers)
        self._source: BinaryIO | None = None
        self._upload: Upload | None = None
        self._writer: ReplyWriter | None = None
        self._error: ClientError | None = None

    def __enter__(self) -> "ServerVideoJob":
        self._source = open_input(self._src)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None and self._writer is not None:
                self._writer.close(keep=False)  # a local failure or a cancellation: nothing to keep
        finally:
            self._source.close()

    def pauses(self) -> Iterator[float]:
        """The pause before each call: 0 before the first, then one a failover, until the
        outcome of the last call stands."""
        pause: float | None = 0.0
        while pause is not None:
            yield pause
            pause = self._sent_elsewhere()

    def next_call(self) -> tuple[Upload, ReplyWriter]:
        """The requests and the reply handler of the next call (the input from its start)."""
        self._writer = None  # the last one is closed; a failure here leaves nothing to close
        self._upload = Upload(self._config, self._source, self._stop)
        self._writer = ReplyWriter(self._dst, self._progress)
        self._error = None
        return self._upload, self._writer

    def call_ended(self, error: ClientError | None) -> None:
        """The call is over; ``error``: the server's, if any (after a stop it may be no
        failure: conclude judges)."""
        self._error = error

    def _sent_elsewhere(self) -> float | None:
        """After a failed call: the pause before the job goes, whole, to another replica (the
        server went away), or None when the outcome stands (success, a stop, an answer such as
        INVALID_ARGUMENT, retries used up). When it goes again, this call's output is
        discarded and the input rewound."""
        writer, upload, error = self._writer, self._upload, self._error
        if error is None or upload.stop_sent or writer.done is not None:
            return None
        pause = self._failover.pause_before_retry(error)
        if pause is not None:
            writer.close(keep=False)
            self._source.seek(0)
        return pause

    def conclude(self, target: str) -> VideoResult:
        """Keeps or deletes the last call's output once the job is over; returns the result or
        raises.

        The output is kept when the server sent ``done``, or when it ended the call with
        INVALID_ARGUMENT after output chunks: a truncated upload, for which the server sends a
        finished container of every frame that decoded. After a stop, that output is the
        partial result (an older server, which ignores ``stop``, sees the half-close as a
        truncated upload); without one, StoppedError says that nothing was written."""
        writer, upload, error = self._writer, self._upload, self._error
        kept = writer.done is not None if error is None else (
            writer.received and error.code == grpc.StatusCode.INVALID_ARGUMENT)
        writer.close(keep=kept, partial=error is not None or upload.stop_sent)
        if upload.stop_sent:
            if kept:
                return _partial_result(writer)
            raise StoppedError(_nothing_written(writer.dst, upload, error), target=target)
        if error is not None:
            raise with_partial_output(error, writer.dst if kept else None, writer.frames_done)
        if writer.done is None:
            raise ServerError(f"TranslateVideo ended without its final report; {writer.dst} was "
                              f"not written", target=target)
        return _result(writer.dst, writer.done, complete=True)


def _result(dst: Path, done: pb.VideoInfo, complete: bool) -> VideoResult:
    audio = "kept" if done.has_audio else "none"
    return VideoResult(path=str(dst), frames=done.frames, fps=done.fps, duration_s=done.duration_s,
                       width=done.width, height=done.height, has_audio=done.has_audio,
                       complete=complete, encoding=f"video: {done.codec} {done.width}x"
                       f"{done.height}; audio: {audio} (encoded by the server)")


def _partial_result(writer: ReplyWriter) -> VideoResult:
    if writer.done is not None:
        return _result(writer.dst, writer.done, complete=False)
    from pix2pix_stream.client.video_io import VideoSource  # PyAV, only for this rare case

    with VideoSource(writer.dst) as written:
        info = written.info
    return VideoResult(path=str(writer.dst), frames=writer.frames_done, fps=float(info.rate),
                       duration_s=info.duration_s, width=info.width, height=info.height,
                       has_audio=info.has_audio, complete=False)


def _nothing_written(dst: Path, upload: Upload, error: ClientError | None) -> str:
    if upload.timed_out:
        why = f"the server had not finished {upload.grace_s:g} s after the stop"
    elif error is not None:
        why = error.detail
    else:
        why = "the server sent no output"
    return f"stopped before any output arrived ({why}); {dst} was not written"
