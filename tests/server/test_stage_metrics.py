"""Per-stage timers of streamed frames (pix2pix_stage_seconds) on a real server."""
from __future__ import annotations

import pytest

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server.metrics import STAGES
from tests.server.helpers import channel_stub, metric, raw_requests, scrape


@pytest.mark.parametrize("size,encoding", [(128, pb.RAW), (96, pb.JPEG)],
                         ids=["engine-size raw, inline", "resized jpeg, worker threads"])
def test_every_stage_of_every_frame_is_timed(make_server, size, encoding):
    server = make_server()
    channel, stub = channel_stub(server.port)
    replies = list(stub.Translate(raw_requests(6, size, size, encoding=encoding)))
    channel.close()
    assert [r.WhichOneof("result") for r in replies] == ["image"] * 6

    # Complete once the call has ended: the server ends it after its last reply stage.
    text = scrape(server.metrics_port)
    for stage in STAGES:
        assert metric(text, "pix2pix_stage_seconds_count", model="tiny", stage=stage) == 6, stage
        assert metric(text, "pix2pix_stage_seconds_sum", model="tiny", stage=stage) > 0, stage
