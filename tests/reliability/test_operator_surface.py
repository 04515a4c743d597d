"""Points 6 and 8: the metrics port binds the serving host unless told otherwise; bearer auth
takes the scheme in any case, logs refusals (rate limited, never the token), warns about a
token on a plaintext non-loopback port; ListModels shows no build-machine paths."""
from __future__ import annotations

import json
import logging
import shutil
import socket

import grpc
import pytest

from pix2pix_stream.engines.runtime.metadata import read_metadata, write_metadata
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server.app import warn_plaintext_token
from pix2pix_stream.server.cli import build_parser, config_from_args
from pix2pix_stream.server.public_metadata import public_metadata
from tests.reliability.conftest import server_config
from tests.server.helpers import channel_stub

TOKEN = "r3liable-token"


def listening_hosts(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp)."""
    hosts = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            hosts.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return hosts


def test_metrics_bind_the_serving_host_by_default(make_server):
    server = make_server(address="127.0.0.1:0")
    assert listening_hosts(server.metrics_port) == {"127.0.0.1"}


def test_metrics_host_flag_is_parsed_and_defaults_to_the_serving_host(tmp_path):
    args = build_parser().parse_args(["--engines", str(tmp_path), "--host", "127.0.0.1"])
    assert config_from_args(args).metrics_bind_host == "127.0.0.1"
    args = build_parser().parse_args(["--engines", str(tmp_path), "--host", "127.0.0.1",
                                      "--metrics-host", "0.0.0.0"])
    assert config_from_args(args).metrics_bind_host == "0.0.0.0"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_scheme_is_case_insensitive(make_server, scheme):
    server = make_server(token=TOKEN)
    channel, stub = channel_stub(server.port)
    with channel:
        reply = stub.ListModels(pb.ListModelsRequest(),
                                metadata=[("authorization", f"{scheme} {TOKEN}")], timeout=10)
    assert [m.name for m in reply.models] == ["tiny", "tiny-canny"]


def test_several_tokens_each_work_and_a_wrong_one_does_not(make_server):
    server = make_server(token=f"{TOKEN},second-token")
    channel, stub = channel_stub(server.port)
    with channel:
        for token in (TOKEN, "second-token"):
            stub.ListModels(pb.ListModelsRequest(), metadata=[("authorization", f"Bearer {token}")],
                            timeout=10)
        with pytest.raises(grpc.RpcError) as info:
            stub.ListModels(pb.ListModelsRequest(), metadata=[("authorization", "Bearer nope")],
                            timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_refused_calls_are_logged_once_per_peer_without_the_token(make_server, caplog):
    server = make_server(token=TOKEN)
    channel, stub = channel_stub(server.port)
    wrong = "wrong-" + TOKEN
    with caplog.at_level(logging.WARNING, logger="pix2pix.server"), channel:
        for _ in range(20):
            with pytest.raises(grpc.RpcError):
                stub.ListModels(pb.ListModelsRequest(),
                                metadata=[("authorization", f"Bearer {wrong}")], timeout=10)
    refusals = [r for r in caplog.records if "refused ListModels" in r.getMessage()]
    assert len(refusals) == 1 and "127.0.0.1" in refusals[0].getMessage()
    assert wrong not in caplog.text and TOKEN not in caplog.text


def test_a_token_on_a_plaintext_public_port_is_warned_about(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="pix2pix.server"):
        warn_plaintext_token(server_config(tmp_path, address="127.0.0.1:0", token=TOKEN))
        assert "plaintext" not in caplog.text
        warn_plaintext_token(server_config(tmp_path, address="0.0.0.0:0", token=TOKEN))
    assert "token auth on a plaintext port" in caplog.text and TOKEN not in caplog.text


def test_list_models_shows_no_build_machine_paths(make_server, tiny_engine_dir, tmp_path):
    engine = shutil.copytree(tiny_engine_dir, tmp_path / "engines" / "tiny")
    meta = read_metadata(engine)
    write_metadata(engine, meta.with_changes(
        source_checkpoint="/home/alice/runs/facades/latest.pt",
        training={**meta.training, "data": "/data/private/facades", "log": "C:\\Users\\bob\\x.txt"}))
    server = make_server(engines_dir=engine.parent)
    channel, stub = channel_stub(server.port)
    with channel:
        text = stub.ListModels(pb.ListModelsRequest(), timeout=10).models[0].metadata_json
    assert "/home/alice" not in text and "/data/private" not in text and "Users" not in text
    shown = json.loads(text)
    assert shown["source_checkpoint"] == "latest.pt" and shown["training"]["data"] == "facades"
    assert shown["name"] == "tiny" and shown["onnx_sha256"] == meta.onnx_sha256


def test_public_metadata_keeps_what_is_not_a_path():
    data = {"a": "Canny edges -> facade", "b": ["/x/y.pt", 3], "c": {"d": "http://host/x"}}
    assert public_metadata(data) == {"a": "Canny edges -> facade", "b": ["y.pt", 3],
                                     "c": {"d": "http://host/x"}}
