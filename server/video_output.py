"""The output side of a video job: the container file with the translated video stream and the
input's audio (copied, or re-encoded when the container cannot hold it)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.logging
import numpy as np

from pix2pix_stream.media.geometry import ScalePolicy
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server import images
from pix2pix_stream.server.errors import VideoOutputError, describe
from pix2pix_stream.server.translate import check_output_size, scale_policy

DEFAULT_CODEC = "libx264"
DEFAULT_CONTAINER = "mp4"
log = logging.getLogger("pix2pix.server")


@dataclass(frozen=True)
class VideoPlan:
    codec: str
    container: str
    bit_rate: int
    output_size: tuple[int, int] | None  # None = the input's size
    side_by_side: bool
    scale: ScalePolicy = ScalePolicy()  # the compute-size policy (media.geometry)


def plan_video(config: pb.VideoConfig, max_pixels: int,
               default_scale: ScalePolicy = ScalePolicy()) -> VideoPlan:
    """Checks a VideoConfig before any byte is decoded."""
    codec = config.codec or DEFAULT_CODEC
    try:
        if av.codec.Codec(codec, "w").type != "video":
            raise VideoOutputError(f"{codec!r} is not a video encoder")
    except (av.codec.codec.UnknownCodecError, ValueError):
        raise VideoOutputError(f"unknown video encoder {codec!r} (FFmpeg encoder names, "
                               f"e.g. libx264, libx265, libvpx-vp9, mpeg4)") from None
    container = config.container or DEFAULT_CONTAINER
    try:
        if not av.format.ContainerFormat(container).is_output:
            raise ValueError
    except ValueError:
        raise VideoOutputError(f"unknown output container {container!r} (FFmpeg muxer names, "
                               f"e.g. mp4, matroska, webm, mov)") from None
    check_output_size(config.output_width, config.output_height, max_pixels)
    size = (config.output_width, config.output_height) if config.output_width else None
    return VideoPlan(codec, container, config.bit_rate, size, config.side_by_side,
                     scale_policy(config.scale, default_scale))


@dataclass(frozen=True)
class InputInfo:
    """What the encoder needs to know about the upload's streams."""

    stream: av.video.stream.VideoStream
    audio: av.audio.stream.AudioStream | None
    rate: Fraction
    time_base: Fraction
    width: int
    height: int


class VideoWriter:
    """The output container: translated video plus the input's audio."""

    def __init__(self, path: Path, plan: VideoPlan, source: InputInfo, max_pixels: int):
        width, height = plan.output_size or (source.width, source.height)
        self.frame_size = (width, height)
        total_width = width * 2 if plan.side_by_side else width
        check_output_size(total_width, height, max_pixels)
        self._container = av.open(str(path), "w", format=plan.container)
        try:
            self._video = self._container.add_stream(plan.codec, rate=source.rate)
            self._video.pix_fmt = _pixel_format(plan.codec)
            size = encodable_size(plan.codec, self._video.pix_fmt, total_width, height)
            if size != (total_width, height):
                log.info("%s cannot encode %dx%d %s: the output is scaled to %dx%d", plan.codec,
                         total_width, height, self._video.pix_fmt, *size)
                total_width, height = size
                width = total_width // 2 if plan.side_by_side else total_width
            self.frame_size = (width, height)
            self._video.width, self._video.height = total_width, height
            self._video.time_base = source.time_base
            if plan.bit_rate:
                self._video.bit_rate = plan.bit_rate
            self._audio = _AudioPassThrough(self._container, source.audio) if source.audio else None
        except BaseException as exc:
            self._container.close()
            raise VideoOutputError(f"cannot set up {plan.codec} in {plan.container}: "
                                   f"{describe(exc)}") from None
        self._plan, self._source, self._path = plan, source, path

    def write_frame(self, result, pts: int, source: np.ndarray | None) -> None:
        pixels = images.resize(result.output, *self.frame_size)
        if source is not None:
            pixels = np.concatenate([images.resize(source, *self.frame_size), pixels], axis=1)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        frame.pts = pts
        frame.time_base = self._source.time_base
        self._container.mux(self._video.encode(frame))

    def write_audio(self, packet: av.Packet) -> None:
        if self._audio is not None:
            self._audio.write(packet)

    def close(self) -> None:
        try:
            self._container.mux(self._video.encode(None))
            if self._audio is not None:
                self._audio.flush()
        finally:
            self._container.close()

    def describe(self, frames: int) -> pb.VideoInfo:
        with av.open(str(self._path), "r") as written:
            duration = float(written.duration / av.time_base) if written.duration else 0.0
        return pb.VideoInfo(frames=frames, fps=float(self._source.rate), duration_s=duration,
                            width=self._video.width, height=self._video.height,
                            has_audio=self._audio is not None, codec=self._plan.codec)


class _AudioPassThrough:
    """Copies audio packets; transcodes to the container's default audio codec only when the
    container cannot hold the input's codec (AAC into WebM, say)."""

    def __init__(self, container, source: av.audio.stream.AudioStream):
        self._source = source
        try:
            self._stream = container.add_stream_from_template(source)
            self._copy = True
        except ValueError:
            codec = container.default_audio_codec
            rate = _supported_rate(codec, source.codec_context.sample_rate)
            self._stream = container.add_stream(codec, rate=rate)  # PyAV resamples to it
            self._stream.layout = source.codec_context.layout
            self._copy = False

    def write(self, packet: av.Packet) -> None:
        container = self._stream.container
        if self._copy:
            packet.stream = self._stream
            container.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None  # the encoder numbers its own frames
            container.mux(self._stream.encode(frame))

    def flush(self) -> None:
        if not self._copy:
            self._stream.container.mux(self._stream.encode(None))


def _supported_rate(codec: str, rate: int) -> int:
    rates = av.codec.Codec(codec, "w").audio_rates  # None: any rate (Opus takes only a few)
    if not rates or rate in rates:
        return rate
    return min(rates, key=lambda r: (r < rate, abs(r - rate)))


def encodable_size(codec: str, pix_fmt: str, width: int, height: int) -> tuple[int, int]:
    """(width, height) when the encoder takes it, else rounded down to even numbers. Whether
    an odd size works depends on the encoder, not only on 4:2:0 chroma (FFV1, VP8/VP9 and MPEG-4
    take 161x121 in yuv420p; libx264 and libx265 refuse it), so the encoder is asked: opening
    one costs a few milliseconds, once per job."""
    if width % 2 == 0 and height % 2 == 0:
        return width, height
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = width, height, pix_fmt
    context.time_base = Fraction(1, 25)
    try:
        with av.logging.Capture():  # the refusal is expected; keep it out of the log
            context.open()
        return width, height
    except av.error.FFmpegError:
        return max(2, width // 2 * 2), max(2, height // 2 * 2)


def _pixel_format(codec: str) -> str:
    formats = [f.name for f in (av.codec.Codec(codec, "w").video_formats or [])]
    if not formats or "yuv420p" in formats:
        return "yuv420p"
    return formats[0]
