"""Channels: several replicas balanced round robin, dns targets, bearer tokens, TLS, retries."""
from __future__ import annotations

import threading
import time

import pytest

from pix2pix_stream.client import AuthError, TranslatorClient
from pix2pix_stream.client.channel import channel_target
from pix2pix_stream.client.config import ClientConfig
from tests.client.conftest import metric, start
from pix2pix_stream.media.synthetic import drawn_frame


def frames_in(running_server) -> float:
    return metric(running_server, "pix2pix_frames_in_total")


def test_round_robin_spreads_streams_over_replicas(server, second_server):
    before = frames_in(server), frames_in(second_server)
    replicas = [f"127.0.0.1:{server.port}", f"127.0.0.1:{second_server.port}"]
    with TranslatorClient(replicas) as client:
        client.wait_until_ready()
        time.sleep(0.3)  # round_robin connects to every address; let both become ready
        for _ in range(8):
            assert len(list(client.translate_frames([drawn_frame(0)] * 2, model="tiny"))) == 2
    gained = frames_in(server) - before[0], frames_in(second_server) - before[1]
    assert sum(gained) == 16
    assert min(gained) >= 4, f"streams not spread: {gained}"  # each server saw traffic


def test_comma_separated_replicas_and_dns_targets(server, second_server):
    config = ClientConfig(f"127.0.0.1:{server.port},localhost:{second_server.port}")
    assert channel_target(config) == f"ipv4:127.0.0.1:{server.port},127.0.0.1:{second_server.port}"
    with TranslatorClient(f"dns:///localhost:{server.port}") as client:
        assert client.health() == "SERVING"


def test_a_replica_that_is_down_is_skipped(server, tiny_engines_root):
    doomed = start(tiny_engines_root)
    replicas = [f"127.0.0.1:{server.port}", f"127.0.0.1:{doomed.port}"]
    doomed.stop(0)
    with TranslatorClient(replicas, connect_timeout_s=5) as client:
        for _ in range(4):
            assert client.translate_image(drawn_frame(1), model="tiny").shape == (48, 64, 3)


def test_retries_while_the_server_is_starting(tiny_engines_root):
    """A client started before its server connects once the server is up (wait for ready)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = []
    thread = threading.Timer(0.5, lambda: started.append(
        start(tiny_engines_root, address=f"127.0.0.1:{port}")))
    thread.start()
    try:
        with TranslatorClient(f"127.0.0.1:{port}", connect_timeout_s=20) as client:
            assert client.health() == "SERVING"
    finally:
        thread.join()
        for running in started:
            running.stop(0)


def test_bearer_token(token_server):
    target = f"127.0.0.1:{token_server.port}"
    with TranslatorClient(target, token="s3cret") as client:
        assert client.translate_image(drawn_frame(0), model="tiny").shape == (48, 64, 3)
    for token in (None, "wrong"):
        with TranslatorClient(target, token=token) as client:
            with pytest.raises(AuthError, match="UNAUTHENTICATED"):
                client.list_models()


def test_tls_with_a_root_certificate(tiny_engines_root, tls_files):
    cert, key = tls_files
    running = start(tiny_engines_root, tls_cert=cert, tls_key=key)
    try:
        with TranslatorClient(f"localhost:{running.port}", tls=str(cert)) as client:
            assert [m.name for m in client.list_models()]
            assert client.translate_image(drawn_frame(0), model="tiny").shape == (48, 64, 3)
        # A list of replicas connects by IP; the certificate name is checked against localhost.
        with TranslatorClient([f"127.0.0.1:{running.port}"] * 2, tls=str(cert),
                              tls_server_name="localhost") as client:
            assert client.health() == "SERVING"
        with TranslatorClient([f"localhost:{running.port}"] * 2, tls=str(cert)) as client:
            assert client.health() == "SERVING"
    finally:
        running.stop(0)


def test_channel_options_carry_the_config():
    import json

    from pix2pix_stream.client.channel import channel_options

    config = ClientConfig("127.0.0.1:1", max_message_bytes=1 << 20, keepalive_time_s=7,
                          keepalive_timeout_s=3, max_attempts=4)
    options = dict(channel_options(config))
    assert options["grpc.max_send_message_length"] == options["grpc.max_receive_message_length"] \
        == 1 << 20
    assert (options["grpc.keepalive_time_ms"], options["grpc.keepalive_timeout_ms"]) == (7000, 3000)
    assert options["grpc.enable_retries"] == 1
    service = json.loads(options["grpc.service_config"])
    assert service["loadBalancingConfig"] == [{"round_robin": {}}]
    (method,) = service["methodConfig"]
    assert method["retryPolicy"]["maxAttempts"] == 4
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    no_retry = json.loads(dict(channel_options(ClientConfig("h:1", max_attempts=1)))[
        "grpc.service_config"])
    assert "retryPolicy" not in no_retry["methodConfig"][0]


def test_the_message_size_limit_is_applied_to_the_channel(address):
    """A reply larger than the client's limit fails with gRPC's own status, named."""
    from pix2pix_stream.client import ClientError

    frame = drawn_frame(0)  # 64 x 48 RGB: 9,216 bytes raw
    with TranslatorClient(address, max_message_bytes=4096) as client:
        with pytest.raises(ClientError, match="RESOURCE_EXHAUSTED"):
            client.translate_image(frame, model="tiny")
    with TranslatorClient(address, max_message_bytes=1 << 20) as client:
        assert client.translate_image(frame, model="tiny").shape == frame.shape
