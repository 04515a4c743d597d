"""Conversions between numpy frames and the wire messages, shared by the sync and asyncio
clients. Pure functions: no channel, no threads."""
from __future__ import annotations

import json
from typing import Iterable, Iterator
import time
from dataclasses import dataclass, field
import numpy as np

from pix2pix_stream.client.errors import (InvalidInputError, InvalidOptionError, ServerError,
                                          from_status_code)
from pix2pix_stream.protos import translator_pb2 as pb

OUTPUT_ENCODINGS = {"raw": pb.RAW, "jpeg": pb.JPEG, "png": pb.PNG}
INPUT_ENCODINGS = ("raw", "jpeg", "png")
JPEG_QUALITY = 95  # of frames sent as JPEG (OpenCV's default, what the client always used)
MODES = {"lossless": pb.LOSSLESS, "live": pb.LIVE}
# The server's per-stream temporal filter (docs/temporal.md); None = the server's default.
TEMPORAL_FILTERS = {"off": pb.TEMPORAL_OFF, "light": pb.TEMPORAL_LIGHT,
                    "strong": pb.TEMPORAL_STRONG}


@dataclass(frozen=True)
class TranslatedFrame:
    """One reply of a Translate stream, with what a live client needs for latency reports."""

    sequence: int
    timestamp_us: int
    image: np.ndarray            # uint8 RGB [H, W, 3]
    queue_ms: float = 0.0
    inference_ms: float = 0.0
    dropped: tuple[int, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    input_width: int
    input_height: int
    direction: str
    input_transform: str
    input_transform_params: dict = field(default_factory=dict)
    precision: str = ""
    backend: str = ""
    max_batch: int = 0
    metadata: dict = field(default_factory=dict)
    # Geometry: the sizes the engine takes (multiples of size_multiple from min to max, as
    # (width, height)), its crop size, and the server's default scale policy ("fixed" for an
    # engine that takes only its input size).
    size_multiple: int = 0
    min_size: tuple[int, int] = (0, 0)
    max_size: tuple[int, int] = (0, 0)
    crop_size: int = 0
    scale: str = ""

    @classmethod
    def from_proto(cls, m: pb.ModelInfo) -> "ModelInfo":
        return cls(name=m.name, description=m.description, input_width=m.input_width,
                   input_height=m.input_height, direction=m.direction,
                   input_transform=m.input_transform,
                   input_transform_params=_json_object(m.input_transform_params),
                   precision=m.precision, backend=m.backend, max_batch=m.max_batch,
                   metadata=_json_object(m.metadata_json), size_multiple=m.size_multiple,
                   min_size=(m.min_width, m.min_height), max_size=(m.max_width, m.max_height),
                   crop_size=m.crop_size, scale=m.scale)


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"256x192"`` -> (256, 192); None or "" -> None."""
    if not text:
        return None
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
        raise ValueError(f"size must look like WIDTHxHEIGHT, e.g. 256x256; got {text!r}")
    return int(w), int(h)


def scale_text(scale: str | int | None) -> str:
    """The wire form of a scale policy ("engine", "native", "384"; "" = the server's default);
    ValueError for anything else."""
    if scale is None or scale == "":
        return ""
    from pix2pix_stream.media.geometry import ScalePolicy

    return str(ScalePolicy.parse(scale))


def temporal_filter(level: str | None) -> int:
    """The wire value (pb.TemporalFilter) of a temporal filter level: "off", "light" or
    "strong"; None or "" = the server's default. InvalidOptionError for anything else."""
    if level is None or level == "":
        return pb.TEMPORAL_FILTER_UNSPECIFIED
    if not isinstance(level, str) or level not in TEMPORAL_FILTERS:
        raise InvalidOptionError(f"temporal must be one of {', '.join(TEMPORAL_FILTERS)} "
                                 f"(or None: the server's default), got {level!r}")
    return TEMPORAL_FILTERS[level]


def stream_config(model: str, *, mode: str = "lossless", encoding: str = "raw",
                  size: tuple[int, int] | None = None, jpeg_quality: int = 0,
                  scale: str | int | None = None,
                  temporal: str | None = None) -> pb.StreamConfig:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    if encoding not in OUTPUT_ENCODINGS:
        raise ValueError(f"encoding must be one of {sorted(OUTPUT_ENCODINGS)}, got {encoding!r}")
    width, height = size or (0, 0)
    return pb.StreamConfig(model=model, encoding=OUTPUT_ENCODINGS[encoding], mode=MODES[mode],
                           jpeg_quality=jpeg_quality, output_width=width, output_height=height,
                           scale=scale_text(scale), temporal=temporal_filter(temporal))


def check_frame(frame: np.ndarray, index: int) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
            or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise InvalidInputError(f"frame {index}: expected a uint8 RGB array [H, W, 3], got {dtype} {shape}")
    return frame


def encode_image(frame: np.ndarray, encoding: str = "raw", into: pb.Image | None = None) -> pb.Image:
    """RGB array -> Image message; raw is lossless, jpeg trades quality for bandwidth. With
    ``into``, fills that message in place (a field of a request): protobuf copies a message
    handed to a constructor or CopyFrom, about 0.2 ms for a raw 256x256 frame."""
    image = pb.Image() if into is None else into
    if encoding == "raw":
        h, w = frame.shape[:2]
        raw = image.raw
        raw.width, raw.height, raw.format = w, h, pb.RGB24
        raw.data = np.ascontiguousarray(frame).tobytes()
        return image
    from pix2pix_stream.media import images as codecs  # OpenCV, only for compressed input

    if encoding == "jpeg":
        image.jpeg = codecs.encode_jpeg(frame, JPEG_QUALITY)
    else:
        image.png = codecs.encode_png(frame)
    return image


def decode_image(image: pb.Image) -> np.ndarray:
    """Image message -> uint8 RGB [H, W, 3]; ImageError (a ValueError) says what is wrong."""
    from pix2pix_stream.media import images as codecs  # OpenCV is imported lazily

    kind = image.WhichOneof("payload")
    if kind == "raw":
        raw = image.raw
        layout = {pb.GRAY8: "GRAY8", pb.BGR24: "BGR24"}.get(raw.format, "RGB24")
        return codecs.decode_raw(raw.data, raw.width, raw.height, layout, what="reply image")
    if kind in ("jpeg", "png"):
        return codecs.decode_compressed(getattr(image, kind), kind.upper(),
                                        what=f"reply {kind.upper()} image")
    raise ValueError("reply holds no image")


def now_us() -> int:
    return time.monotonic_ns() // 1000


def frame_request(frame: np.ndarray, index: int, input_encoding: str = "raw") -> pb.TranslateRequest:
    """Frame ``index`` stamped with the monotonic clock at the moment it is sent; the server
    echoes the stamp, so ``now_us() - reply.timestamp_us`` is the round-trip latency."""
    check_frame(frame, index)
    request = pb.TranslateRequest()
    request.frame.sequence = index
    encode_image(frame, input_encoding, into=request.frame.image)  # in place: no copies
    request.frame.timestamp_us = now_us()
    return request


def translated(reply: pb.TranslateResponse) -> TranslatedFrame:
    return TranslatedFrame(sequence=reply.sequence, timestamp_us=reply.timestamp_us,
                           image=decode_image(reply.image), queue_ms=reply.queue_ms,
                           inference_ms=reply.inference_ms, dropped=tuple(reply.dropped))


def translate_requests(config: pb.StreamConfig, frames: Iterable[np.ndarray],
                       input_encoding: str = "raw") -> Iterator[pb.TranslateRequest]:
    """The Translate request stream: the config, then the frames numbered from 0."""
    yield pb.TranslateRequest(config=config)
    for index, frame in enumerate(frames):
        yield frame_request(frame, index, input_encoding)


class ReplyOrder:
    """Checks every reply of a Translate stream: errors become exceptions naming the frame,
    sequence numbers must go up (and, losslessly, by exactly one)."""

    def __init__(self, mode: str, target: str):
        self._lossless = mode != "live"
        self._target = target
        self._expected = 0

    def check(self, reply: pb.TranslateResponse) -> TranslatedFrame:
        if reply.WhichOneof("result") == "error":
            raise from_status_code(reply.error.code, f"frame {reply.sequence}: "
                                   f"{reply.error.message}", self._target)
        if reply.sequence < self._expected or (self._lossless and reply.sequence != self._expected):
            raise ServerError(f"reply for frame {reply.sequence} arrived when frame "
                              f"{self._expected} was due", target=self._target)
        self._expected = reply.sequence + 1
        try:
            return translated(reply)
        except ValueError as exc:
            raise ServerError(f"frame {reply.sequence}: {exc}", target=self._target) from None
