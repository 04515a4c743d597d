"""Clips for the reliability tests: real PyAV encodes, cut or remuxed the way users' files are."""
from __future__ import annotations

from pathlib import Path

import av

from pix2pix_stream.media.synthetic import make_clip


def faststart_mp4(path: Path, frames: int, **options) -> Path:
    """An MP4 with its index first, so that a cut copy still opens and lists every frame."""
    plain = make_clip(path.with_name(path.stem + ".plain.mp4"), frames=frames, **options)
    with av.open(str(plain)) as inp, av.open(str(path), "w",
                                             options={"movflags": "faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    plain.unlink()
    return path


def truncated(src: Path, dst: Path, keep: float = 0.7) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst
