"""media.allocator: a process that handles frames reuses the memory of the frames it frees
(glibc's mmap and trim thresholds raised), and the command-line entry points turn it on."""
import os
import platform
import subprocess
import sys
import textwrap

import pytest

from pix2pix_stream.media.allocator import ENV

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")

# Frames of 256x256 RGB made, filled and freed one after another, on the main thread and on a
# second one (a server's frames live on worker threads, whose heaps glibc trims on its own);
# prints whether the thresholds were set and the page faults per frame.
FRAMES = textwrap.dedent("""
    import resource, sys, threading
    import numpy as np
    from pix2pix_stream.media.allocator import keep_frame_buffers

    print(keep_frame_buffers())

    def frames(n=300):
        # What a server does with each frame: its pixels, and a message that carries them (one
        # buffer alone would be reused by glibc's own adaptive threshold).
        for i in range(n):
            pixels = np.full((256, 256, 3), i % 256, np.uint8).tobytes()
            message = b"header" + pixels
            del pixels, message

    frames(20)                       # warm-up: the first frames fault in any case
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    frames()
    worker = threading.Thread(target=frames)
    worker.start()
    worker.join()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 600)
""")


def faults_per_frame(env: dict) -> tuple[bool, float]:
    done = subprocess.run([sys.executable, "-c", FRAMES], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120, check=True)
    was_set, faults = done.stdout.split()
    return was_set == "True", float(faults)


def test_freed_frames_are_reused_instead_of_faulted_in_again():
    was_set, faults = faults_per_frame({ENV: ""})
    assert was_set
    assert faults < 2, f"{faults:.1f} page faults per 192 KiB frame with the thresholds raised"


def test_default_leaves_glibc_alone_and_each_frame_faults_in_anew():
    was_set, faults = faults_per_frame({ENV: "default"})
    assert not was_set
    assert faults > 20, f"only {faults:.1f} page faults per frame: glibc reused the memory anyway"


class Called(Exception):
    pass


def refuse(*_args):
    raise Called


def test_the_server_and_client_commands_raise_the_thresholds_first(monkeypatch, tmp_path):
    from pix2pix_stream.client import cli as client_cli
    from pix2pix_stream.server import cli as server_cli

    monkeypatch.setattr(server_cli, "keep_frame_buffers", refuse)
    monkeypatch.setattr(client_cli, "keep_frame_buffers", refuse)
    with pytest.raises(Called):
        server_cli.main(["--engines", str(tmp_path)])
    with pytest.raises(Called):
        client_cli.main(["models"])
