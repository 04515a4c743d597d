"""Encoding video with PyAV: the one encoder set-up the client and the server use.

The container follows the output's suffix (or a muxer name); the video encoder follows the
container unless one is named (H.264 for MP4, MOV, Matroska and the rest; VP9 for WebM, which
holds nothing else we could pick by default). Frames are written at the input's own timestamps,
so frame count, rate and duration survive. The input's audio is copied packet for packet when
the container can hold its codec, else transcoded to the container's audio codec (AAC for MP4
and MOV, Opus for WebM). ``description`` says in one line what was done, for a CLI or a log.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import av.logging
import numpy as np

from pix2pix_stream.media.audio_output import AudioOutput
from pix2pix_stream.media.errors import VideoWriteError
from pix2pix_stream.media.resize import resize, side_by_side
from pix2pix_stream.media.video_decode import reason

# Output suffix -> FFmpeg muxer; other suffixes are left to FFmpeg's guess.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska",
              ".webm": "webm", ".avi": "avi"}
DEFAULT_VIDEO_ENCODER = "libx264"
VIDEO_ENCODERS = {"webm": "libvpx-vp9"}  # muxer -> encoder where H.264 will not do
CRF_ENCODERS = ("libx264", "libx265")     # encoders a ``crf`` setting applies to


def container_for(path: str | Path) -> str | None:
    """The muxer for an output path's suffix; None where FFmpeg should guess."""
    return CONTAINERS.get(Path(path).suffix.lower())


def video_encoder_for(container: str) -> str:
    return VIDEO_ENCODERS.get(container, DEFAULT_VIDEO_ENCODER)


def encoder_options(codec: str, crf: int | None) -> dict[str, str]:
    """The encoder's private options: the ``crf`` asked for, and for libx264 its CPU-independent
    mode. Without it, libx264's AVX-512 macroblock-tree code made different bitstreams from the
    same pictures (in 1 to 10 % of encodes, more under CPU load: 17 different files from 300
    encodes of one 160x120 clip with 3 busy cores; with it, 1 file). The mode swaps the
    CPU-specific float shortcuts for x264's reference code, so replicas on different CPUs also
    write the same bytes."""
    options = {"crf": str(crf)} if crf is not None and codec in CRF_ENCODERS else {}
    if codec == "libx264":
        options["x264-params"] = "cpu-independent=1"
    return options


def check_video_encoder(codec: str) -> None:
    """VideoWriteError unless ``codec`` names an FFmpeg video encoder this build has."""
    try:
        if av.codec.Codec(codec, "w").type != "video":
            raise VideoWriteError(f"{codec!r} is not a video encoder")
    except (av.codec.codec.UnknownCodecError, ValueError):
        raise VideoWriteError(f"unknown video encoder {codec!r} (FFmpeg encoder names, "
                              f"e.g. libx264, libx265, libvpx-vp9, mpeg4)") from None


def check_container(container: str) -> None:
    """VideoWriteError unless ``container`` names an FFmpeg muxer."""
    try:
        if not av.format.ContainerFormat(container).is_output:
            raise ValueError
    except ValueError:
        raise VideoWriteError(f"unknown output container {container!r} (FFmpeg muxer names, "
                              f"e.g. mp4, matroska, webm, mov)") from None


def pixel_format(codec: str) -> str:
    """yuv420p where the encoder takes it (every player does), else its first format."""
    formats = [f.name for f in (av.codec.Codec(codec, "w").video_formats or [])]
    if not formats or "yuv420p" in formats:
        return "yuv420p"
    return formats[0]


def encodable_size(codec: str, pix_fmt: str, width: int, height: int) -> tuple[int, int]:
    """(width, height) when the encoder takes it, else rounded down to even numbers. Whether
    an odd size works depends on the encoder, not only on 4:2:0 chroma (FFV1, VP8/VP9 and MPEG-4
    take 161x121 in yuv420p; libx264 and libx265 refuse it), so the encoder is asked: opening
    one costs a few milliseconds, once per output."""
    if width % 2 == 0 and height % 2 == 0:
        return width, height
    try:
        context = av.CodecContext.create(codec, "w")
        context.width, context.height, context.pix_fmt = width, height, pix_fmt
        context.time_base = Fraction(1, 25)
        with av.logging.Capture():  # the refusal is expected; keep it off the terminal and log
            context.open()
        return width, height
    except (av.FFmpegError, ValueError):
        # An unknown codec fails here too and is reported where the stream is added.
        return max(2, width // 2 * 2), max(2, height // 2 * 2)


class VideoEncoder:
    """One output file (errors are VideoWriteError, naming no path: callers know theirs): RGB frames (optionally input | output side by side) encoded at the
    timestamps given, plus the audio of ``audio_source`` (an input's audio stream).

    ``size`` is one picture's (width, height); a size the encoder refuses (odd, in 4:2:0 H.264)
    is rounded down to even and ``size_note`` says so. ``codec`` None picks by container."""

    def __init__(self, path: str | Path, *, size: tuple[int, int], rate: Fraction,
                 time_base: Fraction, container: str | None = None, codec: str | None = None,
                 bit_rate: int = 0, crf: int | None = None, side_by_side: bool = False,
                 audio_source: av.audio.stream.AudioStream | None = None):
        self.path = str(path)
        self.side_by_side = side_by_side
        try:
            # bitexact: no random track / segment UIDs (Matroska, WebM) and no version tags,
            # so the same frames make the same file.
            self._container = av.open(self.path, "w", format=container or container_for(path),
                                      container_options={"fflags": "+bitexact"})
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VideoWriteError(f"cannot create the output: {reason(exc)}", reason(exc)) from exc
        self.container = self._container.format.name
        self.codec = codec or video_encoder_for(self.container)
        try:
            self._video = self._add_video(size, rate, time_base, bit_rate, crf)
            self._audio = (AudioOutput(self._container, audio_source, self.container)
                           if audio_source is not None else None)
        except (av.FFmpegError, ValueError) as exc:
            self._container.close()
            raise VideoWriteError(f"cannot set up {self.codec} in {self.container}: "
                                  f"{reason(exc)}", reason(exc)) from exc
        self._last_pts: int | None = None
        self.frames_written = 0

    def _add_video(self, size, rate, time_base, bit_rate, crf) -> av.video.stream.VideoStream:
        stream = self._container.add_stream(self.codec, rate=rate)
        stream.pix_fmt = pixel_format(self.codec)
        factor = 2 if self.side_by_side else 1
        asked = (size[0] * factor, size[1])
        fitted = encodable_size(self.codec, stream.pix_fmt, *asked)
        self.panel = (fitted[0] // factor, fitted[1])  # one picture's (width, height)
        self.size_note = "" if fitted == asked else (
            f"{self.codec} cannot encode {asked[0]}x{asked[1]} {stream.pix_fmt}: the output "
            f"is scaled to {fitted[0]}x{fitted[1]}")
        stream.width, stream.height = self.panel[0] * factor, self.panel[1]
        # The input's time base, for the encoder too: timestamps pass through unrounded.
        stream.time_base = stream.codec_context.time_base = time_base
        if bit_rate:
            stream.bit_rate = bit_rate
        stream.options = encoder_options(self.codec, crf)
        return stream

    @property
    def width(self) -> int:
        return self._video.width

    @property
    def height(self) -> int:
        return self._video.height

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    @property
    def description(self) -> str:
        """e.g. "video: libvpx-vp9 1280x720; audio: aac -> opus (webm cannot hold aac)"."""
        audio = self._audio.description if self._audio is not None else "none"
        return f"video: {self.codec} {self.width}x{self.height}; audio: {audio}"

    def write(self, picture: np.ndarray, pts: int, original: np.ndarray | None = None) -> None:
        """One uint8 RGB frame at ``pts`` (in the time base given); ``original`` is the input
        shown beside it when writing side by side."""
        if self.side_by_side:
            picture = side_by_side(original, picture, self.panel)
        else:
            picture = resize(picture, *self.panel)
        # Encoders need strictly increasing timestamps; a file with duplicates still keeps
        # every frame this way.
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
        frame.pts = pts
        frame.time_base = self._video.codec_context.time_base
        self._mux(self._video.encode(frame))
        self.frames_written += 1

    def write_audio(self, packet: av.Packet) -> None:
        """One packet of ``audio_source``; ignored when the output has no audio."""
        if self._audio is not None:
            self._mux(self._audio.encode(packet))

    def _mux(self, packets) -> None:
        try:
            self._container.mux(packets)
        except (av.FFmpegError, OSError) as exc:
            raise VideoWriteError(f"cannot write the output: {reason(exc)}", reason(exc)) from exc

    def close(self) -> None:
        """Flushes the encoders and writes the container's trailer: after this the file plays,
        also when it ends early. The container is closed even when flushing fails."""
        if self._container is None:
            return
        try:
            self._mux(self._video.encode(None))
            if self._audio is not None:
                self._mux(self._audio.flush())
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> "VideoEncoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
