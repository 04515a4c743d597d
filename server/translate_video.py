"""One ``TranslateVideo`` call: the upload goes into an ``UploadBuffer`` as it arrives, a
``VideoJob`` (``server.video``) decodes, translates and encodes it in its own threads, progress
messages flow while it runs, and the finished container goes back in chunks.

The servicer only opens and closes the call (limits, log lines, metrics, statuses) around
``TranslateVideoStream.run``, as it does around ``TranslateStream.run`` for frame streams.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
from typing import AsyncIterator

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server.config import ServerConfig
from pix2pix_stream.server.engine_set import LoadedModel
from pix2pix_stream.server.errors import StreamConfigError
from pix2pix_stream.server.job_cleanup import close_in_own_thread
from pix2pix_stream.server.job_watch import JobWatch, delivers_output
from pix2pix_stream.server.limits import JobBudget
from pix2pix_stream.server.metrics import Metrics
from pix2pix_stream.server.upload import UploadBuffer
from pix2pix_stream.server.video import VideoJob
from pix2pix_stream.server.video_output import VideoPlan

OUTPUT_CHUNK_BYTES = 1024 * 1024
MESSAGE_OVERHEAD_BYTES = 1024  # room for the VideoResponse around an output chunk


class TranslateVideoStream:
    def __init__(self, model: LoadedModel, plan: VideoPlan, config: ServerConfig, *,
                 metrics: Metrics, pool: concurrent.futures.Executor, budget: JobBudget,
                 job_state: dict, temporal: str, draining: asyncio.Event):
        self._config = config
        self._pool = pool
        self._budget = budget
        self._draining = draining
        self._job_state = job_state  # shared with the servicer's idle timeout and cleanup hook
        self._progress: asyncio.Queue = asyncio.Queue()
        self.upload = job_state["upload"] = UploadBuffer(config.max_video_bytes,
                                                         config.video_tmp_dir)
        loop = asyncio.get_running_loop()
        self.job = job_state["job"] = VideoJob(
            model, plan, self.upload, max_pixels=config.max_pixels,
            queue_depth=max(config.inflight_per_stream, model.batcher.max_batch),
            tmp_dir=config.video_tmp_dir, metrics=metrics, budget=budget, temporal=temporal,
            notify=lambda item: loop.call_soon_threadsafe(self._progress.put_nowait, item))

    def counts(self) -> dict:
        """The call's counters, for the servicer's close log line."""
        stopped = {"stopped": True} if self.job.stopped else {}
        return {"frames_in": self.job.frames_in, "frames_out": self.job.frames_out,
                "upload_bytes": self.upload.size, **stopped}

    async def run(self, requests: AsyncIterator[pb.VideoRequest]
                  ) -> AsyncIterator[pb.VideoResponse]:
        """Progress while the job runs, then every frame that decoded (even before an error),
        then ``done``; an upload or job error is raised after the output it left."""
        feeder = asyncio.create_task(_feed_upload(requests, self.upload, self.job, self._budget))
        watch = JobWatch(self.job, self._budget, self._draining)
        self.job.start()
        try:
            while (message := await watch.next(self._progress)) is not None:  # None: job over
                yield pb.VideoResponse(progress=message)
            watch.raise_if_ended_by_server()
            if self.job.frames_out and delivers_output(self.job.error):
                async for chunk in self._output_chunks():
                    yield pb.VideoResponse(chunk=chunk)
            upload_error = feeder.exception() if feeder.done() else None
            if upload_error is not None or self.job.error is not None:
                raise upload_error or self.job.error
            yield pb.VideoResponse(done=self.job.info)
        finally:
            watch.close()
            feeder.cancel()
            self.job.cancel()
            closing = close_in_own_thread(self.job)
            if not watch.out_of_grace:  # then the status must go now; the threads end anyway
                await closing
            self._job_state["closed"] = True

    async def _output_chunks(self) -> AsyncIterator[bytes]:
        size = min(OUTPUT_CHUNK_BYTES, self._config.max_message_bytes - MESSAGE_OVERHEAD_BYTES)
        loop = asyncio.get_running_loop()
        with open(self.job.output_path, "rb") as fh:
            while chunk := await loop.run_in_executor(self._pool, fh.read, size):
                yield chunk


async def _feed_upload(requests, upload: UploadBuffer, job: VideoJob,
                       budget: JobBudget) -> None:
    """Appends the uploaded chunks. The upload ends at ``last``, at ``stop`` or when the client
    half-closes (without ``last`` first, the job finds a truncated file). After ``last`` the
    stream is still read: a client may send ``stop`` while the server is translating."""
    try:
        async for request in requests:
            kind = request.WhichOneof("msg")
            if kind == "config":
                raise StreamConfigError("a video stream carries one config, then only chunks")
            if kind == "chunk":
                budget.check_disk(len(request.chunk))
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
