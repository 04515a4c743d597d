"""Bearer-token auth and TLS on a real server."""
from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc
from pix2pix_stream.media.synthetic import make_clip
from tests.server.helpers import channel_stub, metric, raw_requests, scrape
from tests.server.video_calls import upload_requests

TOKEN = "s3cret-token"


@pytest.fixture
def auth_server(make_server):
    return make_server(token=TOKEN)


def bearer(token: str):
    return [("authorization", f"Bearer {token}")]


@pytest.mark.parametrize("metadata", [None, bearer("wrong"), [("authorization", TOKEN)]])
def test_calls_without_the_right_token_are_unauthenticated(auth_server, tmp_path, metadata):
    channel, stub = channel_stub(auth_server.port)
    clip = make_clip(tmp_path / "in.mp4", frames=2, audio=False).read_bytes()
    calls = [lambda: stub.ListModels(pb.ListModelsRequest(), metadata=metadata),
             lambda: list(stub.Translate(raw_requests(1), metadata=metadata)),
             lambda: list(stub.TranslateVideo(upload_requests(clip), metadata=metadata))]
    for call in calls:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "Bearer" in info.value.details()
    channel.close()
    assert metric(scrape(auth_server.metrics_port), "pix2pix_errors_total",
                  method="Translate", status="UNAUTHENTICATED") == 1


def test_the_right_token_is_served_and_health_stays_open(auth_server):
    channel, stub = channel_stub(auth_server.port)
    assert stub.ListModels(pb.ListModelsRequest(), metadata=bearer(TOKEN)).models
    assert len(list(stub.Translate(raw_requests(2), metadata=bearer(TOKEN)))) == 2
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == \
        health_pb2.HealthCheckResponse.SERVING
    channel.close()


def test_tls_serves_trusting_clients_and_refuses_plaintext(make_server, tls_files):
    cert, key = tls_files
    server = make_server(tls_cert=cert, tls_key=key, token=TOKEN)
    credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    with grpc.secure_channel(f"localhost:{server.port}", credentials) as channel:
        stub = pb_grpc.TranslatorStub(channel)
        replies = list(stub.Translate(raw_requests(2), metadata=bearer(TOKEN)))
        assert [r.sequence for r in replies] == [0, 1]
    with grpc.insecure_channel(f"localhost:{server.port}") as channel:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.TranslatorStub(channel).ListModels(pb.ListModelsRequest(), timeout=5,
                                                       metadata=bearer(TOKEN))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
