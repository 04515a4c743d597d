"""What a process holds, for the leak checks of bench/chaos.py and tests/reliability/: its native
threads by name (FFmpeg's codec threads and gRPC's pools included, which threading.enumerate()
does not see), and a bounded wait for them, its fds and its temp entries to fall back to a
baseline, with the one rule for gRPC's own grown thread pool."""
from __future__ import annotations

import collections
import os
import time
from pathlib import Path


def thread_names(pid: int | str) -> collections.Counter:
    """Native thread names of a process ("self" for this one), from /proc/PID/task/*/comm."""
    names = collections.Counter()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            names[Path(f"/proc/{pid}/task/{task}/comm").read_text().strip()] += 1
        except OSError:
            pass  # ended meanwhile
    return names


def own_held() -> tuple[collections.Counter, int, int]:
    return thread_names("self"), len(os.listdir("/proc/self/fd")), 0


# gRPC's event-engine pool (threads named "event_engine") grows by itself when its work backs
# up and lets a grown thread go only after 20 s idle (kIdleThreadLimit in gRPC's
# work_stealing_thread_pool.cc), longer than a settle's usual wait. When gRPC's pool is all that
# is still over the baseline, the wait goes on until that limit has passed: a thread that
# outlives it is held, not idle. tests/reliability/resources.py applies the same rule.
GRPC_POOL_THREAD = "event_engine"
GRPC_IDLE_THREAD_LIMIT_S = 20.0


def grpc_pool_wait_s(new_threads: collections.Counter, anything_else_over: bool) -> float:
    """How long a settle waits when gRPC's own grown pool is all that is over (0 otherwise)."""
    only_grpc_pool = not anything_else_over and set(new_threads) == {GRPC_POOL_THREAD}
    return GRPC_IDLE_THREAD_LIMIT_S + 5.0 if only_grpc_pool else 0.0


def settle(measure, baseline, timeout_s: float = 15.0) -> str:
    """What is still above ``baseline`` (thread names, fds, temp entries) after a bounded wait,
    as text ("0" when nothing)."""
    base_names, *base_counts = baseline
    before = (sum(base_names.values()), *base_counts)
    started = time.monotonic()
    while True:
        names, *counts = measure()
        now = (sum(names.values()), *counts)
        over = {label: n - b for label, n, b in zip(("threads", "fds", "temp"), now, before)
                if n > b}
        new_threads = names - base_names if "threads" in over else collections.Counter()
        pool_wait_s = grpc_pool_wait_s(new_threads,
                                       anything_else_over=bool(set(over) - {"threads"}))
        if not over or time.monotonic() - started > max(timeout_s, pool_wait_s):
            return ", ".join(f"{label} +{n}" for label, n in over.items()) or "0"
        time.sleep(0.2)
