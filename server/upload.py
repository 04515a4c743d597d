"""UploadBuffer: a file that grows while PyAV reads it.

The event loop appends each received chunk; a decoder thread reads through PyAV's file-object
interface and blocks until the bytes it asks for have arrived. Seeking is real, so containers
whose index sits at the end (MP4 without "faststart": moov after mdat) work too: the demuxer's
forward seek simply waits for the rest of the upload, while MKV, WebM, fragmented or faststart
MP4 start decoding with the first chunks. The file's size is reported unknown until the upload
ends (a size query must not wait for it). Bytes are spooled to an unlinked temporary
file, not kept in memory, so a long upload costs disk, not RAM.
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from pix2pix_stream.server.errors import UploadTooLargeError, VideoInputError


class UploadBuffer:
    def __init__(self, max_bytes: int, directory: Path | None = None):
        self._file = tempfile.TemporaryFile(dir=directory, prefix="pix2pix-upload-")
        self._fd = self._file.fileno()
        self._max_bytes = max_bytes
        self._size = 0
        self._pos = 0
        self._finished = False
        self._failure: BaseException | None = None
        self._cond = threading.Condition()

    # -- writer side (event loop) ------------------------------------------------------------

    def append(self, data: bytes) -> None:
        with self._cond:
            if self._finished:
                raise VideoInputError("upload chunk after the last one")
            if self._size + len(data) > self._max_bytes:
                raise UploadTooLargeError(f"upload exceeds the server's limit of "
                                          f"{self._max_bytes} bytes")
            os.pwrite(self._fd, data, self._size)
            self._size += len(data)
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def fail(self, reason: BaseException) -> None:
        """Makes the reader's next (or current) read raise ``reason``."""
        with self._cond:
            self._failure = reason
            self._cond.notify_all()

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    @property
    def finished(self) -> bool:
        """The last byte has arrived (or the upload was ended early)."""
        return self._finished

    @property
    def size(self) -> int:
        return self._size

    # -- reader side (decoder thread, through PyAV) ------------------------------------------

    def read(self, n: int = -1) -> bytes:
        with self._cond:
            self._wait(lambda: self._pos < self._size or self._finished)
            end = self._size if n < 0 else min(self._size, self._pos + n)
            if end <= self._pos:
                return b""
            data = os.pread(self._fd, end - self._pos, self._pos)
            self._pos += len(data)
            return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        with self._cond:
            if whence == os.SEEK_SET:
                target = offset
            elif whence == os.SEEK_CUR:
                target = self._pos + offset
            elif whence == os.SEEK_END:
                if not self._finished:
                    # FFmpeg asks for the size this way (avio_size); "unknown" keeps Matroska
                    # and friends decoding now instead of waiting for the whole upload.
                    return -1
                target = self._size + offset
            else:
                raise ValueError(f"unsupported whence {whence}")
            if target < 0:
                raise ValueError(f"seek before the start of the upload ({target})")
            self._pos = target  # past the received end is fine: reads wait for the bytes
            return target

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        """PyAV calls this when its container closes; the bytes stay until release()."""

    def release(self) -> None:
        self._file.close()

    def _wait(self, ready) -> None:
        while True:
            if self._failure is not None:
                raise self._failure
            if ready():
                return
            self._cond.wait()
