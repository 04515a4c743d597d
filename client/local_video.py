"""Client-side video translation: decode with PyAV, stream the frames, encode the replies.

Three things run at once: a prefetch thread decodes frames ahead, gRPC's sender thread sends
them, and the caller's thread receives translations in order and encodes them. Translated
frame i is written at input frame i's timestamp, so count, rate and duration are kept."""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from pix2pix_stream.client.errors import InputFileError, StoppedError
from pix2pix_stream.client.partial import truncation
from pix2pix_stream.client.pipeline import Prefetcher
from pix2pix_stream.client.video_io import VideoSink, VideoSource

Progress = Callable[[int, int], None]  # (frames done, frames total or 0)


@dataclass(frozen=True)
class VideoResult:
    path: str
    frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    has_audio: bool
    complete: bool = True  # False: stopped early, the file holds the first ``frames`` frames
    note: str = ""         # e.g. that an odd size was rounded to even for the encoder
    encoding: str = ""     # what was encoded how, e.g. "video: libx264 64x48; audio: aac copied"


class LocalVideoJob:
    """One file's translation. Enter it, send ``inputs()`` to the server, ``write()`` every
    reply in order; leaving closes the output so that it plays even after an interruption.
    Once ``stop`` is set, ``inputs()`` ends: the frames already sent are still written."""

    def __init__(self, src: str | Path, dst: str | Path, *, size: tuple[int, int] | None = None,
                 side_by_side: bool = False, codec: str = "", audio: bool = True,
                 progress: Progress | None = None, prefetch: int = 8,
                 stop: threading.Event | None = None):
        self._args = dict(src=src, dst=dst, size=size, side_by_side=side_by_side, codec=codec,
                          audio=audio, prefetch=prefetch)
        self._progress = progress
        self._stop = stop
        self.stopped = False  # inputs() ended at ``stop``, before the last frame
        self.truncated = ""   # why the input ended before the frames its container lists
        # (pts, original frame or None) of every frame sent and not yet written back
        self._pending: collections.deque = collections.deque()
        self.source: VideoSource | None = None
        self.sink: VideoSink | None = None
        self._prefetcher: Prefetcher | None = None

    def __enter__(self) -> "LocalVideoJob":
        a = self._args
        self.source = VideoSource(a["src"])
        try:
            template = self.source.audio if a["audio"] else None
            self.sink = VideoSink(a["dst"], self.source.info, size=a["size"],
                                  side_by_side=a["side_by_side"], codec=a["codec"],
                                  audio_template=template)
            self._prefetcher = Prefetcher(self.source.rgb_frames(with_audio=a["audio"]),
                                          depth=a["prefetch"], name="video-decode")
        except BaseException:
            if self.sink is not None:
                self.sink.close()  # deletes the output file: it holds no frame
            self.source.close()
            raise
        self._items = self._until_stopped()
        return self

    def _until_stopped(self) -> Iterator[tuple[np.ndarray, int]]:
        decoded = 0
        for item in self._prefetcher:
            if self._stop is not None and self._stop.is_set():
                self.stopped = True
                return
            decoded += 1
            yield item
        self.truncated = truncation(self.source, decoded)

    def inputs(self) -> Iterator[np.ndarray]:
        """The frames to translate; safe to iterate from gRPC's sender thread."""
        keep = self._args["side_by_side"]
        for image, pts in self._items:
            self._pending.append((pts, image if keep else None))
            yield image

    def next_input(self) -> np.ndarray | None:
        """One frame of ``inputs()`` for callers that pull (the asyncio client, from a worker
        thread); None at the end (StopIteration cannot cross an asyncio future)."""
        item = next(self._items, None)
        if item is None:
            return None
        image, pts = item
        self._pending.append((pts, image if self._args["side_by_side"] else None))
        return image

    def write(self, translated: np.ndarray) -> None:
        pts, original = self._pending.popleft()
        self.sink.write_audio(self.source.take_audio())
        self.sink.write(translated, pts, original)
        if self._progress is not None:
            self._progress(self.sink.frames_written, self.source.info.estimated_frames)

    def __exit__(self, exc_type, *exc) -> None:
        self.close(complete=exc_type is None)

    def close(self, complete: bool) -> None:
        """Closes input and output; ``complete`` copies the audio not yet written."""
        try:
            self._prefetcher.close()  # before the source closes: the thread reads from it
            if complete:
                self.sink.write_audio(self.source.take_audio())
        finally:
            try:
                self.sink.close(partial=not complete or self.stopped or bool(self.truncated))
            finally:
                self.source.close()

    def result(self) -> VideoResult:
        """What was written, once closed; an output without frames was not kept (VideoSink)."""
        info, sink = self.source.info, self.sink
        if self.truncated:
            raise InputFileError(self.truncated)
        if sink.frames_written == 0:
            if self.stopped:
                raise StoppedError(f"stopped before the first frame; {sink.path} was not written")
            raise InputFileError(f"{self.source.path} holds no video frame; {sink.path} was not "
                                 f"written")
        return VideoResult(path=sink.path, frames=sink.frames_written, fps=float(info.rate),
                           duration_s=sink.frames_written / float(info.rate),
                           width=sink.size[0], height=sink.size[1],
                           has_audio=sink.has_audio, complete=not self.stopped,
                           note=sink.note, encoding=sink.description)
