"""Server tests run real servers (port 0 on loopback) serving the real tiny ONNX engines of
tests/conftest.py through ONNX Runtime, and talk to them with the generated gRPC stubs."""
from __future__ import annotations

import grpc
import pytest

from pix2pix_stream.engines.runtime.registry import load_backend
from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc
from pix2pix_stream.server.app import start_server
from pix2pix_stream.server.config import ServerConfig


def server_config(engines_root, **changes) -> ServerConfig:
    defaults = dict(engines_dir=engines_root, address="127.0.0.1:0", backend="onnxruntime",
                    inference_threads=1, metrics_port=0, grace_s=2.0, worker_threads=3)
    return ServerConfig(**{**defaults, **changes})


@pytest.fixture(scope="module")
def server(tiny_engines_root):
    """A server with the default limits, shared by the tests of one module."""
    running = start_server(server_config(tiny_engines_root))
    yield running
    running.stop(0)


@pytest.fixture
def make_server(tiny_engines_root):
    """Starts servers with changed settings; stops them after the test."""
    started = []

    def make(**changes):
        running = start_server(server_config(tiny_engines_root, **changes))
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop(0)


@pytest.fixture
def stub(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.TranslatorStub(channel)


@pytest.fixture(scope="module")
def tiny_backend(tiny_engine_dir):
    """The bare backend the server wraps, for 'same as calling the backend' checks."""
    backend = load_backend(tiny_engine_dir, "onnxruntime", max_batch=8, threads=1)
    yield backend
    backend.close()
