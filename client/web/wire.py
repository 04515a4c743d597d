"""The page <-> bridge WebSocket format, and the JPEG work the bridge does.

Binary messages carry one picture: a 2-byte big-endian header length, a JSON header (at least
``{"id": N}``, the page's frame number), then the JPEG bytes. Text messages are JSON control
messages with a ``type`` (see bridge.py). static/app.js packs and unpacks the same layout."""
from __future__ import annotations

import json
import struct

import numpy as np

from pix2pix_stream.client.errors import InvalidInputError
from pix2pix_stream.media.errors import TransformError
from pix2pix_stream.media.transforms import InputTransform

_LENGTH = struct.Struct(">H")
JPEG_QUALITY = 85


def pack(header: dict, jpeg: bytes) -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode()
    return _LENGTH.pack(len(text)) + text + jpeg


def unpack(message: bytes) -> tuple[dict, bytes]:
    """(header, JPEG bytes) of a binary message; InvalidInputError when it is not one."""
    if len(message) < _LENGTH.size:
        raise InvalidInputError(f"binary message of {len(message)} bytes holds no header")
    (length,) = _LENGTH.unpack_from(message)
    end = _LENGTH.size + length
    try:
        header = json.loads(message[_LENGTH.size:end])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"binary message header is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("id"), int):
        raise InvalidInputError("binary message header has no integer 'id'")
    return header, message[end:]


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> uint8 RGB [H, W, 3]."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InvalidInputError(f"the page sent {len(data)} bytes that are not a JPEG image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {rgb.shape} frame as JPEG")
    return buf.tobytes()


def transform_view(model) -> InputTransform | None:
    """What the engine sees, for the page's third panel: the model's input transform (the same
    function the server applies), or None when it has none or this client does not know it
    (a server newer than the client)."""
    if not model.input_transform or model.input_transform == "none":
        return None
    try:
        return InputTransform(model.input_transform, dict(model.input_transform_params))
    except TransformError:
        return None
