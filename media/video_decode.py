"""Decoding video with PyAV: the one demux/decode loop the client, the server and training use.

``VideoDecoder`` opens a file, a URL or a readable file object (the server's growing upload) and
yields upright uint8 RGB frames with their timestamps; audio packets met on the way go to a
callback, untouched, for an encoder to copy. Frames come out as they should be shown: a stream
whose display matrix says "turn me" (phones store portrait video as landscape plus a rotation)
is turned here, and ``info`` reports the displayed size. The rotation is only known from the
first decoded frame (PyAV exposes the display matrix as frame side data), so reading ``info``
decodes that frame; the coded size is known without decoding, for pixel limits.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import av
import numpy as np

from pix2pix_stream.media.errors import NoVideoStreamError, VideoDecodeError, VideoOpenError

DEFAULT_RATE = Fraction(25)  # for streams that state no frame rate
AudioSink = Callable[[av.Packet], None]


@dataclass(frozen=True)
class VideoStreamInfo:
    """The first video stream of a file, as it is shown."""

    width: int            # displayed (upright) size
    height: int
    rotation: int         # quarter turns counter-clockwise applied to show it upright: 0, 90, 180, 270
    rate: Fraction        # frames per second (average, else guessed, else 25)
    time_base: Fraction   # of the frames' pts
    frames: int           # as the container lists them; 0 when it does not say
    duration_s: float     # 0.0 when the container does not say
    has_audio: bool
    codec: str

    @property
    def estimated_frames(self) -> int:
        """The listed frame count, else one estimated from the duration (0 when neither)."""
        return self.frames or (round(self.duration_s * self.rate) if self.duration_s else 0)


class DecodedFrame:
    """One decoded frame. Its pixels are converted to upright RGB on first use of ``rgb``, so a
    caller can announce the frame to whoever waits for it before paying for the conversion."""

    def __init__(self, frame: av.VideoFrame, rotation: int, pts: int, time_base: Fraction,
                 index: int):
        self._frame = frame
        self._rotation = rotation
        self.pts = pts              # continued at the frame rate where the stream has none
        self.time_base = time_base  # the stream's
        self.index = index          # 0-based, in presentation order

    @functools.cached_property
    def rgb(self) -> np.ndarray:
        """uint8 [H, W, 3], upright."""
        rgb = self._frame.to_ndarray(format="rgb24")
        self._frame = None  # the pixels live on in the array
        return _upright(rgb, self._rotation)


class VideoDecoder:
    """One input. ``audio=True`` also demuxes the first audio stream, whose packets
    ``frames(on_audio=...)`` hands over. Use as a context manager."""

    def __init__(self, source: str | Path | BinaryIO, *, audio: bool = False):
        try:
            self._container = av.open(source if hasattr(source, "read") else str(source))
        except (av.FFmpegError, OSError) as exc:
            raise VideoOpenError(f"cannot open the video: {reason(exc)}", reason(exc)) from exc
        if not self._container.streams.video:
            self._container.close()
            raise NoVideoStreamError("the input has no video stream", "no video stream")
        self.video = self._container.streams.video[0]
        self.video.thread_type = "AUTO"  # frame threads: decoding is not the bottleneck then
        streams = self._container.streams
        self.audio = streams.audio[0] if audio and streams.audio else None
        self._has_audio = bool(streams.audio)
        self._items = self._demuxed()
        self._peeked: list = []          # what the rotation peek took from ``_items``
        self._peek_error: av.FFmpegError | None = None
        self._info: VideoStreamInfo | None = None
        self._last_pts: int | None = None
        self.frames_decoded = 0

    @property
    def coded_size(self) -> tuple[int, int]:
        """(width, height) as stored, before rotation; known without decoding."""
        return self.video.codec_context.width, self.video.codec_context.height

    @property
    def demuxer(self) -> str:
        """FFmpeg's name of the input format; its log messages carry this name."""
        return self._container.format.name

    @property
    def info(self) -> VideoStreamInfo:
        if self._info is None:
            self._info = self._describe(self._peek_rotation())
        return self._info

    def frames(self, on_audio: AudioSink | None = None) -> Iterator[DecodedFrame]:
        """Every frame in presentation order; audio packets (when opened with ``audio``) go to
        ``on_audio`` as they are met. VideoDecodeError says how many frames decoded first."""
        info = self.info
        step = max(1, round(1 / (info.rate * info.time_base)))
        for item in itertools.chain(self._peeked, self._rest()):
            if isinstance(item, av.Packet):
                if on_audio is not None:
                    on_audio(item)
                continue
            pts = item.pts if item.pts is not None else (
                0 if self._last_pts is None else self._last_pts + step)
            self._last_pts = pts
            yield DecodedFrame(item, info.rotation, pts, info.time_base, self.frames_decoded)
            self.frames_decoded += 1
        self._peeked = []

    def _rest(self) -> Iterator:
        if self._peek_error is not None:
            raise self._decode_error(self._peek_error)
        try:
            yield from self._items
        except av.FFmpegError as exc:
            raise self._decode_error(exc) from exc

    def _decode_error(self, exc: av.FFmpegError) -> VideoDecodeError:
        error = VideoDecodeError(f"cannot decode frame {self.frames_decoded}: {reason(exc)}",
                                 reason(exc), self.frames_decoded)
        error.__cause__ = exc
        return error

    def _demuxed(self) -> Iterator:
        """Audio packets and decoded video frames (av.VideoFrame) in demux order."""
        streams = [self.video] + ([self.audio] if self.audio is not None else [])
        for packet in self._container.demux(streams):
            if packet.stream is not self.video:
                if packet.dts is not None:  # the final empty packet only flushes a decoder
                    yield packet
                continue
            yield from packet.decode()

    def _peek_rotation(self) -> int:
        """Decodes up to the first frame (kept for ``frames()``) for its display matrix."""
        try:
            for item in self._items:
                self._peeked.append(item)
                if isinstance(item, av.VideoFrame):
                    return quarter_turns(item.rotation) * 90
        except av.FFmpegError as exc:
            self._peek_error = exc  # raised by frames() after what decoded before it
        return 0

    def _describe(self, rotation: int) -> VideoStreamInfo:
        v, c = self.video, self._container
        width, height = self.coded_size
        if rotation in (90, 270):
            width, height = height, width
        return VideoStreamInfo(
            width=width, height=height, rotation=rotation,
            rate=Fraction(v.average_rate or v.guessed_rate or DEFAULT_RATE),
            time_base=Fraction(v.time_base or Fraction(1, 90000)), frames=int(v.frames or 0),
            duration_s=float(c.duration / av.time_base) if c.duration else 0.0,
            has_audio=self._has_audio, codec=v.codec_context.name)

    def close(self) -> None:
        # Park the frame threads first, with the GIL released (flush_buffers waits for them):
        # freeing a codec context joins them while holding the GIL, and a thread that logs
        # meanwhile (PyAV routes FFmpeg's log through Python) would wait for it forever.
        self.video.codec_context.flush_buffers()
        # A demux generator left suspended (the caller stopped early) holds ``self`` in its
        # frame: a cycle that would keep the codec context, and its frame threads, alive until
        # the garbage collector runs. Closing it ends that frame now, while the container it
        # reads from is still open.
        self._items.close()
        self._peeked = []
        self._container.close()

    def __enter__(self) -> "VideoDecoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def quarter_turns(degrees: float) -> int:
    """A display rotation (counter-clockwise degrees, FFmpeg's sign) as quarter turns 0..3;
    angles between quarters round to the nearest."""
    return round(degrees / 90) % 4


def _upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    if not rotation:
        return rgb
    return np.ascontiguousarray(np.rot90(rgb, rotation // 90))


def reason(exc: BaseException) -> str:
    """FFmpeg's (or the OS's) own words for an error, without errno and path decorations."""
    return getattr(exc, "strerror", None) or str(exc)
