"""The compute-size policies through a real server: the served frame equals running the engine
graph by hand on the same scaled, mirror-padded frame and cutting the padding off (the
reference in tests.server.helpers does this with plain numpy/OpenCV, not media.geometry), for
each policy, for several aspect ratios and odd sizes, in the frame and the video path."""
from __future__ import annotations

import grpc
import numpy as np
import pytest

from pix2pix_stream.media.synthetic import drawn_frame
from pix2pix_stream.media.transforms import InputTransform
from pix2pix_stream.protos import translator_pb2 as pb
from tests.server.helpers import (channel_stub, config, decode_reply, frame, raw_image,
                                  reference_translation)

# (input size, scale) -> (scaled, padded), worked out by hand for the tiny engines (unet_128:
# multiple 128, crop size 128).
CASES = [
    ((1280, 720), "engine", (228, 128), (256, 128)),
    ((720, 1280), "engine", (128, 228), (128, 256)),
    ((333, 241), "engine", (177, 128), (256, 128)),
    ((97, 61), "engine", (204, 128), (256, 128)),
    ((128, 128), "engine", (128, 128), (128, 128)),
    ((333, 241), "native", (333, 241), (384, 256)),
    ((641, 479), "native", (641, 479), (768, 512)),
    ((240, 320), "native", (240, 320), (256, 384)),
    ((333, 241), "200", (276, 200), (384, 256)),
    ((1280, 720), "200", (356, 200), (384, 256)),
]


def close_enough(got: np.ndarray, want: np.ndarray) -> bool:
    """Within 1 grey level on at least 99% of the values."""
    assert got.shape == want.shape
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    return bool((diff <= 1).mean() >= 0.99)


def picture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A drawn frame with some noise, so that every pixel matters."""
    noise = np.random.default_rng(seed).integers(0, 40, (height, width, 3))
    return np.clip(drawn_frame(seed, width, height) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size, scale, scaled, padded", CASES,
                         ids=[f"{s[0]}x{s[1]}-{p}" for s, p, _, _ in CASES])
def test_a_served_frame_is_the_graph_run_on_its_padded_compute_size(stub, tiny_backend, size,
                                                                    scale, scaled, padded):
    pixels = picture(*size)
    [reply] = stub.Translate(iter([config(scale=scale), frame(0, raw_image(pixels))]))
    assert reply.WhichOneof("result") == "image", reply.error.message
    assert close_enough(decode_reply(reply), reference_translation(tiny_backend, pixels,
                                                                   scaled, padded))


def test_the_input_transform_runs_at_the_compute_size(stub, tiny_engines_root):
    from pix2pix_stream.engines.runtime.registry import load_backend

    canny = InputTransform("canny", {"low": 50, "high": 150})
    pixels = picture(333, 241, seed=3)
    [reply] = stub.Translate(iter([config("tiny-canny", scale="native"),
                                   frame(0, raw_image(pixels))]))
    with load_backend(tiny_engines_root / "tiny-canny", "onnxruntime", threads=1) as backend:
        want = reference_translation(backend, pixels, (333, 241), (384, 256), transform=canny)
    assert close_enough(decode_reply(reply), want)


def test_the_server_default_applies_when_a_call_sets_no_scale(make_server, tiny_backend):
    server = make_server(scale="native")
    channel, stub = channel_stub(server.port)
    with channel:
        pixels = picture(333, 241, seed=4)
        [native] = stub.Translate(iter([config(), frame(0, raw_image(pixels))]))
        [engine] = stub.Translate(iter([config(scale="engine"), frame(0, raw_image(pixels))]))
        [model] = [m for m in stub.ListModels(pb.ListModelsRequest()).models if m.name == "tiny"]
    assert model.scale == "native"
    assert close_enough(decode_reply(native),
                        reference_translation(tiny_backend, pixels, (333, 241), (384, 256)))
    assert close_enough(decode_reply(engine),
                        reference_translation(tiny_backend, pixels, (177, 128), (256, 128)))


def test_a_bad_scale_is_refused_with_the_call(stub):
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Translate(iter([config(scale="huge"), frame(0, raw_image(picture(64, 64)))])))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "scale must be" in info.value.details()


def test_a_compute_size_over_the_pixel_limit_is_scaled_down(make_server, tiny_backend):
    """--max-pixels caps the compute size too: native 400x225 (padded 512x256) on a
    100,000-pixel server is computed at 384x216 (padded 384x256 = 98,304 pixels), the largest
    that fits, not refused."""
    server = make_server(max_pixels=640 * 360)
    channel, stub = channel_stub(server.port)
    with channel:
        pixels = picture(400, 225, seed=5)
        [reply] = stub.Translate(iter([config(scale="native"), frame(0, raw_image(pixels))]))
    limited = make_server(max_pixels=100_000)
    channel, stub = channel_stub(limited.port)
    with channel:
        [small] = stub.Translate(iter([config(scale="native"), frame(0, raw_image(pixels))]))
    assert close_enough(decode_reply(reply),
                        reference_translation(tiny_backend, pixels, (400, 225), (512, 256)))
    assert close_enough(decode_reply(small),
                        reference_translation(tiny_backend, pixels, (384, 216), (384, 256)))
