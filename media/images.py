"""Frame payloads to uint8 RGB arrays and back: raw pixels, JPEG and PNG.

Both ends of the wire use these: the server for the frames it receives and the replies it
sends, the client for its frames and the replies it reads. Compressed images are sized from
their header first (media.image_headers), checked against the caller's pixel limit, and only
then decoded (OpenCV); a cut file is refused, not decoded to grey. Messages name the payload
as the caller calls it (``what``: "PNG frame", "reply image") and the limit as the caller's
(``limit_name``)."""
from __future__ import annotations

import cv2
import numpy as np

from pix2pix_stream.media.errors import ImageError
from pix2pix_stream.media.image_headers import HeaderError, jpeg_size, png_size

RAW_LAYOUTS = {"RGB24": 3, "BGR24": 3, "GRAY8": 1}  # raw pixel layout -> channels
DEFAULT_JPEG_QUALITY = 90
_HEADER_SIZE = {"JPEG": jpeg_size, "PNG": png_size}
# EXIF orientation is ignored so that the decoded size is the header's (and Pillow's, before).
_IMREAD = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


def check_size(width: int, height: int, max_pixels: int | None = None, what: str = "image",
               limit_name: str = "limit") -> None:
    if width <= 0 or height <= 0:
        raise ImageError(f"{what} has a zero dimension ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(f"{what} is {width}x{height} = {width * height} pixels, "
                         f"more than the {limit_name} of {max_pixels}")


def decode_raw(data: bytes, width: int, height: int, layout: str, max_pixels: int | None = None,
               what: str = "raw image", limit_name: str = "limit") -> np.ndarray:
    """Raw pixels in ``layout`` (RGB24, BGR24, GRAY8) as uint8 RGB [H, W, 3]."""
    check_size(width, height, max_pixels, what, limit_name)
    channels = RAW_LAYOUTS[layout]
    expected = width * height * channels
    if len(data) != expected:
        raise ImageError(f"{what} has {len(data)} bytes, expected {expected} "
                         f"({width}x{height}x{channels} {layout})")
    pixels = np.frombuffer(data, np.uint8).reshape(height, width, channels)
    if layout == "BGR24":
        return np.ascontiguousarray(pixels[:, :, ::-1])
    if layout == "GRAY8":
        return np.repeat(pixels, 3, axis=2)
    return pixels


def decode_compressed(data: bytes, kind: str, max_pixels: int | None = None,
                      what: str | None = None, limit_name: str = "limit") -> np.ndarray:
    """A ``kind`` ("JPEG" or "PNG") file as uint8 RGB [H, W, 3]; ImageError names what is
    wrong: empty, not that format, too large (before decoding), cut or corrupt."""
    what = what or f"{kind} image"
    if not data:
        raise ImageError(f"{what} is empty")
    try:
        width, height = _HEADER_SIZE[kind](data)
    except HeaderError as exc:
        if exc.invalid:
            raise ImageError(f"{what} is not a valid {kind} image ({len(data)} bytes)") from None
        raise ImageError(f"corrupt {what} ({len(data)} bytes): {exc}") from None
    check_size(width, height, max_pixels, what, limit_name)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), _IMREAD)
    if bgr is None:
        raise ImageError(f"corrupt {what} ({len(data)} bytes): the decoder refused it")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_jpeg(frame: np.ndarray, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    return _encode(frame, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality or DEFAULT_JPEG_QUALITY])


def encode_png(frame: np.ndarray, compression: int = 1) -> bytes:
    """Compression 1 by default: speed over size, frames are short-lived."""
    return _encode(frame, ".png", [cv2.IMWRITE_PNG_COMPRESSION, compression])


def _encode(frame: np.ndarray, suffix: str, params: list[int]) -> bytes:
    ok, buf = cv2.imencode(suffix, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageError(f"cannot encode a {frame.shape} frame as {suffix[1:].upper()}")
    return buf.tobytes()
