"""Every bad input gets its status while a healthy stream running at the same time finishes
intact; limits give the documented statuses."""
from __future__ import annotations

import threading

import grpc
import numpy as np
import pytest

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.media.synthetic import make_clip
from tests.server.helpers import (channel_stub, config, decode_reply, drawn_frames, encoded, frame,
                                  held_open_requests, metric, raw_image, raw_requests, scrape)
from tests.server.video_calls import translate_video

GOOD = drawn_frames(1)[0]
BAD_FRAMES = [  # (image, per-frame error message part)
    (pb.Image(raw=pb.RawImage(width=128, height=128, format=pb.RGB24, data=b"\0" * 100)),
     "raw frame has 100 bytes, expected 49152 (128x128x3 RGB24)"),
    (pb.Image(raw=pb.RawImage(width=0, height=10, format=pb.RGB24)), "zero dimension"),
    (pb.Image(raw=pb.RawImage(width=5000, height=5000, format=pb.GRAY8)),
     "more than the server's limit"),
    (pb.Image(jpeg=encoded(GOOD, "JPEG")[:300]), "corrupt JPEG frame"),
    (pb.Image(jpeg=b"\x89PNG garbage"), "not a valid JPEG image"),
    (pb.Image(png=encoded(GOOD, "PNG")[:200]), "corrupt PNG frame"),
    (pb.Image(), "frame has no image"),
]


class HealthyStream(threading.Thread):
    """A lossless stream of 30 frames that must come back complete while others misbehave."""

    def __init__(self, port: int, frames: int = 30):
        super().__init__()
        self.port, self.frames, self.replies, self.error = port, frames, [], None

    def run(self):
        channel, stub = channel_stub(self.port)
        try:
            self.replies = list(stub.Translate(raw_requests(self.frames, offset=500)))
        except Exception as exc:  # asserted by check()
            self.error = exc
        finally:
            channel.close()

    def check(self):
        self.join(60)
        assert self.error is None
        assert [r.sequence for r in self.replies] == list(range(self.frames))
        assert all(r.WhichOneof("result") == "image" for r in self.replies)


def test_bad_frames_get_per_frame_errors_and_the_stream_goes_on(server, stub):
    healthy = HealthyStream(server.port)
    healthy.start()
    requests = [config()]
    for i, (image, _) in enumerate(BAD_FRAMES):
        requests += [frame(2 * i, image), frame(2 * i + 1, raw_image(GOOD))]
    replies = list(stub.Translate(iter(requests)))
    healthy.check()
    assert [r.sequence for r in replies] == list(range(2 * len(BAD_FRAMES)))
    for i, (_, message) in enumerate(BAD_FRAMES):
        bad, good = replies[2 * i], replies[2 * i + 1]
        assert bad.WhichOneof("result") == "error"
        assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert message in bad.error.message and f"frame {2 * i}:" in bad.error.message
        assert decode_reply(good).shape == (128, 128, 3)
    text = scrape(server.metrics_port)
    assert metric(text, "pix2pix_errors_total", method="Translate",
                  status="INVALID_ARGUMENT") >= len(BAD_FRAMES)


@pytest.mark.parametrize("requests, code, message", [
    ([], grpc.StatusCode.INVALID_ARGUMENT, "ended before its config"),
    ([frame(0, raw_image(GOOD))], grpc.StatusCode.INVALID_ARGUMENT, "must carry config"),
    ([config("")], grpc.StatusCode.INVALID_ARGUMENT, "names no model"),
    ([config("no-such-model")], grpc.StatusCode.NOT_FOUND, "no model named 'no-such-model'"),
    ([config(jpeg_quality=101)], grpc.StatusCode.INVALID_ARGUMENT, "jpeg_quality"),
    ([config(output_width=64)], grpc.StatusCode.INVALID_ARGUMENT, "output_width and output_height"),
    ([config(output_width=10**5, output_height=10**5)], grpc.StatusCode.INVALID_ARGUMENT,
     "exceeds the server's limit"),
    ([config(mode=7)], grpc.StatusCode.INVALID_ARGUMENT, "unknown stream mode"),
])
def test_bad_stream_configs_end_the_call_with_a_status(server, stub, requests, code, message):
    healthy = HealthyStream(server.port, frames=10)
    healthy.start()
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Translate(iter(requests)))
    healthy.check()
    assert info.value.code() == code and message in info.value.details()


def test_a_second_config_fails_the_call_after_the_frames_before_it(stub):
    replies = []
    with pytest.raises(grpc.RpcError) as info:
        for reply in stub.Translate(iter([config(), frame(0, raw_image(GOOD)), config()])):
            replies.append(reply)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "second config" in info.value.details()
    assert [r.sequence for r in replies] == [0]


def test_bad_video_uploads_fail_while_a_frame_stream_finishes(server, stub, tmp_path):
    healthy = HealthyStream(server.port)
    healthy.start()
    clip = make_clip(tmp_path / "in.mkv", frames=20, audio=False).read_bytes()
    truncated = translate_video(stub, clip[: len(clip) // 2])
    garbage = translate_video(stub, b"\0" * 5000)
    healthy.check()
    assert truncated.code == garbage.code == grpc.StatusCode.INVALID_ARGUMENT
    assert truncated.output and not garbage.output


def test_streams_beyond_the_limit_are_resource_exhausted(make_server):
    server = make_server(max_streams=2)
    channel, stub = channel_stub(server.port)
    release = threading.Event()
    open_calls = [stub.Translate(held_open_requests(1, release)) for _ in range(2)]
    for call in open_calls:
        next(call)  # both are admitted and running
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Translate(raw_requests(1)))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "limit is 2" in info.value.details()
    release.set()
    for call in open_calls:
        list(call)
    assert len(list(stub.Translate(raw_requests(2)))) == 2  # room again once they closed
    channel.close()


def test_a_message_over_the_size_limit_is_refused_by_grpc(make_server):
    server = make_server(max_message_bytes=64 * 1024)
    channel, stub = channel_stub(server.port)
    big = np.zeros((200, 200, 3), np.uint8)  # 120 kB raw
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Translate(iter([config(), frame(0, raw_image(big))])))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    channel.close()


def test_the_default_message_limit_fits_a_raw_4k_frame(stub):
    frame_4k = np.zeros((2160, 3840, 3), np.uint8)
    [reply] = stub.Translate(iter([config(output_width=64, output_height=36),
                                   frame(0, raw_image(frame_4k))]))
    assert reply.WhichOneof("result") == "image"
