"""The client library against a real server: frames, images, models, health, typed errors."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from pix2pix_stream.client import (ClientError, InvalidInputError, ModelNotFoundError, ServerUnavailableError,
                    TranslatorClient)
from pix2pix_stream.media.synthetic import drawn_frame

LAZY_WAIT_S = 10  # how long a frame source waits for the reply to its last frame


@pytest.fixture(scope="module")
def client(address):
    with TranslatorClient(address, connect_timeout_s=5) as c:
        yield c


@pytest.fixture(scope="module")
def reference(tiny_engine_dir):
    """The same engine run in-process, to check what comes back over the wire."""
    from pix2pix_stream.engines.runtime.registry import load_backend

    with load_backend(tiny_engine_dir, "onnxruntime") as backend:
        yield backend


def test_translate_frames_returns_every_frame_in_order(client, reference):
    frames = [drawn_frame(i, 128, 128) for i in range(10)]
    outputs = list(client.translate_frames(iter(frames), model="tiny"))
    assert len(outputs) == len(frames)
    # Raw in, raw out, at the engine's own size: local inference of the same frame, up to one
    # level of rounding (the server batches frames differently, which moves float sums a bit).
    expected = reference.infer(np.stack(frames)).astype(int)
    for i, out in enumerate(outputs):
        assert out.dtype == np.uint8 and out.shape == (128, 128, 3)
        assert np.abs(out.astype(int) - expected[i]).max() <= 2, f"frame {i}"


def test_frames_are_consumed_lazily_while_replies_arrive(client):
    """The next frame is made only after the previous one's reply arrived: a client that
    collects the frames before sending waits here in vain (and the test fails), a streaming one
    goes on at once."""
    replied = threading.Event()
    waited_in_vain = []

    def frames():
        for i in range(4):
            replied.clear()
            yield drawn_frame(i)
            if not replied.wait(LAZY_WAIT_S):
                waited_in_vain.append(i)

    outputs = []
    for out in client.translate_frames(frames(), model="tiny"):
        outputs.append(out)
        replied.set()
    assert len(outputs) == 4 and not waited_in_vain


def test_output_size_and_encodings(client):
    frame = drawn_frame(3, 100, 60)
    assert client.translate_image(frame, model="tiny").shape == (60, 100, 3)
    assert client.translate_image(frame, model="tiny", size=(32, 24)).shape == (24, 32, 3)
    for encoding in ("jpeg", "png"):
        out = client.translate_image(frame, model="tiny", encoding=encoding)
        assert out.shape == (60, 100, 3)
    outs = list(client.translate_frames([frame] * 2, model="tiny", input_encoding="jpeg"))
    assert [o.shape for o in outs] == [(60, 100, 3)] * 2


def test_stream_reports_sequence_and_timings(client):
    replies = list(client.stream([drawn_frame(i) for i in range(4)], model="tiny"))
    assert [r.sequence for r in replies] == [0, 1, 2, 3]
    assert all(r.inference_ms > 0 for r in replies)


def test_list_models_and_health(client):
    models = {m.name: m for m in client.list_models()}
    assert {"tiny", "tiny-canny"} <= set(models)
    assert models["tiny"].input_width == 128 and models["tiny"].backend
    assert models["tiny-canny"].input_transform == "canny"
    assert models["tiny-canny"].input_transform_params == {"low": 50, "high": 150}
    assert client.health() == "SERVING"
    assert client.health("tiny") == "SERVING"


def test_unknown_model_names_model_target_and_status(client, address):
    with pytest.raises(ModelNotFoundError) as info:
        client.translate_image(drawn_frame(0), model="no-such-model")
    message = str(info.value)
    assert "no-such-model" in message and address in message and "NOT_FOUND" in message
    with pytest.raises(ModelNotFoundError):
        client.health("no-such-model")


def test_bad_frames_are_rejected_with_the_frame_number(client):
    with pytest.raises(InvalidInputError, match="frame 1"):
        list(client.translate_frames([drawn_frame(0), np.zeros((8, 8), np.uint8)], model="tiny"))
    with pytest.raises(InvalidInputError, match="frame 0"):
        client.translate_image(np.zeros((4, 4, 3), np.float32), model="tiny")


def test_an_exception_in_the_caller_frames_reaches_the_caller(client):
    def frames():
        yield drawn_frame(0)
        raise RuntimeError("camera unplugged")

    with pytest.raises(RuntimeError, match="camera unplugged"):
        list(client.translate_frames(frames(), model="tiny"))


def test_unreachable_server_fails_fast_with_a_typed_error(unused_port):
    with TranslatorClient(f"127.0.0.1:{unused_port}", connect_timeout_s=0.5) as c:
        with pytest.raises(ServerUnavailableError) as info:
            c.list_models()
    assert f"127.0.0.1:{unused_port}" in str(info.value) and "UNAVAILABLE" in str(info.value)
    assert isinstance(info.value, ClientError)


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stream_deadline(address):
    import time

    from pix2pix_stream.client import DeadlineExceededError

    def slow_frames():
        yield drawn_frame(0)
        time.sleep(1.0)
        yield drawn_frame(1)

    with TranslatorClient(address, stream_timeout_s=0.3) as c:
        with pytest.raises(DeadlineExceededError, match="DEADLINE_EXCEEDED"):
            list(c.translate_frames(slow_frames(), model="tiny"))
