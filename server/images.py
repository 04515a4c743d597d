"""Frame payloads to RGB arrays and back: decode, check, resize, encode.

Runs in worker threads. JPEG and PNG are decoded with Pillow because it reads the header first:
the size is checked against the pixel limit before a single pixel is decompressed (no
decompression bombs), and truncated files raise instead of decoding to grey.
"""
from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from pix2pix_stream.media.resize import resize  # noqa: F401 (the server's frames use it from here)
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server.errors import FrameError

_CHANNELS = {pb.RGB24: 3, pb.BGR24: 3, pb.GRAY8: 1}
DEFAULT_JPEG_QUALITY = 90


def check_size(width: int, height: int, max_pixels: int, what: str = "frame") -> None:
    if width <= 0 or height <= 0:
        raise FrameError(f"{what} has a zero dimension ({width}x{height})")
    if width * height > max_pixels:
        raise FrameError(f"{what} is {width}x{height} = {width * height} pixels, "
                         f"more than the server's limit of {max_pixels}")


def decode_image(image: pb.Image, max_pixels: int) -> np.ndarray:
    """An ``Image`` message as uint8 RGB [H, W, 3]; FrameError names what is wrong."""
    kind = image.WhichOneof("payload")
    if kind == "raw":
        return _decode_raw(image.raw, max_pixels)
    if kind in ("jpeg", "png"):
        return _decode_compressed(getattr(image, kind), kind.upper(), max_pixels)
    raise FrameError("frame has no image (set raw, jpeg or png)")


def _decode_raw(raw: pb.RawImage, max_pixels: int) -> np.ndarray:
    if raw.format not in _CHANNELS:
        raise FrameError(f"raw frame has no valid pixel format (got {raw.format}); "
                         "use RGB24, BGR24 or GRAY8")
    check_size(raw.width, raw.height, max_pixels, "raw frame")
    channels = _CHANNELS[raw.format]
    expected = raw.width * raw.height * channels
    if len(raw.data) != expected:
        raise FrameError(f"raw frame has {len(raw.data)} bytes, expected {expected} "
                         f"({raw.width}x{raw.height}x{channels} {pb.PixelFormat.Name(raw.format)})")
    pixels = np.frombuffer(raw.data, np.uint8).reshape(raw.height, raw.width, channels)
    if raw.format == pb.BGR24:
        return np.ascontiguousarray(pixels[:, :, ::-1])
    if raw.format == pb.GRAY8:
        return np.repeat(pixels, 3, axis=2)
    return pixels


def _decode_compressed(data: bytes, kind: str, max_pixels: int) -> np.ndarray:
    if not data:
        raise FrameError(f"{kind} frame is empty")
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as img:
            check_size(img.width, img.height, max_pixels, f"{kind} frame")
            img.load()
            rgb = img.convert("RGB") if img.mode != "RGB" else img
            return np.asarray(rgb, dtype=np.uint8)
    except FrameError:
        raise
    except UnidentifiedImageError:
        raise FrameError(f"{kind} frame is not a valid {kind} image ({len(data)} bytes)") from None
    except Image.DecompressionBombError as exc:
        raise FrameError(f"{kind} frame rejected: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise FrameError(f"corrupt {kind} frame ({len(data)} bytes): {exc}") from None


def encode_image(frame: np.ndarray, encoding: int, jpeg_quality: int = 0) -> pb.Image:
    """uint8 RGB [H, W, 3] as an ``Image`` in the stream's output encoding."""
    if encoding in (pb.OUTPUT_ENCODING_UNSPECIFIED, pb.RAW):
        h, w = frame.shape[:2]
        return pb.Image(raw=pb.RawImage(width=w, height=h, format=pb.RGB24,
                                        data=np.ascontiguousarray(frame).tobytes()))
    buf = io.BytesIO()
    img = Image.fromarray(frame, "RGB")
    if encoding == pb.JPEG:
        img.save(buf, "JPEG", quality=jpeg_quality or DEFAULT_JPEG_QUALITY)
        return pb.Image(jpeg=buf.getvalue())
    if encoding == pb.PNG:
        img.save(buf, "PNG", compress_level=1)  # speed over size: frames are short-lived
        return pb.Image(png=buf.getvalue())
    raise FrameError(f"unknown output encoding {encoding}")
