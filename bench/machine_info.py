"""What a benchmark ran on, and what else ran beside it: the CPU model and flags (bf16, VNNI),
the packages' versions, the commit, and the cores that other processes and hypervisor steal took
during a bench (bench/run_all.py records these with every result)."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8",
             "amx_tile")
PACKAGES = ("torch", "onnxruntime", "openvino", "numpy", "grpcio", "matplotlib")


def machine() -> dict:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                capture_output=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=ROOT, text=True, capture_output=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_flags": {flag: flag in flags for flag in CPU_FLAGS},
        "bf16": any(f in flags for f in ("avx512_bf16", "amx_bf16")),
        "vnni": any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8")),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "git_commit": commit,
        "git_dirty": dirty,
    }


def machine_cpu_s() -> tuple[float, float] | None:
    """(busy, stolen) CPU seconds of the whole machine so far, from /proc/stat; None elsewhere.
    Busy = user + nice + system + irq + softirq; stolen = time the hypervisor gave elsewhere."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def own_cpu_s() -> float:
    """CPU seconds of this process and of every child it has waited for (the benches and, as
    they wait for theirs, their servers and clients)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def other_work(before: tuple, after: tuple, own_s: float, seconds: float) -> dict | None:
    """How many cores, on average over a bench, went to work that was not the bench's own
    (other processes) and to the hypervisor's other guests (steal). The load average cannot
    tell: a bench's own server, client and inference threads push it above the core count."""
    if before is None or after is None or seconds <= 0:
        return None
    busy, steal = after[0] - before[0], after[1] - before[1]
    return {"other_cores": max(0.0, busy - own_s) / seconds, "steal_cores": steal / seconds}
