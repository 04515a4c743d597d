"""The size of a PNG or JPEG read from its header, before a single pixel is decompressed, and
whether the file is whole. A small file can claim a huge picture (a "decompression bomb"); the
size is checked first. A cut file is refused here too, so that no decoder fills the missing part
with grey.

PNG: an 8-byte signature, then chunks (length, type, data, CRC); IHDR comes first and holds width
and height; IEND closes the file. JPEG: SOI, then marker segments (0xFF, a code, a two-byte length
that counts itself); a start-of-frame segment (SOF0..SOF15 but DHT, JPG and DAC) holds precision,
height and width; the entropy-coded scans follow SOS; EOI closes the file."""
from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
_SOS = 0xDA
_STANDALONE = set(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM carry no length
_NOT_SOF = {0xC4, 0xC8, 0xCC}                   # DHT, JPG, DAC share SOF's code range


class HeaderError(ValueError):
    """``invalid`` is True when the data is not this format at all, False when it is cut or
    damaged."""

    def __init__(self, message: str, invalid: bool):
        super().__init__(message)
        self.invalid = invalid


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from IHDR; HeaderError unless the chunks run whole up to IEND."""
    if not data.startswith(PNG_SIGNATURE):
        raise HeaderError("no PNG signature", invalid=True)
    size = None
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if size is None:
            if kind != b"IHDR" or length < 8 or at + 16 > len(data):
                raise HeaderError("the first chunk is no IHDR", invalid=False)
            size = struct.unpack(">II", data[at + 8:at + 16])
        at += 12 + length
        if kind == b"IEND" and at <= len(data):
            return size
    raise HeaderError("the file ends before its IEND chunk", invalid=False)


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the start-of-frame segment; HeaderError unless the segments are
    whole up to the first scan and an EOI follows it."""
    if not data.startswith(JPEG_SOI):
        raise HeaderError("no JPEG start-of-image marker", invalid=True)
    size = None
    at = len(JPEG_SOI)
    while True:
        marker, at = _next_marker(data, at)
        if marker in _STANDALONE:
            continue
        if marker == JPEG_EOI[1]:
            raise HeaderError("the image ends before its first scan", invalid=False)
        if at + 2 > len(data):
            raise HeaderError("the file ends inside its headers", invalid=False)
        (length,) = struct.unpack(">H", data[at:at + 2])
        if 0xC0 <= marker <= 0xCF and marker not in _NOT_SOF and at + 7 <= len(data):
            height, width = struct.unpack(">HH", data[at + 3:at + 7])
            size = (width, height)
        if marker == _SOS:
            break
        at += length
    if size is None:
        raise HeaderError("no start-of-frame segment before the first scan", invalid=False)
    if data.find(JPEG_EOI, at) < 0:
        raise HeaderError("the file ends before its end-of-image marker", invalid=False)
    return size


def _next_marker(data: bytes, at: int) -> tuple[int, int]:
    """(marker code, offset after it) of the marker at ``at``; fill bytes (0xFF) are skipped."""
    if at >= len(data) or data[at] != 0xFF:
        raise HeaderError("the file ends inside its headers" if at >= len(data)
                          else f"no marker at byte {at}", invalid=False)
    while at < len(data) and data[at] == 0xFF:
        at += 1
    if at >= len(data):
        raise HeaderError("the file ends inside its headers", invalid=False)
    return data[at], at + 1
