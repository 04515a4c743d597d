"""pix2pix-serve (or bench/echo_server.py) in a subprocess, and the untrained engines it serves,
for the benches that measure a real server from outside (service, temporal, video_file, chaos):
the server's CPU and memory are its own, and the bench process never imports torch."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import grpc

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent


def export_synthetic_engine(folder: Path, name: str, *, net: str, ngf: int, size: int,
                            description: str) -> Path:
    """Exports an untrained ``net`` engine to folder/name in a child process (torch stays out
    of this one); returns folder/name."""
    code = ("import sys; from pathlib import Path; "
            "from pix2pix_stream.engines.build.export import export_generator; "
            "from pix2pix_stream.engines.build.synthetic import synthetic_generator; "
            f"export_generator(synthetic_generator({net!r}, ngf={ngf}, seed=1), "
            f"Path(sys.argv[1]), name={name!r}, input_size={size}, description={description!r})")
    subprocess.run([sys.executable, "-c", code, str(folder / name)], cwd=ROOT, check=True)
    return folder / name


class Server:
    """pix2pix-serve in a subprocess, so that its CPU and memory are its own."""

    def __init__(self, engines: Path, args, *, backend: str = "onnxruntime",
                 scale: str = "native"):
        self._start(["-m", "pix2pix_stream.server.cli", "--engines", str(engines), "--port", "0",
                     "--host", "127.0.0.1", "--backend", backend, "--inference-threads",
                     str(args.threads), "--max-batch", str(args.max_batch), "--max-delay-ms",
                     str(args.max_delay_ms), "--inflight", str(args.inflight), "--log-level",
                     "WARNING", "--scale", scale, "--onnxruntime-spinning",
                     getattr(args, "spinning", "always")])

    def _start(self, arguments: list[str]) -> None:
        self.process = subprocess.Popen([sys.executable, *arguments], cwd=ROOT,
                                        stderr=subprocess.PIPE, text=True)
        for line in self.process.stderr:
            match = re.search(r"listening on port (\d+)", line)
            if match:
                self.port = int(match.group(1))
                return
        raise RuntimeError(f"{arguments[0]} exited with {self.process.wait()}")

    def backend_of(self, model: str) -> str:
        """The backend the server chose for ``model`` (ListModels)."""
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            reply = pb_grpc.TranslatorStub(channel).ListModels(pb.ListModelsRequest(), timeout=30)
        return next(m.backend for m in reply.models if m.name == model)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


class EchoServer(Server):
    """bench/echo_server.py in a subprocess: the same service, every frame sent straight back."""

    def __init__(self):
        self._start([str(ROOT / "bench" / "echo_server.py")])
