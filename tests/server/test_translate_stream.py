"""Translate end to end: a real server, the real tiny ONNX engine, the generated stubs."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pix2pix_stream.media.transforms import InputTransform
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server import images
from tests.server.helpers import (reference_translation, channel_stub, config, decode_reply, drawn_frames, encoded, frame,
                                  jpeg_image, metric, png_image, raw_image, raw_requests, scrape)


def backend_output(backend, pixels: np.ndarray) -> np.ndarray:
    return backend.infer(pixels[None])[0]


def test_raw_round_trip_equals_the_backend(stub, tiny_backend):
    replies = list(stub.Translate(raw_requests(6)))
    assert [r.sequence for r in replies] == list(range(6))
    assert [r.timestamp_us for r in replies] == [i * 1000 + 7 for i in range(6)]
    for reply, pixels in zip(replies, drawn_frames(6)):
        assert reply.WhichOneof("result") == "image"
        assert np.array_equal(decode_reply(reply), backend_output(tiny_backend, pixels))
        assert reply.inference_ms > 0


@pytest.mark.parametrize("fmt", [pb.BGR24, pb.GRAY8])
def test_bgr_and_gray_input_equal_the_backend_on_the_rgb_frame(stub, tiny_backend, fmt):
    rgb = drawn_frames(1)[0]
    if fmt == pb.GRAY8:
        rgb = np.repeat(rgb[:, :, :1], 3, axis=2)
    payload = rgb[:, :, ::-1] if fmt == pb.BGR24 else rgb[:, :, :1]
    [reply] = stub.Translate(iter([config(), frame(0, raw_image(payload, fmt))]))
    assert np.array_equal(decode_reply(reply), backend_output(tiny_backend, rgb))


def test_jpeg_input_equals_the_backend_on_the_decoded_jpeg(stub, tiny_backend):
    sent = [jpeg_image(p) for p in drawn_frames(3)]
    replies = list(stub.Translate(iter([config(encoding=pb.PNG)]
                                       + [frame(i, image) for i, image in enumerate(sent)])))
    for reply, image in zip(replies, sent):
        decoded = images.decode_image(image, 10**6)
        assert np.array_equal(decode_reply(reply), backend_output(tiny_backend, decoded))


def test_png_input_and_png_output_are_exact(stub, tiny_backend):
    pixels = drawn_frames(2)
    replies = list(stub.Translate(iter([config(encoding=pb.PNG)]
                                       + [frame(i, png_image(p)) for i, p in enumerate(pixels)])))
    for reply, p in zip(replies, pixels):
        assert reply.image.WhichOneof("payload") == "png"
        assert np.array_equal(decode_reply(reply), backend_output(tiny_backend, p))


def test_jpeg_output_is_the_backend_output_encoded_at_the_asked_quality(stub, tiny_backend):
    [reply] = stub.Translate(raw_requests(1, encoding=pb.JPEG, jpeg_quality=95))
    expected = backend_output(tiny_backend, drawn_frames(1)[0])
    assert reply.image.jpeg == encoded(expected, "JPEG", quality=95)


def test_replies_come_back_at_the_input_size_or_the_requested_one(stub, tiny_backend):
    pixels = drawn_frames(1, width=96, height=64)[0]
    [same] = stub.Translate(iter([config(), frame(0, raw_image(pixels))]))
    assert decode_reply(same).shape == (64, 96, 3)
    # engine scale: short side 64 -> the crop size 128, aspect kept (192x128), padded to 256x128
    expected = reference_translation(tiny_backend, pixels, (192, 128), (256, 128))
    assert np.array_equal(decode_reply(same), expected)
    [sized] = stub.Translate(iter([config(output_width=50, output_height=30),
                                   frame(0, raw_image(pixels))]))
    assert decode_reply(sized).shape == (30, 50, 3)


def test_the_engine_input_transform_runs_on_the_server(stub, tiny_engines_root):
    from pix2pix_stream.engines.runtime.registry import load_backend

    canny = InputTransform("canny", {"low": 50, "high": 150})
    pixels = drawn_frames(1)[0]
    [reply] = stub.Translate(iter([config("tiny-canny"), frame(0, raw_image(pixels))]))
    with load_backend(tiny_engines_root / "tiny-canny", "onnxruntime", threads=1) as backend:
        assert np.array_equal(decode_reply(reply), backend_output(backend, canny(pixels)))


def test_eight_concurrent_streams_get_every_frame_in_order_and_share_batches(make_server,
                                                                             tiny_backend):
    server = make_server(max_delay_ms=20, max_batch=8, inflight_per_stream=4)
    n_frames, results, errors = 12, {}, []

    def run_stream(index: int) -> None:
        channel, stub = channel_stub(server.port)
        try:
            results[index] = list(stub.Translate(raw_requests(n_frames, offset=index * 100)))
        except Exception as exc:  # collected; asserted below
            errors.append(exc)
        finally:
            channel.close()

    threads = [threading.Thread(target=run_stream, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for index, replies in results.items():
        assert [r.sequence for r in replies] == list(range(n_frames))
        sent = drawn_frames(n_frames, offset=index * 100)
        # a frame's output is the same whether it ran alone (batch 1 here) or batched there
        for reply, pixels in zip(replies[::5], sent[::5]):
            assert np.array_equal(decode_reply(reply), backend_output(tiny_backend, pixels))
    text = scrape(server.metrics_port)
    batches = metric(text, "pix2pix_batch_size_count", model="tiny")
    singles = metric(text, "pix2pix_batch_size_bucket", model="tiny", le="1.0")
    assert metric(text, "pix2pix_batch_size_sum", model="tiny") == 8 * n_frames
    assert batches - singles > 0, "no batch held more than one frame"
    assert metric(text, "pix2pix_frames_out_total", model="tiny") == 8 * n_frames


def test_live_mode_drops_stale_frames_and_reports_them(make_server):
    server = make_server(inflight_per_stream=1)
    channel, stub = channel_stub(server.port)
    sent = 40

    def requests():  # sends much faster than a slow reader takes replies
        yield config(mode=pb.LIVE)
        for i, pixels in enumerate(drawn_frames(sent)):
            yield frame(i, raw_image(pixels))

    delivered, dropped = [], []
    for reply in stub.Translate(requests()):
        delivered.append(reply.sequence)
        dropped.extend(reply.dropped)
        time.sleep(0.02)
    channel.close()
    assert delivered == sorted(delivered) and delivered[-1] == sent - 1
    assert dropped, "a slow reader in LIVE mode should see drops"
    assert sorted(delivered + dropped) == list(range(sent))
    assert metric(scrape(server.metrics_port), "pix2pix_frames_dropped_total",
                  model="tiny") == len(dropped)


def test_lossless_mode_never_drops_with_a_slow_reader(make_server):
    server = make_server(inflight_per_stream=1)
    channel, stub = channel_stub(server.port)
    replies = []
    for reply in stub.Translate(raw_requests(15)):
        replies.append(reply)
        time.sleep(0.01)
    channel.close()
    assert [r.sequence for r in replies] == list(range(15))
    assert not any(r.dropped for r in replies)
