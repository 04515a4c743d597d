"""Request builders and small readers shared by the server tests."""
from __future__ import annotations

import io
import re
import threading
import time
import urllib.request

import grpc
import numpy as np
from PIL import Image

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc
from pix2pix_stream.media.synthetic import drawn_frame


def raw_image(pixels: np.ndarray, fmt=pb.RGB24) -> pb.Image:
    h, w = pixels.shape[:2]
    return pb.Image(raw=pb.RawImage(width=w, height=h, format=fmt,
                                    data=np.ascontiguousarray(pixels).tobytes()))


def encoded(pixels: np.ndarray, kind: str, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, kind, **options)
    return buf.getvalue()


def jpeg_image(pixels: np.ndarray) -> pb.Image:
    return pb.Image(jpeg=encoded(pixels, "JPEG", quality=90))


def png_image(pixels: np.ndarray) -> pb.Image:
    return pb.Image(png=encoded(pixels, "PNG"))


def frame(sequence: int, image: pb.Image) -> pb.TranslateRequest:
    return pb.TranslateRequest(frame=pb.Frame(sequence=sequence, timestamp_us=sequence * 1000 + 7,
                                              image=image))


def config(model: str = "tiny", **fields) -> pb.TranslateRequest:
    return pb.TranslateRequest(config=pb.StreamConfig(model=model, **fields))


def drawn_frames(n: int, width: int = 128, height: int = 128, offset: int = 0):
    return [drawn_frame(i + offset, width, height) for i in range(n)]


def raw_requests(n: int, width: int = 128, height: int = 128, offset: int = 0, **cfg):
    yield config(**cfg)
    for i, pixels in enumerate(drawn_frames(n, width, height, offset)):
        yield frame(i, raw_image(pixels))


def held_open_requests(n: int, release, **cfg):
    """A config and n frames, then the stream stays open until ``release`` (an Event) is set."""
    yield config(**cfg)
    for i, pixels in enumerate(drawn_frames(n)):
        yield frame(i, raw_image(pixels))
    release.wait(30)


def decode_reply(reply: pb.TranslateResponse) -> np.ndarray:
    """A reply's image as uint8 RGB [H, W, 3]."""
    image = reply.image
    kind = image.WhichOneof("payload")
    if kind == "raw":
        return np.frombuffer(image.raw.data, np.uint8).reshape(image.raw.height, image.raw.width, 3)
    return np.asarray(Image.open(io.BytesIO(getattr(image, kind))).convert("RGB"))


def channel_stub(port: int) -> tuple[grpc.Channel, pb_grpc.TranslatorStub]:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return channel, pb_grpc.TranslatorStub(channel)


def scrape(metrics_port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? ([-+0-9.eE]+|NaN)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(k) == str(v) for k, v in labels.items()):
            return float(match.group(4))
    return 0.0


class Stall(threading.Event):
    """Set it to hold inference up; ``held`` is set once a batch is being held."""

    def __init__(self):
        super().__init__()
        self.held = threading.Event()


def stall_inference(running, model: str, seconds: float = 2.0) -> Stall:
    """Makes a running server's inference for ``model`` take ``seconds`` per batch once the
    returned event is set (the real backend still runs; it is only held up)."""
    backend = running._runtime.models.get(model).batcher.backend
    infer = backend.infer

    def stalled(batch):
        if stalling.is_set():
            stalling.held.set()
            time.sleep(seconds)
        return infer(batch)

    stalling = Stall()
    backend.infer = stalled
    return stalling


def reference_translation(backend, pixels: np.ndarray, scaled: tuple[int, int],
                          padded: tuple[int, int], size: tuple[int, int] | None = None,
                          transform=None) -> np.ndarray:
    """What a server should answer, computed without media.geometry: ``pixels`` resized to
    ``scaled`` (width, height; area filter to shrink, bilinear to enlarge), transformed,
    mirror-padded on the right and bottom to ``padded``, run through ``backend``, the padding
    cut off, and resized to ``size`` (default: the input's)."""
    import cv2

    def resize(image, width, height):
        if image.shape[1::-1] == (width, height):
            return image
        shrink = width * height < image.shape[0] * image.shape[1]
        return cv2.resize(image, (width, height),
                          interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

    x = resize(pixels, *scaled)
    if transform is not None:
        x = transform(x)
    x = np.pad(x, ((0, padded[1] - scaled[1]), (0, padded[0] - scaled[0]), (0, 0)), mode="reflect")
    out = backend.infer(x[None])[0][:scaled[1], :scaled[0]]
    return resize(out, *(size or pixels.shape[1::-1]))
