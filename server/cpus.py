"""How many CPUs this process may really use: its affinity mask, capped by a container's CPU
quota (a Kubernetes CPU limit), which os.cpu_count() and the mask both ignore."""
from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def usable_cpus() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:   # macOS, Windows
        cpus = os.cpu_count() or 1
    quota = cpu_quota()
    return max(1, min(cpus, math.floor(quota))) if quota is not None else cpus


def cpu_quota(root: Path = CGROUP) -> float | None:
    """CPUs' worth of time per period the cgroup may use, or None without a limit (or off
    Linux). cgroup v2: ``cpu.max`` = "QUOTA PERIOD" or "max PERIOD"; v1: cfs_quota_us (-1 =
    none) over cfs_period_us."""
    try:
        v2 = root / "cpu.max"
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = root / "cpu"
        quota = int((v1 / "cpu.cfs_quota_us").read_text())
        return None if quota <= 0 else quota / int((v1 / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
