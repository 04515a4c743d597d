"""Reading and writing video files with PyAV for local (client-side) translation.

VideoSource decodes RGB frames with their presentation timestamps and collects the audio
packets it passes on the way; VideoSink encodes translated frames at those same timestamps
(so frame count, rate and duration survive) and copies or transcodes the audio. Both are the
media layer's decoder and encoder, with the client's errors and its write-then-rename output."""
from __future__ import annotations

import queue
from pathlib import Path
from typing import Iterator

import numpy as np

from pix2pix_stream.client.errors import InputFileError, OutputFileError
from pix2pix_stream.client.output_file import PendingFile
from pix2pix_stream.media.errors import (NoVideoStreamError, VideoDecodeError, VideoOpenError,
                                         VideoWriteError)
from pix2pix_stream.media.video_decode import VideoDecoder, VideoStreamInfo
from pix2pix_stream.media.video_encode import VideoEncoder, container_for


class VideoSource(VideoDecoder):
    """An input file (or URL PyAV can open): the media layer's decoder (upright frames, their
    timestamps) with the client's errors, keeping the audio packets it meets for the output.
    Use as a context manager; iterate ``rgb_frames()``."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        try:
            super().__init__(self.path, audio=True)
        except NoVideoStreamError:
            raise InputFileError(f"{self.path} has no video stream") from None
        except VideoOpenError as exc:
            raise InputFileError(f"cannot open video {self.path}: {exc.reason}") from exc
        self._audio_packets: queue.SimpleQueue = queue.SimpleQueue()

    def rgb_frames(self, with_audio: bool = True) -> Iterator[tuple[np.ndarray, int]]:
        """Yields (uint8 RGB [H, W, 3], pts in ``info.time_base``) in presentation order; audio
        packets met on the way are kept for ``take_audio()``."""
        keep = self._audio_packets.put if with_audio else None
        try:
            for frame in self.frames(on_audio=keep):
                yield frame.rgb, frame.pts
        except VideoDecodeError as exc:
            raise InputFileError(f"{self.path}: {exc}") from exc

    def take_audio(self) -> list:
        packets = []
        while not self._audio_packets.empty():
            packets.append(self._audio_packets.get_nowait())
        return packets


class VideoSink:
    """An output file, encoded by the media layer (encoder per container, audio copied or
    transcoded) at the input's timestamps, optionally as input | output.

    It is written under a temporary name (client.output_file) and moved to ``path`` by
    close() when it holds a frame; without one it is deleted. ``note`` says when an odd size
    the encoder refuses was rounded down to even; ``description`` what was encoded how."""

    def __init__(self, path: str | Path, info: VideoStreamInfo, *,
                 size: tuple[int, int] | None = None, side_by_side: bool = False,
                 codec: str | None = None, crf: int | None = 18, audio_template=None):
        self.path = str(path)
        self._file = PendingFile(path)
        self._file.prepare()
        try:
            self._encoder = VideoEncoder(
                self._file.path, container=container_for(path),
                size=size or (info.width, info.height), rate=info.rate,
                time_base=info.time_base, codec=codec or None, crf=crf,
                side_by_side=side_by_side, audio_source=audio_template)
        except VideoWriteError as exc:
            self._file.discard()
            raise OutputFileError(f"{self.path}: {exc}") from exc
        self.note = self._encoder.size_note
        self.description = self._encoder.description
        self._closed = False

    @property
    def frames_written(self) -> int:
        return self._encoder.frames_written

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the encoded video."""
        return self._encoder.width, self._encoder.height

    @property
    def has_audio(self) -> bool:
        return self._encoder.has_audio

    def write(self, image: np.ndarray, pts: int, original: np.ndarray | None = None) -> None:
        self._guarded(self._encoder.write, image, pts, original)

    def write_audio(self, packets: list) -> None:
        for packet in packets:
            self._guarded(self._encoder.write_audio, packet)

    def _guarded(self, write, *args) -> None:
        try:
            write(*args)
        except VideoWriteError as exc:
            raise OutputFileError(f"{self.path}: {exc}") from exc

    def close(self, partial: bool = False) -> None:
        """Flushes the encoder and writes the container trailer: after this the file plays,
        also when translation stopped half way (Ctrl-C). A file without frames is deleted; a
        ``partial`` one does not replace an existing file (``path`` says where it went)."""
        if self._closed:
            return
        self._closed = True
        flushed = False
        try:
            self._guarded(self._encoder.close)
            flushed = True
        finally:
            if flushed and self.frames_written:
                self.path = str(self._file.keep(partial))
            else:
                self._file.discard()

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
