"""Reading and writing video files with PyAV for local (client-side) translation.

VideoSource decodes RGB frames with their presentation timestamps and collects the audio
packets it passes on the way; VideoSink encodes translated frames at those same timestamps
(so frame count, rate and duration survive) and remuxes the audio packets untouched."""
from __future__ import annotations

import queue
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import av.logging
import numpy as np

from pix2pix_stream.client.errors import InputFileError, OutputFileError
from pix2pix_stream.client.output_file import PendingFile
from pix2pix_stream.media.errors import NoVideoStreamError, VideoDecodeError, VideoOpenError
from pix2pix_stream.media.video_decode import VideoDecoder, VideoStreamInfo


class VideoSource:
    """An input file (or URL PyAV can open), decoded by the media layer (upright frames, their
    timestamps). Use as a context manager; iterate ``frames()``."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        try:
            self._decoder = VideoDecoder(self.path, audio=True)
            self.info = self._decoder.info
        except NoVideoStreamError:
            raise InputFileError(f"{self.path} has no video stream") from None
        except VideoOpenError as exc:
            raise InputFileError(f"cannot open video {self.path}: {exc.reason}") from exc
        self.audio = self._decoder.audio
        self._audio_packets: queue.SimpleQueue = queue.SimpleQueue()

    def frames(self, with_audio: bool = True) -> Iterator[tuple[np.ndarray, int]]:
        """Yields (uint8 RGB [H, W, 3], pts in ``info.time_base``) in presentation order; audio
        packets met on the way are kept for ``take_audio()``."""
        keep = self._audio_packets.put if with_audio else None
        try:
            for frame in self._decoder.frames(on_audio=keep):
                yield frame.rgb, frame.pts
        except VideoDecodeError as exc:
            raise InputFileError(f"{self.path}: {exc}") from exc

    def take_audio(self) -> list:
        packets = []
        while not self._audio_packets.empty():
            packets.append(self._audio_packets.get_nowait())
        return packets

    def close(self) -> None:
        self._decoder.close()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoSink:
    """An output file: H.264 (by default) at the input's timestamps, optional input | output
    layout, audio copied from ``audio_template`` (an input audio stream) when given.

    It is written under a temporary name (client.output_file) and moved to ``path`` by
    close() when it holds a frame; without one it is deleted. An odd size the encoder refuses
    (H.264 and H.265 in 4:2:0) is rounded down to even; ``note`` then says so."""

    def __init__(self, path: str | Path, info: VideoStreamInfo, *, size: tuple[int, int] | None = None,
                 side_by_side: bool = False, codec: str = "libx264", crf: int | None = 18,
                 audio_template=None):
        self.path = str(path)
        self.panel = size or (info.width, info.height)  # (width, height) of one picture
        self.side_by_side = side_by_side
        self.note = self._fit_encoder(codec)
        width, height = self.panel[0] * (2 if side_by_side else 1), self.panel[1]
        self._last_pts: int | None = None
        self.frames_written = 0
        self._file = PendingFile(path)
        self._file.prepare()
        try:
            self._container = av.open(str(self._file.path), "w")
        except (av.FFmpegError, OSError, ValueError) as exc:
            self._file.discard()
            raise OutputFileError(f"cannot write {self.path}: {_reason(exc)}") from exc
        try:
            self.video = self._container.add_stream(codec, rate=info.rate)
            self.video.width, self.video.height, self.video.pix_fmt = width, height, "yuv420p"
            self.video.time_base = info.time_base
            self.video.codec_context.time_base = info.time_base
            if crf is not None and codec in ("libx264", "libx265"):
                self.video.options = {"crf": str(crf)}
            self.audio = (self._container.add_stream_from_template(audio_template)
                          if audio_template is not None else None)
        except (av.FFmpegError, ValueError) as exc:
            self._container.close()
            self._file.discard()
            raise OutputFileError(f"cannot set up {codec} video in {self.path}: {_reason(exc)}") from exc

    def _fit_encoder(self, codec: str) -> str:
        """Rounds ``panel`` down to even numbers when the encoder cannot take the odd size;
        returns a one-line note saying so, or ""."""
        factor = 2 if self.side_by_side else 1
        width, height = self.panel[0] * factor, self.panel[1]
        fitted = encodable_size(codec, "yuv420p", width, height)
        if fitted == (width, height):
            return ""
        self.panel = (fitted[0] // factor, fitted[1])
        return (f"note: {codec} cannot encode {width}x{height} (4:2:0 needs even sizes); "
                f"{self.path} is scaled to {fitted[0]}x{fitted[1]}")

    def write(self, image: np.ndarray, pts: int, original: np.ndarray | None = None) -> None:
        picture = _fit(image, self.panel)
        if self.side_by_side:
            picture = np.concatenate([_fit(original, self.panel), picture], axis=1)
        # Encoders need strictly increasing timestamps; a file with duplicates still keeps
        # every frame this way.
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = pts
        frame.time_base = self.video.codec_context.time_base
        self._mux(self.video.encode(frame))
        self.frames_written += 1

    def write_audio(self, packets: list) -> None:
        if self.audio is None:
            return
        for packet in packets:
            packet.stream = self.audio
            self._mux(packet)

    def _mux(self, packets) -> None:
        try:
            self._container.mux(packets)
        except (av.FFmpegError, OSError) as exc:
            raise OutputFileError(f"cannot write {self.path}: {_reason(exc)}") from exc

    def close(self) -> None:
        """Flushes the encoder and writes the container trailer: after this the file plays,
        also when translation stopped half way (Ctrl-C). A file without frames is deleted."""
        if self._container is None:
            return
        flushed = False
        try:
            self._mux(self.video.encode())
            flushed = True
        finally:
            self._container.close()
            self._container = None
            if flushed and self.frames_written:
                self._file.keep()
            else:
                self._file.discard()

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def encodable_size(codec: str, pix_fmt: str, width: int, height: int) -> tuple[int, int]:
    """(width, height) when the encoder takes it, else rounded down to even numbers. Whether an
    odd size works depends on the encoder (FFV1, VP8/VP9 and MPEG-4 take 161x121 in yuv420p;
    libx264 and libx265 refuse it), so the encoder is asked; the server does the same."""
    if width % 2 == 0 and height % 2 == 0:
        return width, height
    try:
        context = av.CodecContext.create(codec, "w")
        context.width, context.height, context.pix_fmt = width, height, pix_fmt
        context.time_base = Fraction(1, 25)
        with av.logging.Capture():  # the refusal is expected; keep it off the terminal
            context.open()
        return width, height
    except (av.FFmpegError, ValueError):
        # An unknown codec fails here too and is reported where the stream is added.
        return max(2, width // 2 * 2), max(2, height // 2 * 2)


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[1] == size[0] and image.shape[0] == size[1]:
        return image
    import cv2

    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)
