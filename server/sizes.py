"""Human-readable sizes on pix2pix-serve's command line: ``32MiB``, ``4096x2160``.

    parse_bytes("32MiB") == 33554432     parse_bytes("1.5GB") == 1500000000
    parse_pixels("4096x2160") == 8847360 parse_pixels("8847360") == 8847360
"""
from __future__ import annotations

import re

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3,
          "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_PIXELS = re.compile(r"^\s*(\d+)\s*[x×]\s*(\d+)\s*$")


def parse_bytes(text: str) -> int:
    """A byte count: a plain number, or one with a unit (k/KB/M/MB/G/GB in powers of 1000,
    KiB/MiB/GiB in powers of 1024); ValueError otherwise."""
    match = _BYTES.match(str(text).lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"expected a byte count such as 33554432, 32MiB or 64MB; got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def parse_pixels(text: str) -> int:
    """A pixel count: a plain number or WIDTHxHEIGHT; ValueError otherwise."""
    text = str(text).lower()
    if text.strip().isdigit():
        return int(text)
    match = _PIXELS.match(text)
    if not match:
        raise ValueError(f"expected a pixel count such as 8847360 or 4096x2160; got {text!r}")
    return int(match.group(1)) * int(match.group(2))
