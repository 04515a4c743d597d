"""Point 2: idle streams end after --idle-timeout-s, one peer (or token) cannot hold every slot,
and the metrics say why streams were refused."""
from __future__ import annotations

import contextlib
import threading
import time

import grpc
import pytest

from pix2pix_stream.protos import translator_pb2 as pb
from tests.server.helpers import (channel_stub, config, metric, raw_requests, scrape,
                                  stall_inference)


def config_only(release: threading.Event, **cfg):
    """A stream that sends its config and then nothing until ``release``."""
    yield config(**cfg)
    release.wait(30)


def hold_slots(server, stub, release: threading.Event, n: int, metadata=()) -> list:
    """n Translate calls that send only a config, once the server counts them open; the list
    their final status codes are added to as they end."""
    codes: list = []

    def run():
        call = stub.Translate(config_only(release), metadata=metadata)
        try:
            for _ in call:
                pass
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as exc:
            codes.append(exc.code())

    for _ in range(n):
        threading.Thread(target=run, daemon=True).start()
    wait_for_active_streams(server, n)
    return codes


def wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def wait_for_active_streams(server, n: int) -> None:
    wait_for(lambda: metric(scrape(server.metrics_port), "pix2pix_active_streams",
                            method="Translate") == n)


@contextlib.contextmanager
def connected(server):
    """A stub on a new channel to ``server``, and the event that lets the idle streams a test
    opens on it go; both are let go at the end, however the test ends."""
    release = threading.Event()
    channel, stub = channel_stub(server.port)
    try:
        yield stub, release
    finally:
        release.set()
        channel.close()


def legit_call(stub, metadata=()):
    return list(stub.Translate(raw_requests(2), metadata=metadata, timeout=20))


def refusal(stub, metadata=()) -> grpc.RpcError:
    """The error that ends a legit call the server refuses."""
    with pytest.raises(grpc.RpcError) as info:
        legit_call(stub, metadata)
    return info.value


def test_idle_streams_end_and_free_their_slots(make_server):
    server = make_server(max_streams=4, idle_timeout_s=1.0)
    with connected(server) as (stub, release):
        codes = hold_slots(server, stub, release, 4)
        assert refusal(stub).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        wait_for(lambda: len(codes) == 4)
        assert codes == [grpc.StatusCode.DEADLINE_EXCEEDED] * 4
        assert len(legit_call(stub)) == 2  # the slots are free again
        text = scrape(server.metrics_port)
        assert metric(text, "pix2pix_streams_refused_total", method="Translate",
                      reason="idle_timeout") == 4
        assert metric(text, "pix2pix_streams_refused_total", method="Translate",
                      reason="max_streams") == 1


def test_the_idle_status_says_what_happened(make_server):
    server = make_server(idle_timeout_s=0.5)
    with connected(server) as (stub, release):
        with pytest.raises(grpc.RpcError) as info:
            list(stub.Translate(config_only(release), timeout=20))
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "no frame for 0.5 s" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:  # a video upload that stops arriving
            list(stub.TranslateVideo(iter_then_wait(
                [pb.VideoRequest(config=pb.VideoConfig(model="tiny"))], release), timeout=20))
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "no upload chunk" in info.value.details()


def iter_then_wait(requests, release):
    yield from requests
    release.wait(30)


def test_a_full_window_is_not_idle(make_server):
    """While inference is slow the server does not read; that wait is not the client's."""
    server = make_server(idle_timeout_s=0.3, inflight_per_stream=2, max_batch=1)
    stalling = stall_inference(server, "tiny", seconds=0.5)
    stalling.set()
    channel, stub = channel_stub(server.port)
    with channel:
        replies = list(stub.Translate(raw_requests(4), timeout=30))
    assert [r.sequence for r in replies] == [0, 1, 2, 3]
    assert not any(r.HasField("error") for r in replies)


def test_one_peer_cannot_take_every_slot(make_server):
    server = make_server(max_streams=4, max_streams_per_peer=2, idle_timeout_s=0)
    with connected(server) as (stub, release):
        hold_slots(server, stub, release, 2)
        error = refusal(stub)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "per-peer limit is 2" in error.details()
        assert metric(scrape(server.metrics_port), "pix2pix_streams_refused_total",
                      method="Translate", reason="per_peer") == 1


def test_with_tokens_the_cap_is_per_token(make_server):
    server = make_server(max_streams=4, max_streams_per_peer=2, idle_timeout_s=0,
                         token="alpha-token,beta-token")
    alpha = [("authorization", "Bearer alpha-token")]
    beta = [("authorization", "bearer beta-token")]
    with connected(server) as (stub, release):
        hold_slots(server, stub, release, 2, metadata=alpha)
        details = refusal(stub, alpha).details()
        assert "per-peer limit" in details and "this token" in details
        assert len(legit_call(stub, beta)) == 2  # same address, other token: served


def test_refusals_while_draining_are_counted(make_server):
    server = make_server(grace_s=1.0)
    with connected(server) as (stub, release):
        hold_slots(server, stub, release, 1)
        server._runtime.loop.call_soon_threadsafe(server._runtime.draining.begin, 5.0)
        time.sleep(0.2)
        assert refusal(stub).code() == grpc.StatusCode.UNAVAILABLE
        assert metric(scrape(server.metrics_port), "pix2pix_streams_refused_total",
                      method="Translate", reason="draining") == 1
