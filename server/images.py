"""Frame payloads (``Image`` messages) to RGB arrays and back, by the media layer's codecs:
decode with the size checked against the server's pixel limit before any pixel is
decompressed, resize, encode the reply. Runs in worker threads."""
from __future__ import annotations

import numpy as np

from pix2pix_stream.media import images as codecs
from pix2pix_stream.media.errors import ImageError
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server.errors import FrameError

_LAYOUTS = {pb.RGB24: "RGB24", pb.BGR24: "BGR24", pb.GRAY8: "GRAY8"}
LIMIT_NAME = "server's limit"


def decode_image(image: pb.Image, max_pixels: int) -> np.ndarray:
    """An ``Image`` message as uint8 RGB [H, W, 3]; FrameError names what is wrong."""
    kind = image.WhichOneof("payload")
    try:
        if kind == "raw":
            return _decode_raw(image.raw, max_pixels)
        if kind in ("jpeg", "png"):
            return codecs.decode_compressed(getattr(image, kind), kind.upper(), max_pixels,
                                            f"{kind.upper()} frame", LIMIT_NAME)
    except ImageError as exc:
        raise FrameError(str(exc)) from None
    raise FrameError("frame has no image (set raw, jpeg or png)")


def _decode_raw(raw: pb.RawImage, max_pixels: int) -> np.ndarray:
    if raw.format not in _LAYOUTS:
        raise FrameError(f"raw frame has no valid pixel format (got {raw.format}); "
                         "use RGB24, BGR24 or GRAY8")
    return codecs.decode_raw(raw.data, raw.width, raw.height, _LAYOUTS[raw.format], max_pixels,
                             "raw frame", LIMIT_NAME)


def encode_image(frame: np.ndarray, encoding: int, jpeg_quality: int = 0) -> pb.Image:
    """uint8 RGB [H, W, 3] as an ``Image`` in the stream's output encoding."""
    if encoding in (pb.OUTPUT_ENCODING_UNSPECIFIED, pb.RAW):
        return raw_image(frame)
    if encoding == pb.JPEG:
        return pb.Image(jpeg=codecs.encode_jpeg(frame, jpeg_quality))
    if encoding == pb.PNG:
        return pb.Image(png=codecs.encode_png(frame))
    raise FrameError(f"unknown output encoding {encoding}")


def raw_image(frame: np.ndarray) -> pb.Image:
    """uint8 RGB [H, W, 3] as a raw RGB24 ``Image``."""
    h, w = frame.shape[:2]
    return pb.Image(raw=pb.RawImage(width=w, height=h, format=pb.RGB24,
                                    data=np.ascontiguousarray(frame).tobytes()))
