"""The project's CLIs in their own processes, for the web tests."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# The child gives SIGINT Python's own handler back before it runs the module: a test run started
# in the background (`cmd &`) hands its children SIGINT ignored, and the web command, like any
# background job, then ignores Ctrl-C (the Ctrl-C test hung for 30 s in such runs here). Done in
# the child, not with preexec_fn (see tests/client/conftest.py).
_CHILD = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
          "sys.argv = sys.argv[1:]; runpy.run_module(sys.argv[0], run_name='__main__', "
          "alter_sys=True)")


class Process:
    """A CLI in its own process; ``wait_for`` reads its output until a line matches."""

    def __init__(self, *args: str):
        self.args = args
        # faulthandler: a process that hangs can be made to print every thread's stack
        # (``dump_and_kill``) instead of being killed silently.
        self.popen = subprocess.Popen([sys.executable, "-c", _CHILD, *args], cwd=ROOT, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      env={**os.environ, "PYTHONFAULTHANDLER": "1"})

    def wait_for(self, pattern: str, timeout_s: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout_s
        seen = []
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            if not line:
                break
            seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"{self.args[0]} never printed {pattern!r}:\n{''.join(seen)}")

    def dump_and_kill(self) -> str:
        """Ends a hung process with SIGABRT, which faulthandler answers with every thread's
        Python stack; returns the end of everything the process printed."""
        self.popen.send_signal(signal.SIGABRT)
        try:
            output = self.popen.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            self.popen.kill()
            output = self.popen.communicate()[0]
        return output[-6000:]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
