"""The servers of bench/chaos.py: pix2pix-serve replicas in subprocesses on loopback, serving a
tiny real engine exported in a child process (chaos.py itself never imports torch)."""
from __future__ import annotations

import collections
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from held_resources import thread_names  # bench/, this script's folder
from serve_process import export_synthetic_engine  # bench/

ROOT = Path(__file__).resolve().parent.parent
MODEL = "chaos"
SIZE = 128
IDLE_TIMEOUT_S = 1.0
MAX_STREAMS = 6


def export_engine(folder: Path) -> Path:
    export_synthetic_engine(folder, MODEL, net="unet_128", ngf=8, size=SIZE,
                            description="chaos engine")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica:
    """pix2pix-serve in a subprocess on a fixed loopback port, restartable on the same port."""

    def __init__(self, engines: Path, spool: Path):
        self.engines, self.spool, self.port = engines, spool, free_port()
        self.process: subprocess.Popen | None = None
        self.metrics_port = 0

    def start(self) -> "Replica":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pix2pix_stream.server.cli", "--engines", str(self.engines),
             "--host", "127.0.0.1", "--port", str(self.port), "--metrics-port", "0",
             "--backend", "onnxruntime", "--inference-threads", "1", "--max-batch", "2",
             "--max-streams", str(MAX_STREAMS), "--idle-timeout-s", str(IDLE_TIMEOUT_S),
             "--tmp-dir", str(self.spool), "--grace-s", "2", "--max-output-bytes",
             str(64 * 1024 ** 2), "--log-level", "WARNING"],
            cwd=ROOT, stderr=subprocess.PIPE, text=True)
        for line in self.process.stderr:
            match = re.search(r"listening on port (\d+), metrics on port (\d+)", line)
            if match:
                self.metrics_port = int(match.group(2))
                # Keep reading, or a chatty server would block on a full pipe.
                threading.Thread(target=lambda: [None for _ in self.process.stderr],
                                 daemon=True).start()
                return self
        raise RuntimeError(f"pix2pix-serve exited with {self.process.wait()}")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def open_calls(self, method: str) -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                        timeout=2) as reply:
                text = reply.read().decode()
        except OSError:
            return 0.0
        match = re.search(rf'pix2pix_active_streams{{method="{method}"}} ([0-9.]+)', text)
        return float(match.group(1)) if match else 0.0

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)
        self.process.wait(30)

    def held(self) -> tuple[collections.Counter, int, int]:
        pid = self.process.pid
        return thread_names(pid), len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(self.spool))
