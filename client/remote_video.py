"""Server-side video translation (TranslateVideo): the file's bytes go up in chunks, the
output container's bytes come back in chunks and are written as they arrive."""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Iterator

from client.errors import InputFileError, OutputFileError
from protos import translator_pb2 as pb

CHUNK_BYTES = 1 << 20
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska",
              ".webm": "webm", ".avi": "avi"}


def container_for(dst: str | Path) -> str:
    suffix = Path(dst).suffix.lower()
    if suffix not in CONTAINERS:
        raise OutputFileError(f"{dst}: unknown container for suffix {suffix!r}; use one of "
                              f"{', '.join(sorted(CONTAINERS))}")
    return CONTAINERS[suffix]


def video_config(model: str, dst: str | Path, *, size: tuple[int, int] | None,
                 side_by_side: bool, codec: str = "", bit_rate: int = 0) -> pb.VideoConfig:
    width, height = size or (0, 0)
    return pb.VideoConfig(model=model, codec=codec, bit_rate=bit_rate, container=container_for(dst),
                          output_width=width, output_height=height, side_by_side=side_by_side)


def open_input(src: str | Path) -> BinaryIO:
    try:
        return open(src, "rb")
    except OSError as exc:
        raise InputFileError(f"cannot read {src}: {exc.strerror}") from exc


def open_output(dst: str | Path) -> BinaryIO:
    try:
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        return open(dst, "wb")
    except OSError as exc:
        raise OutputFileError(f"cannot write {dst}: {exc.strerror}") from exc


def video_requests(config: pb.VideoConfig, src: BinaryIO) -> Iterator[pb.VideoRequest]:
    yield pb.VideoRequest(config=config)
    chunk = src.read(CHUNK_BYTES)
    while chunk:
        following = src.read(CHUNK_BYTES)
        yield pb.VideoRequest(chunk=chunk, last=not following)
        chunk = following
    if src.tell() == 0:
        raise InputFileError(f"{getattr(src, 'name', 'input')} is empty")


def write_chunk(out: BinaryIO, data: bytes, dst: str | Path) -> None:
    try:
        out.write(data)
    except OSError as exc:
        raise OutputFileError(f"cannot write {dst}: {exc.strerror}") from exc


def result(dst: str | Path, done: pb.VideoInfo | None, target: str):
    """The server's closing VideoInfo as a VideoResult; a stream that ended without one broke."""
    from client.errors import ServerError
    from client.local_video import VideoResult

    if done is None:
        raise ServerError(f"TranslateVideo ended without its final report; {dst} is incomplete",
                          target=target)
    return VideoResult(path=str(dst), frames=done.frames, fps=done.fps, duration_s=done.duration_s,
                       width=done.width, height=done.height, has_audio=done.has_audio)


class ReplyWriter:
    """Handles TranslateVideo replies in arrival order: output bytes to the file, progress to
    the callback, the closing report kept in ``done``."""

    def __init__(self, out: BinaryIO, dst: str | Path, progress=None):
        self._out, self._dst, self._progress = out, dst, progress
        self.done: pb.VideoInfo | None = None

    def handle(self, reply: pb.VideoResponse) -> None:
        kind = reply.WhichOneof("msg")
        if kind == "chunk":
            write_chunk(self._out, reply.chunk, self._dst)
        elif kind == "progress" and self._progress is not None:
            self._progress(reply.progress.frames_done, reply.progress.frames_total)
        elif kind == "done":
            self.done = reply.done
