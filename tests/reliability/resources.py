"""What a process holds, for leak checks: native threads (FFmpeg's codec threads included, which
threading.enumerate() does not see), open file descriptors, and the entries of a folder."""
from __future__ import annotations

import collections
import contextlib
import gc
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench_scripts import load_bench_script

# Native thread names (/proc/PID/task/*/comm) and the rule for gRPC's grown event-engine pool,
# as bench/chaos.py reads and judges a replica's (bench/held_resources.py).
_held = load_bench_script("held_resources.py")
thread_names = _held.thread_names
GRPC_POOL_THREAD = _held.GRPC_POOL_THREAD
GRPC_IDLE_THREAD_LIMIT_S = _held.GRPC_IDLE_THREAD_LIMIT_S


@dataclass(frozen=True)
class Held:
    threads: int
    fds: int
    spool_entries: int
    thread_names: collections.Counter = field(default_factory=collections.Counter, compare=False)

    def excess_over(self, baseline: "Held") -> dict:
        excess = {name: getattr(self, name) - getattr(baseline, name)
                  for name in ("threads", "fds", "spool_entries")
                  if getattr(self, name) > getattr(baseline, name)}
        if "threads" in excess:  # which ones, for the failure message
            excess["new_threads"] = dict(self.thread_names - baseline.thread_names)
        return excess


def held(spool: Path | None = None, pid: int | str = "self") -> Held:
    names = thread_names(pid)
    return Held(threads=sum(names.values()), fds=len(os.listdir(f"/proc/{pid}/fd")),
                spool_entries=len(list(spool.iterdir())) if spool is not None else 0,
                thread_names=names)


def settle(baseline: Held, spool: Path | None = None, timeout_s: float = 15.0,
           pid: int | str = "self") -> dict:
    """Waits (bounded) for the process to come back to ``baseline``; returns what is still
    over it ({} when nothing)."""
    started = time.monotonic()
    while True:
        excess = held(spool, pid).excess_over(baseline)
        waited_s = time.monotonic() - started
        if not excess or waited_s > max(timeout_s, _grpc_pool_wait_s(excess)):
            return excess
        time.sleep(0.1)


def _grpc_pool_wait_s(excess: dict) -> float:
    """How long to wait when ``excess`` is only gRPC's own grown pool (0 otherwise)."""
    anything_else_over = bool(set(excess) - {"threads", "new_threads"})
    return _held.grpc_pool_wait_s(collections.Counter(excess.get("new_threads", {})),
                                   anything_else_over)


@contextlib.contextmanager
def gc_paused():
    """Runs the block with the cyclic garbage collector off, so that whatever only a reference
    cycle keeps alive (an FFmpeg codec context and its threads, held by a traceback's frames)
    stays held and shows in the check every time, not only when the collector is late."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
