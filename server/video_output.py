"""The output side of a video job: the container file with the translated video stream and the
input's audio, written by the media layer's encoder (encoder per container, audio copied or
transcoded)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pix2pix_stream.media.errors import VideoWriteError
from pix2pix_stream.media.geometry import ScalePolicy
from pix2pix_stream.media.video_encode import (VideoEncoder, check_container, check_video_encoder,
                                               video_encoder_for)
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server.errors import VideoOutputError
from pix2pix_stream.server.translate import check_output_size, scale_policy

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
    """Checks a VideoConfig before any byte is decoded; no codec picks the container's."""
    container = config.container or DEFAULT_CONTAINER
    codec = config.codec or video_encoder_for(container)
    try:
        check_video_encoder(codec)
        check_container(container)
    except VideoWriteError as exc:
        raise VideoOutputError(str(exc)) from None
    check_output_size(config.output_width, config.output_height, max_pixels)
    size = (config.output_width, config.output_height) if config.output_width else None
    return VideoPlan(codec, container, config.bit_rate, size, config.side_by_side,
                     scale_policy(config.scale, default_scale))


@dataclass(frozen=True)
class InputInfo:
    """What the encoder needs to know about the upload's streams."""

    audio: av.audio.stream.AudioStream | None
    rate: Fraction
    time_base: Fraction
    width: int   # displayed size
    height: int


class VideoWriter:
    """The output container: translated video plus the input's audio."""

    def __init__(self, path: Path, plan: VideoPlan, source: InputInfo, max_pixels: int):
        width, height = plan.output_size or (source.width, source.height)
        check_output_size(width * 2 if plan.side_by_side else width, height, max_pixels)
        try:
            self._encoder = VideoEncoder(
                path, container=plan.container, codec=plan.codec, size=(width, height),
                rate=source.rate, time_base=source.time_base, bit_rate=plan.bit_rate,
                side_by_side=plan.side_by_side, audio_source=source.audio)
        except VideoWriteError as exc:
            raise VideoOutputError(str(exc)) from None
        if self._encoder.size_note:
            log.info("%s", self._encoder.size_note)
        log.info("video output: %s", self._encoder.description)
        self._plan, self._source, self._path = plan, source, path

    def write_frame(self, result, pts: int, source: np.ndarray | None) -> None:
        self._encoder.write(result.output, pts, source)

    def write_audio(self, packet: av.Packet) -> None:
        self._encoder.write_audio(packet)

    def close(self) -> None:
        self._encoder.close()

    def describe(self, frames: int) -> pb.VideoInfo:
        with av.open(str(self._path), "r") as written:
            duration = float(written.duration / av.time_base) if written.duration else 0.0
        return pb.VideoInfo(frames=frames, fps=float(self._source.rate), duration_s=duration,
                            width=self._encoder.width, height=self._encoder.height,
                            has_audio=self._encoder.has_audio, codec=self._plan.codec)
