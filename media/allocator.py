"""Lets a process reuse the memory of the frames it frees instead of handing it back to the OS.

Why: glibc's malloc serves a request over its mmap threshold (128 KiB at start) with fresh pages
from the kernel, and gives the free top of a heap back once it exceeds the trim threshold. A
256x256 RGB frame is 192 KiB, so in a server or client that handles frames every bytes object,
protobuf message and numpy array of a frame came back as fresh pages: ~48 page faults on first
touch, each time. Serializing a freshly built 256x256 reply took 0.29 ms that way and 0.03 ms with
the thresholds below (the same bytes out); `bench/service.py` run with and without
``PIX2PIX_STREAM_MALLOC=default`` measures what it does to a served frame (docs/server.md).
glibc adjusts its mmap threshold to the sizes it sees freed, but with a frame and the message
carrying it alive at once the trimming still returns the pages: 64 faults per such pair.

The cost is memory: each malloc arena may keep up to ``TRIM_THRESHOLD`` of free memory instead
of returning it. ``PIX2PIX_STREAM_MALLOC=default`` leaves glibc's settings alone. Other C
libraries (musl, macOS) are left alone too.

Process-wide, so only the command-line entry points call it, never the libraries: an
application that embeds the client decides for itself.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# mallopt() parameter numbers, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20   # glibc's ceiling on 64-bit: a 4K frame (24 MiB) still comes from the heap
TRIM_THRESHOLD = 64 << 20   # free memory an arena keeps before giving its top back
ENV = "PIX2PIX_STREAM_MALLOC"


def keep_frame_buffers() -> bool:
    """Raises glibc's mmap and trim thresholds for this process; True if they were set. A no-op
    (False) with ``PIX2PIX_STREAM_MALLOC=default`` or without glibc."""
    if os.environ.get(ENV, "").strip().lower() == "default":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    # mallopt returns 1 on success; both settings apply to allocations made from now on.
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
