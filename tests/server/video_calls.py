"""Upload a file to TranslateVideo and collect what comes back (server tests)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import grpc

from pix2pix_stream.protos import translator_pb2 as pb


@dataclass
class VideoResult:
    output: bytes = b""
    progress: list = field(default_factory=list)
    done: pb.VideoInfo | None = None
    code: grpc.StatusCode = grpc.StatusCode.OK
    details: str = ""

    def save(self, path: Path) -> Path:
        path.write_bytes(self.output)
        return path


def upload_requests(data: bytes, chunk_size: int = 16 * 1024, mark_last: bool = True,
                    **config):
    """The config, then ``data`` in chunks; ``mark_last=False`` half-closes without ``last``."""
    yield pb.VideoRequest(config=pb.VideoConfig(**{"model": "tiny", **config}))
    for start in range(0, len(data), chunk_size):
        yield pb.VideoRequest(chunk=data[start:start + chunk_size],
                              last=mark_last and start + chunk_size >= len(data))


def stopping_requests(data: bytes, send: threading.Event, upload_bytes: int | None = None,
                      chunk_size: int = 16 * 1024, **config):
    """The config and the first ``upload_bytes`` of ``data`` (all of it, with ``last``, by
    default); then the stream stays open until ``send`` is set, and ends with ``stop``."""
    part = data if upload_bytes is None else data[:upload_bytes]
    yield from upload_requests(part, chunk_size, mark_last=upload_bytes is None, **config)
    if not send.wait(60):
        raise AssertionError("the test never asked for the stop")
    yield pb.VideoRequest(stop=True)


def translate_video(stub, data: bytes, chunk_size: int = 16 * 1024, mark_last: bool = True,
                    **config) -> VideoResult:
    """Every reply of one call; a failed call's status lands in ``code`` and ``details``."""
    return collect(stub.TranslateVideo(upload_requests(data, chunk_size, mark_last, **config)))


def collect(call, on_progress: Callable[[int], None] | None = None) -> VideoResult:
    """Every reply of ``call``; ``on_progress(frames_done)`` on each progress message."""
    result = VideoResult()
    chunks = []
    try:
        for reply in call:
            kind = reply.WhichOneof("msg")
            if kind == "chunk":
                chunks.append(reply.chunk)
            elif kind == "progress":
                result.progress.append((reply.progress.frames_done, reply.progress.frames_total))
                if on_progress is not None:
                    on_progress(reply.progress.frames_done)
            else:
                result.done = reply.done
    except grpc.RpcError as exc:
        result.code, result.details = exc.code(), exc.details()
    result.output = b"".join(chunks)
    return result
