"""Upload a file to TranslateVideo and collect what comes back (server tests)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import grpc

from protos import translator_pb2 as pb


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


def upload_requests(data: bytes, chunk_size: int = 16 * 1024, **config):
    yield pb.VideoRequest(config=pb.VideoConfig(**{"model": "tiny", **config}))
    for start in range(0, len(data), chunk_size):
        yield pb.VideoRequest(chunk=data[start:start + chunk_size],
                              last=start + chunk_size >= len(data))


def translate_video(stub, data: bytes, chunk_size: int = 16 * 1024, **config) -> VideoResult:
    """Every reply of one call; a failed call's status lands in ``code`` and ``details``."""
    result = VideoResult()
    chunks = []
    try:
        for reply in stub.TranslateVideo(upload_requests(data, chunk_size, **config)):
            kind = reply.WhichOneof("msg")
            if kind == "chunk":
                chunks.append(reply.chunk)
            elif kind == "progress":
                result.progress.append((reply.progress.frames_done, reply.progress.frames_total))
            else:
                result.done = reply.done
    except grpc.RpcError as exc:
        result.code, result.details = exc.code(), exc.details()
    result.output = b"".join(chunks)
    return result
