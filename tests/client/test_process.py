"""pix2pix-client as a separate process: Ctrl-C leaves a closed, playable output (or, after a
second Ctrl-C with --server-decode, none) and exits 130; importing the client pulls in neither
torch nor onnxruntime."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from pix2pix_stream.client import exit_codes
from tests.client.conftest import ROOT, cli_process, serving
from pix2pix_stream.media.synthetic import make_clip, probe
from tests.server.helpers import stall_inference


HEAVY = ("torch", "onnxruntime", "onnx", "openvino", "tensorrt", "pix2pix_stream.engines",
         "pix2pix_stream.pix2pix", "pix2pix_stream.networks", "pix2pix_stream.server")


def test_client_imports_neither_torch_nor_onnxruntime():
    code = ("import sys, pix2pix_stream.client, pix2pix_stream.client.cli, "
            "pix2pix_stream.client.commands, pix2pix_stream.client.webcam; "
            f"print(sorted(m for m in sys.modules for h in {HEAVY!r} "
            f"if m == h or m.startswith(h + '.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


class Watcher:
    """Collects a pipe's text in a thread, so the test can wait for a pattern in it."""

    def __init__(self, pipe):
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:
        for chunk in iter(lambda: pipe.read(1), ""):
            self.text += chunk

    def wait_for(self, pattern: str, timeout_s: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text)
            if match:
                return match
            time.sleep(0.02)
        raise AssertionError(f"{pattern!r} did not appear; got: {self.text[-500:]!r}")

    def join(self) -> None:
        self._thread.join(10)


def interrupt(process: subprocess.Popen, after: Watcher, pattern: str) -> int:
    after.wait_for(pattern)
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=60)


def test_ctrl_c_during_video_keeps_a_playable_partial_output(address, tmp_path):
    src = make_clip(tmp_path / "long.mp4", frames=900, fps=30)
    out = tmp_path / "partial.mp4"
    process = cli_process("video", str(src), str(out), "--model", "tiny", "--server", address)
    stderr = Watcher(process.stderr)
    code = interrupt(process, stderr, r"\b([2-9]\d|\d{3})/900\b")  # at least 20 frames done
    stderr.join()
    assert code == exit_codes.INTERRUPTED == 130, stderr.text[-2000:]
    assert "interrupted" in stderr.text
    partial = probe(out)  # opens and decodes: the trailer was written
    assert 0 < partial["frames"] < 900
    # Frame timing, not the container's average rate: a file cut after a few dozen frames has an
    # average rate skewed by its last frame's duration estimate (29.49 seen for 30 fps).
    assert frame_intervals(out) == pytest.approx(1 / 30, abs=1e-4)


def frame_intervals(path) -> float:
    """Median time between consecutive frames, from their presentation timestamps."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        times = sorted(float(f.time) for f in container.decode(video=0))
    return float(np.median(np.diff(times)))


def test_ctrl_c_during_webcam_keeps_a_playable_recording(address, tmp_path):
    device = make_clip(tmp_path / "camera.mp4", frames=200, fps=20, audio=False)
    record = tmp_path / "shown.mkv"
    process = cli_process("webcam", "--device", str(device), "--model", "tiny", "--record",
                          str(record), "--server", address)
    stdout = Watcher(process.stdout)
    # The first once-a-second report; it counts the replies so far, the last one not yet
    # recorded. (How many arrive in that second depends on the machine's load.)
    report = stdout.wait_for(r"fps +\d.* frames (\d+) ")
    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=60)
    stdout.join()
    assert code == exit_codes.INTERRUPTED, process.stderr.read()[-2000:]
    shown = probe(record)
    assert int(report.group(1)) - 1 <= shown["frames"] < 200 and shown["width"] == 128


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "pix2pix-client")
    if not os.path.exists(script):
        pytest.skip("the project is not pip-installed in this environment")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "exit codes" in result.stdout


def test_ctrl_c_with_server_decode_keeps_the_frames_the_server_finished(address, tmp_path):
    src = make_clip(tmp_path / "long.mp4", frames=900, fps=30)
    out = tmp_path / "partial.mp4"
    process = cli_process("video", str(src), str(out), "--model", "tiny", "--server", address,
                          "--server-decode")
    stderr = Watcher(process.stderr)
    code = interrupt(process, stderr, r"\b([2-9]\d|\d{3})/900\b")  # at least 20 frames done
    stderr.join()
    assert code == exit_codes.INTERRUPTED, stderr.text[-2000:]
    held = int(re.search(r"holds the first (\d+) frames", stderr.text).group(1))
    partial = probe(out)  # the server's finished container: it opens and decodes
    assert 20 <= partial["frames"] == held < 900
    assert frame_intervals(out) == pytest.approx(1 / 30, abs=1e-4)
    assert not list(tmp_path.glob(".*partial*"))  # no temporary file left behind


def test_a_second_ctrl_c_with_server_decode_writes_nothing(tiny_engines_root, tmp_path):
    """The server cannot finish here (inference stalls once the test says so), so the second
    Ctrl-C cancels the call: the client must not leave a broken or empty file."""
    src = make_clip(tmp_path / "long.mp4", frames=900, fps=30)
    out = tmp_path / "none.mp4"
    with serving(tiny_engines_root) as running:
        stall = stall_inference(running, "tiny")
        process = cli_process("video", str(src), str(out), "--model", "tiny", "--server-decode",
                              "--server", f"127.0.0.1:{running.port}")
        stderr = Watcher(process.stderr)
        stderr.wait_for(r"\b([2-9]\d|\d{3})/900\b")
        stall.set()
        # A batch must be held before the first Ctrl-C: if none is, the server can finish the
        # frames done so far at once, before the second Ctrl-C (seen once in a full run).
        assert stall.held.wait(30), "no batch reached the stalled inference"
        process.send_signal(signal.SIGINT)
        stderr.wait_for("stopping")
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
        stderr.join()
    assert code == exit_codes.INTERRUPTED, stderr.text[-2000:]
    assert "no output written" in stderr.text
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))
