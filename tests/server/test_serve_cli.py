"""ServerConfig checks and the pix2pix-serve command line, run as a real subprocess."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import pytest

from pix2pix_stream.server.cli import build_parser, config_from_args
from pix2pix_stream.server.config import ServerConfig
from pix2pix_stream.server.errors import ConfigError
from pix2pix_stream.server.limits import JobLimits
from tests.server.helpers import channel_stub, held_open_requests

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("changes, message", [
    ({"max_batch": 0}, "max_batch"),
    ({"address": "no-port"}, "host:port"),
    ({"tls_cert": Path("c.pem")}, "both a certificate and a key"),
    ({"token": " "}, "token"),
    ({"metrics_port": 70000}, "metrics_port"),
    ({"inflight_per_stream": 0}, "inflight_per_stream"),
    ({"scale": "wide"}, "scale must be"),
    ({"spinning": "sometimes"}, "spinning must be one of"),
])
def test_config_refuses_settings_that_cannot_work(changes, message):
    with pytest.raises(ConfigError, match=message):
        ServerConfig(engines_dir=Path("e"), **changes)


def test_cli_flags_build_the_config(monkeypatch):
    monkeypatch.setenv("PIX2PIX_TOKEN", "from-env")
    args = build_parser().parse_args(["--engines", "e", "--port", "0", "--backend", "onnxruntime",
                                      "--max-batch", "4", "--max-delay-ms", "2.5",
                                      "--metrics-port", "9100", "--inflight", "6"])
    cfg = config_from_args(args)
    assert (cfg.address, cfg.backend, cfg.max_batch, cfg.max_delay_ms) == \
        ("[::]:0", "onnxruntime", 4, 2.5)
    assert (cfg.metrics_port, cfg.inflight_per_stream, cfg.token) == (9100, 6, "from-env")


def test_the_spinning_flag_reaches_the_servers_onnx_runtime_sessions(make_server):
    """--onnxruntime-spinning during-runs: the served model's session sleeps after each run."""
    args = build_parser().parse_args(["--engines", "e", "--onnxruntime-spinning", "during-runs"])
    assert config_from_args(args).spinning == "during-runs"
    assert config_from_args(build_parser().parse_args(["--engines", "e"])).spinning == "always"
    running = make_server(spinning="during-runs")
    backend = running._runtime.models.get("tiny").batcher.backend
    options = backend._session.get_session_options()
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"


@pytest.mark.parametrize("threads, cpus, spare", [(None, 16, False), (2, 2, False), (3, 2, False),
                                                 (1, 2, True), (7, 8, True)])
def test_a_cpu_model_leaves_a_core_only_when_told_to_use_fewer_threads_than_cpus(
        monkeypatch, threads, cpus, spare):
    from pix2pix_stream.server import cpus as server_cpus

    monkeypatch.setattr(server_cpus, "usable_cpus", lambda: cpus)
    assert ServerConfig(Path("e"), inference_threads=threads).cpu_model_leaves_a_core is spare


def test_cli_job_limit_flags_build_the_job_limits():
    assert config_from_args(build_parser().parse_args(["--engines", "e"])).job_limits == JobLimits()
    args = build_parser().parse_args(["--engines", "e", "--max-output-bytes", "1000",
                                      "--max-output-pixel-frames", "2000", "--max-job-frames", "30",
                                      "--max-job-s", "4.5", "--disk-reserve-bytes", "0"])
    assert config_from_args(args).job_limits == JobLimits(
        max_output_bytes=1000, max_output_pixel_frames=2000, max_frames=30, max_job_s=4.5,
        disk_reserve_bytes=0)


def test_cli_takes_human_sizes_and_a_scale_policy():
    """The README's synopsis: --max-message-bytes 32MiB --max-pixels 4096x2160."""
    args = build_parser().parse_args(["--engines", "e", "--max-message-bytes", "32MiB",
                                      "--max-pixels", "4096x2160", "--max-video-bytes", "1.5GB",
                                      "--scale", "native"])
    cfg = config_from_args(args)
    assert (cfg.max_message_bytes, cfg.max_pixels, cfg.max_video_bytes) == \
        (32 * 1024**2, 4096 * 2160, 1_500_000_000)
    assert cfg.scale == "native"
    plain = config_from_args(build_parser().parse_args(
        ["--engines", "e", "--max-message-bytes", "1048576", "--max-pixels", "921600",
         "--scale", "384"]))
    assert (plain.max_message_bytes, plain.max_pixels, plain.scale) == (1048576, 921600, "384")
    assert config_from_args(build_parser().parse_args(["--engines", "e"])).scale == "engine"


@pytest.mark.parametrize("flag, value", [("--max-message-bytes", "32 parsecs"),
                                         ("--max-pixels", "4096by2160"), ("--scale", "x2")])
def test_cli_refuses_sizes_it_cannot_read(flag, value, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--engines", "e", flag, value])
    assert flag in capsys.readouterr().err


def serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pix2pix_stream.server.cli", *args], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)


def test_help_explains_the_flags():
    out = subprocess.run([sys.executable, "-m", "pix2pix_stream.server.cli", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    for flag in ("--engines", "--port", "--backend", "--max-batch", "--max-delay-ms",
                 "--metrics-port", "--tls-cert", "--token", "--grace-s"):
        assert flag in out


def test_a_missing_engines_folder_exits_2_with_a_message(tmp_path):
    process = serve("--engines", str(tmp_path / "nowhere"), "--port", "0")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "nowhere" in err


def test_sigterm_drains_open_streams_and_exits_0(tiny_engines_root):
    process = serve("--engines", str(tiny_engines_root), "--port", "0", "--host", "127.0.0.1",
                    "--backend", "onnxruntime", "--inference-threads", "1", "--grace-s", "10")
    try:
        port = _wait_for_port(process)
        channel, stub = channel_stub(port)
        release = threading.Event()
        call = stub.Translate(held_open_requests(4, release))
        got = [next(call).sequence for _ in range(4)]
        process.send_signal(signal.SIGTERM)
        with pytest.raises(grpc.RpcError) as info:
            list(call)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert got == [0, 1, 2, 3]
        release.set()
        channel.close()
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert re.search(r"Translate #1 opened: .*model=tiny mode=LOSSLESS", err)
    assert re.search(r"Translate #1 closed: status=UNAVAILABLE .*frames_in=4 frames_out=4", err)
    assert "draining" in err


def _wait_for_port(process: subprocess.Popen) -> int:
    for line in process.stderr:
        match = re.search(r"listening on port (\d+)", line)
        if match:
            return int(match.group(1))
    raise AssertionError(f"pix2pix-serve exited with {process.wait()} before listening")


def test_a_port_in_use_is_a_startup_error_not_a_shared_port(server, make_server):
    from pix2pix_stream.server.errors import StartupError

    with pytest.raises(StartupError, match="cannot listen on 127.0.0.1"):
        make_server(address=f"127.0.0.1:{server.port}")
