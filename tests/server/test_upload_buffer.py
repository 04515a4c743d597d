"""UploadBuffer: the growing file PyAV reads while the upload arrives."""
from __future__ import annotations

import os
import threading
import time

import pytest

from pix2pix_stream.server.errors import UploadTooLargeError, VideoInputError
from pix2pix_stream.server.upload import UploadBuffer


def test_reads_wait_for_bytes_that_have_not_arrived():
    buffer = UploadBuffer(1 << 20)
    buffer.append(b"abc")
    assert buffer.read(2) == b"ab"
    late = threading.Timer(0.05, lambda: (buffer.append(b"defg"), buffer.finish()))
    late.start()
    start = time.perf_counter()
    assert buffer.read(10) == b"c"  # what is there now, no waiting
    assert buffer.read(10) == b"defg" and time.perf_counter() - start >= 0.04
    assert buffer.read(10) == b""  # the end, once finished
    buffer.release()


def test_a_forward_seek_waits_and_the_size_is_unknown_until_the_end():
    buffer = UploadBuffer(1 << 20)
    buffer.append(b"0123")
    assert buffer.seek(0, os.SEEK_END) == -1
    assert buffer.seek(6) == 6
    threading.Timer(0.05, lambda: (buffer.append(b"456789"), buffer.finish())).start()
    assert buffer.read(2) == b"67"
    assert buffer.seek(-1, os.SEEK_END) == 9 and buffer.read() == b"9"
    buffer.release()


def test_limits_and_failures_reach_the_reader():
    buffer = UploadBuffer(5)
    with pytest.raises(UploadTooLargeError, match="5 bytes"):
        buffer.append(b"123456")
    threading.Timer(0.05, lambda: buffer.fail(VideoInputError("cancelled"))).start()
    with pytest.raises(VideoInputError, match="cancelled"):
        buffer.read(1)
    buffer.release()
