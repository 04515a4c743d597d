"""Client tests run against real servers (pix2pix_stream.server.app.start_server on a free loopback port)
serving the real tiny ONNX engines from tests/conftest.py."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from pix2pix_stream.media.synthetic import make_clip

ROOT = Path(__file__).resolve().parents[2]


def start(engines_root: Path, **options):
    from pix2pix_stream.server.app import start_server
    from pix2pix_stream.server.config import ServerConfig

    # An explicit fp32 backend: tests compare served frames with local ONNX Runtime inference,
    # and `auto` may pick a bf16 or int8 route on CPUs that have them.
    options = {"address": "127.0.0.1:0", "metrics_port": 0, "grace_s": 0.5,
               "backend": "onnxruntime", **options}
    return start_server(ServerConfig(engines_dir=engines_root, **options))


@contextlib.contextmanager
def serving(engines_root: Path, **options):
    running = start(engines_root, **options)
    try:
        yield running
    finally:
        running.stop(0)


@pytest.fixture(scope="session")
def server(tiny_engines_root):
    with serving(tiny_engines_root) as running:
        yield running


@pytest.fixture(scope="session")
def address(server) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture(scope="session")
def second_server(tiny_engines_root):
    with serving(tiny_engines_root) as running:
        yield running


@pytest.fixture(scope="session")
def token_server(tiny_engines_root):
    """A server that wants ``authorization: Bearer s3cret``."""
    with serving(tiny_engines_root, token="s3cret") as running:
        yield running


@pytest.fixture
def clip(tmp_path) -> Path:
    """12 frames of 64x48 at 10 fps with an AAC tone."""
    return make_clip(tmp_path / "clip.mp4", frames=12, width=64, height=48, fps=10)


def metric(running_server, name: str, labels: str = "") -> float:
    """One sample of a server's Prometheus endpoint, read over HTTP as a scraper would."""
    url = f"http://127.0.0.1:{running_server.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    prefix = f"{name}{{{labels}}}" if labels else name
    total = 0.0
    for line in text.splitlines():
        if line.startswith(prefix + " ") or (not labels and line.startswith(name + "{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


# Runs pix2pix-client's main() in the child after giving SIGINT Python's own handler back: a
# test run started in the background (`cmd &` in a script, as CI may do) hands its children
# SIGINT ignored, Python then installs no KeyboardInterrupt handler, and the Ctrl-C tests would
# test nothing. Set up in the child itself, not with preexec_fn: that runs Python code between
# fork and exec in this process, whose gRPC threads may hold locks then (a deadlock, seen as
# test_process.py timeouts under load).
_CHILD = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
          "from pix2pix_stream.client.cli import main; sys.exit(main(sys.argv[1:]))")


def cli_process(*args: str, **popen) -> subprocess.Popen:
    """pix2pix-client in its own process (for signals and clean sys.modules)."""
    return subprocess.Popen([sys.executable, "-c", _CHILD, *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
