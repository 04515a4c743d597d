"""frame_request builds the request in place (no copies of the frame between message levels);
what it builds must be what the nested construction built."""
from __future__ import annotations

import numpy as np
import pytest

from pix2pix_stream.client import frames as fr
from pix2pix_stream.protos import translator_pb2 as pb


def test_raw_request_carries_the_frame_its_number_and_the_send_time():
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    before = fr.now_us()
    request = fr.frame_request(frame, 7)
    after = fr.now_us()
    assert request.WhichOneof("msg") == "frame" and request.frame.sequence == 7
    assert before <= request.frame.timestamp_us <= after  # the echo measures the round trip
    raw = request.frame.image.raw
    assert (raw.width, raw.height, raw.format) == (64, 48, pb.RGB24)
    assert raw.data == frame.tobytes()
    assert fr.decode_image(request.frame.image).tolist() == frame.tolist()


@pytest.mark.parametrize("encoding", ["jpeg", "png"])
def test_compressed_request_sets_its_own_payload(encoding):
    frame = np.zeros((32, 32, 3), np.uint8)
    image = fr.frame_request(frame, 0, encoding).frame.image
    assert image.WhichOneof("payload") == encoding
    assert fr.decode_image(image).shape == (32, 32, 3)


def test_a_non_contiguous_frame_is_sent_as_its_pixels():
    frame = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)[:, ::-1]
    assert fr.frame_request(frame, 0).frame.image.raw.data == np.ascontiguousarray(frame).tobytes()
