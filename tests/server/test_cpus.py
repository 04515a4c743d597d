"""The CPUs a server counts as its own: affinity, capped by a container's CPU quota."""
from __future__ import annotations

import pytest

from pix2pix_stream.server import cpus


@pytest.mark.parametrize("files, quota", [
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu.max": "250000 100000\n"}, 2.5),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3.0),
    ({}, None),
    ({"cpu.max": "garbage\n"}, None),
], ids=["v2 none", "v2 2.5", "v1 none", "v1 3", "no cgroup", "unreadable"])
def test_the_cpu_quota_is_read_from_cgroup_v2_or_v1(tmp_path, files, quota):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpus.cpu_quota(tmp_path) == quota


@pytest.mark.parametrize("quota, usable", [(None, 8), (2.5, 2), (0.5, 1), (16.0, 8)])
def test_usable_cpus_are_the_affinity_capped_by_whole_cpus_of_quota(monkeypatch, quota, usable):
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(cpus, "cpu_quota", lambda: quota)
    assert cpus.usable_cpus() == usable
