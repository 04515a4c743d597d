"""One ``TranslateVideo`` job: decode the upload as it arrives, translate every frame through the
model's batcher, encode, copy the audio through, and write the output container.

Two threads per job. The decoder thread decodes the growing upload (``server.upload.UploadBuffer``)
with the media layer's decoder (upright frames), prepares each frame (engine size, input
transform) and submits it to the batcher; audio packets pass through untouched. The encoder thread takes the
results in decode order, resizes them back, encodes them with the input frame's own timestamp,
and muxes them with the audio. A bounded queue between the two is the job's backpressure.

``server.video_output`` writes the output container to a temporary file; it is not streamed
while it is encoded: MP4 must seek back (index, edit lists for the encoder delay and the AAC
priming) to keep frame timestamps and duration equal to the input's, and a fragmented MP4
cannot carry those. ``server.translate_video`` streams the finished file back in chunks;
progress messages flow while the job runs.
"""
from __future__ import annotations

import logging
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import av.logging
import numpy as np

from pix2pix_stream.media.errors import (NoVideoStreamError, VideoDecodeError, VideoOpenError,
                                         VideoReadError)
from pix2pix_stream.media.video_decode import DecodedFrame, VideoDecoder
from pix2pix_stream.media.geometry import ComputePlan, plan_compute
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server.errors import VideoInputError, VideoOutputError, VideoStoppedError, describe
from pix2pix_stream.server.job_cleanup import release_references
from pix2pix_stream.server.metrics import Metrics
from pix2pix_stream.server.temporal_filter import new_filter
from pix2pix_stream.server.engine_set import LoadedModel
from pix2pix_stream.server.upload import UploadBuffer
from pix2pix_stream.server.video_output import InputInfo, VideoPlan, VideoWriter

PROGRESS_INTERVAL_S = 0.2
FFMPEG_WORDS_MAX = 4        # distinct FFmpeg messages quoted in a status
FFMPEG_WORDS_CHARS = 400


def enable_ffmpeg_error_logs() -> None:
    """Routes FFmpeg's warnings and errors to Python (PyAV drops them by default), so that a
    failed upload's status can carry FFmpeg's own words ("moov atom not found", "File ended
    prematurely", "Packet corrupt"). Each decoder thread captures its own messages with
    av.logging.Capture. Warnings are needed: the AVI demuxer reports a cut file only as one."""
    level = av.logging.get_level()
    if level is None or level < av.logging.WARNING:
        av.logging.set_level(av.logging.WARNING)
        # Uncaptured warnings (encoders, FFmpeg's own threads) would flood the server log; it
        # keeps showing FFmpeg's errors only, as it did before warnings were routed.
        logging.getLogger("libav").setLevel(logging.ERROR)
    # PyAV swallows a message equal to the previous one, whichever job logged it; each job must
    # see its own.
    av.logging.set_skip_repeated(False)


@dataclass(frozen=True)
class _VideoItem:
    pts: int
    future: object              # concurrent.futures.Future[BatchResult]
    source: np.ndarray | None   # the input frame, kept for side-by-side output
    plan: ComputePlan           # its compute size (media.geometry): the padding to crop off
    engine_source: np.ndarray | None = None  # engine-sized, before the transform: temporal filter


class VideoJob:
    def __init__(self, model: LoadedModel, plan: VideoPlan, upload: UploadBuffer, *,
                 max_pixels: int, queue_depth: int, tmp_dir: Path | None, metrics: Metrics,
                 notify: Callable[[pb.VideoProgress | None], None], budget=None,
                 temporal: str = "off"):
        self.model = model
        self.plan = plan
        self.upload = upload
        self.error: BaseException | None = None
        self.info: pb.VideoInfo | None = None
        self.frames_in = 0
        self.frames_out = 0
        self._max_pixels = max_pixels
        self._notify = notify  # progress messages, then None once the job is over
        self._budget = budget  # server.limits.JobBudget: output limits, checked as frames go
        self._metrics = metrics
        self._temporal = new_filter(temporal)  # this job's own; runs in the encoder thread, in order
        self._items: queue.Queue = queue.Queue(maxsize=queue_depth)
        self._output_ready = threading.Event()
        self._cancelled = threading.Event()
        self._stopped = threading.Event()
        self._dir = Path(tempfile.mkdtemp(prefix="pix2pix-video-", dir=tmp_dir))
        self.output_path = self._dir / f"output.{plan.container}"
        self._frames_total = 0
        self._threads = [threading.Thread(target=self._decode, daemon=True, name="video-decode"),
                         threading.Thread(target=self._encode, daemon=True, name="video-encode")]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def cancel(self) -> None:
        self._cancelled.set()
        self.upload.fail(VideoInputError("the call was cancelled"))

    def stop(self) -> None:
        """The client's early end (VideoRequest.stop): decode no more and finish the output
        with the frames translated so far."""
        self._stopped.set()
        self.upload.finish()  # a read waiting for bytes that will never come ends now

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def close(self, timeout: float = 10.0) -> None:
        """Waits for both threads, then deletes the job's temporary files."""
        for thread in self._threads:
            thread.join(timeout)
        self.upload.release()
        shutil.rmtree(self._dir, ignore_errors=True)
        release_references(self._items, self.error, self.upload.failure)

    # -- decoder thread ----------------------------------------------------------------------

    def _decode(self) -> None:
        try:
            with av.logging.Capture() as logs:
                self._demux_and_decode(logs)
            outcome = ("end", None)
        except BaseException as exc:
            outcome = ("error", exc)
        if self._stopped.is_set():
            # Whatever the cut-off upload did to FFmpeg is no error: the client asked for it.
            outcome = ("end", None) if self.frames_in else (
                "error", VideoStoppedError("the client stopped the job before any frame "
                                           "was translated"))
        self._put(outcome)
        # Not left in this frame: exception -> traceback -> this frame -> exception is a cycle
        # that keeps the demuxer's frames (the container, FFmpeg's decoder threads) alive until
        # the garbage collector happens to run.
        del outcome

    def _demux_and_decode(self, logs: list) -> None:
        try:
            decoder = VideoDecoder(self.upload, audio=True)
        except NoVideoStreamError:
            raise VideoInputError("the upload has no video stream") from None
        except VideoOpenError as exc:
            raise VideoInputError(f"cannot read the upload: {_reason(exc, logs)}") from None
        with decoder:
            width, height = decoder.coded_size
            if width * height > self._max_pixels:
                raise VideoInputError(f"the upload's frames are {width}x{height}, more than the "
                                      f"server's limit of {self._max_pixels} pixels")
            info = decoder.info
            self._frames_total = info.frames
            if self._budget is not None:
                self._budget.check_start(info.frames,
                                         *self._output_frame_size(info.width, info.height))
            self._put(("start", InputInfo(decoder.audio, info.rate, info.time_base, info.width,
                                           info.height)))
            self._output_ready.wait()  # the encoder copies the audio stream's parameters first
            try:
                for frame in decoder.frames(on_audio=lambda packet: self._put(("audio", packet))):
                    if self._cancelled.is_set() or self._stopped.is_set():
                        return
                    self._put(("video", self._submit(frame)))
            except VideoDecodeError as exc:
                raise VideoInputError(f"decoding stopped after frame {self.frames_in}: "
                                      f"{_reason(exc, logs)}") from None
            if self.frames_in == 0:
                raise VideoInputError(f"the upload holds no decodable video frame"
                                      f"{_quoted(_ffmpeg_words(logs))}")
            self._check_complete(decoder.demuxer, logs)

    def _check_complete(self, demuxer: str, logs: list) -> None:
        """A demuxer error, or fewer frames than the container lists, means a cut or damaged
        file. Decoder complaints alone do not: healthy H.264 streams have some."""
        demuxer_errors = [m for level, name, m in logs
                          if name == demuxer and level <= av.logging.ERROR]
        if not demuxer_errors and self.frames_in >= self._frames_total:
            return
        total = self._frames_total or "?"
        ours = (f"the container lists {total} frames" if self.frames_in < self._frames_total
                else "the demuxer reported an error")
        words = _ffmpeg_words(logs) or "FFmpeg reported nothing more"
        raise VideoInputError(f"the upload is truncated or corrupt: decoded {self.frames_in} of "
                              f"{total} frames ({ours}; FFmpeg: {words})")

    def _submit(self, frame: DecodedFrame) -> _VideoItem:
        slot = self.model.batcher.reserve()  # before the RGB conversion: the batcher waits for it
        try:
            rgb = frame.rgb
            plan = plan_compute(rgb.shape[1], rgb.shape[0], self.plan.scale, self.model.geometry,
                                self._max_pixels)
            transform = None if self.model.transform.is_identity else self.model.transform
            source, pixels = plan.prepare_with_source(rgb, transform)
        except BaseException:
            slot.cancel()
            raise
        self.frames_in += 1
        self._metrics.frames_in.labels(self.model.name).inc()
        return _VideoItem(frame.pts, slot.submit(pixels), rgb if self.plan.side_by_side else None,
                          plan, source if self._temporal is not None else None)

    def _output_frame_size(self, width: int, height: int) -> tuple[int, int]:
        width, height = self.plan.output_size or (width, height)
        return (width * 2 if self.plan.side_by_side else width), height

    def _put(self, item) -> None:
        while not self._cancelled.is_set():
            try:
                self._items.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- encoder thread ----------------------------------------------------------------------

    def _encode(self) -> None:
        writer = None
        try:
            kind, payload = self._get()
            if kind == "error":
                raise payload
            writer = VideoWriter(self.output_path, self.plan, payload, self._max_pixels)
            self._output_ready.set()
            self._pump(writer)
        except BaseException as exc:
            self.error = self.error or exc
            self._cancelled.set()  # stops the decoder if it is still going
        finally:
            self._output_ready.set()
            if writer is not None:
                self._finish(writer)
            self._notify(None)

    def _pump(self, writer: "VideoWriter") -> None:
        last_progress = 0.0
        while True:
            kind, payload = self._get()
            if kind == "video":
                result = payload.future.result()
                result = replace(result, output=payload.plan.crop(result.output))
                if self._temporal is not None:
                    result = replace(result, output=self._temporal(payload.engine_source,
                                                                   result.output))
                writer.write_frame(result, payload.pts, payload.source)
                self.frames_out += 1
                self._metrics.frames_out.labels(self.model.name).inc()
                if self._budget is not None:
                    self._budget.check_progress(self.frames_out, self.output_path)
                if time.monotonic() - last_progress >= PROGRESS_INTERVAL_S:
                    last_progress = time.monotonic()
                    self._notify(self._progress())
            elif kind == "audio":
                writer.write_audio(payload)
            elif kind == "error":
                self.error = payload
                return
            else:
                return

    def _finish(self, writer: "VideoWriter") -> None:
        try:
            writer.close()
            if self.frames_out:
                self.info = writer.describe(self.frames_out)
        except BaseException as exc:
            self.error = self.error or VideoOutputError(f"cannot finish the output: {describe(exc)}")
        self._notify(self._progress())

    def _get(self):
        while True:
            try:
                return self._items.get(timeout=0.1)
            except queue.Empty:
                if self._cancelled.is_set():
                    raise VideoInputError("the call was cancelled") from None

    def _progress(self) -> pb.VideoProgress:
        return pb.VideoProgress(frames_done=self.frames_out, frames_total=self._frames_total)


def _reason(exc: VideoReadError, logs: list) -> str:
    """FFmpeg's own words: the error's strerror plus what FFmpeg logged."""
    return f"{exc.reason}{_quoted(_ffmpeg_words(logs))}"


def _ffmpeg_words(logs: list) -> str:
    """The distinct warnings and errors FFmpeg logged in this thread, first ones first, cut to a
    length that fits a status message (a damaged stream can log one per macroblock)."""
    messages = list(dict.fromkeys(m.strip().rstrip(".") for level, _, m in logs
                                  if level <= av.logging.WARNING and m.strip()))
    text = "; ".join(messages[:FFMPEG_WORDS_MAX])
    if len(messages) > FFMPEG_WORDS_MAX:
        text += f"; ... {len(messages) - FFMPEG_WORDS_MAX} more"
    return text if len(text) <= FFMPEG_WORDS_CHARS else text[:FFMPEG_WORDS_CHARS - 3] + "..."


def _quoted(words: str) -> str:
    return f" ({words})" if words else ""
