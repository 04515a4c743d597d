"""What a process holds, for leak checks: native threads (FFmpeg's codec threads included, which
threading.enumerate() does not see), open file descriptors, and the entries of a folder."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Held:
    threads: int
    fds: int
    spool_entries: int

    def excess_over(self, baseline: "Held") -> dict:
        return {name: getattr(self, name) - getattr(baseline, name)
                for name in ("threads", "fds", "spool_entries")
                if getattr(self, name) > getattr(baseline, name)}


def held(spool: Path | None = None, pid: int | str = "self") -> Held:
    return Held(threads=len(os.listdir(f"/proc/{pid}/task")),
                fds=len(os.listdir(f"/proc/{pid}/fd")),
                spool_entries=len(list(spool.iterdir())) if spool is not None else 0)


def settle(baseline: Held, spool: Path | None = None, timeout_s: float = 15.0,
           pid: int | str = "self") -> dict:
    """Waits (bounded) for the process to come back to ``baseline``; returns what is still
    over it ({} when nothing)."""
    deadline = time.monotonic() + timeout_s
    while True:
        excess = held(spool, pid).excess_over(baseline)
        if not excess or time.monotonic() > deadline:
            return excess
        time.sleep(0.1)
