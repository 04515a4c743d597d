"""The leak checks' own rules: gRPC's grown event-engine pool is waited out to gRPC's idle limit,
anything else held over the baseline is reported after the usual wait."""
from __future__ import annotations

import collections
import time

from tests.reliability import resources
from tests.reliability.resources import Held, settle

held = resources._held   # bench/held_resources.py, as bench/chaos.py uses it


def test_a_grown_grpc_pool_alone_is_waited_out_past_grpcs_idle_limit():
    excess = Held(threads=5, fds=0, spool_entries=0,
                  thread_names=collections.Counter(event_engine=3)).excess_over(
        Held(threads=4, fds=0, spool_entries=0, thread_names=collections.Counter(event_engine=2)))
    assert resources._grpc_pool_wait_s(excess) > resources.GRPC_IDLE_THREAD_LIMIT_S


def test_any_other_thread_held_gets_no_longer_wait():
    excess = Held(threads=6, fds=0, spool_entries=0,
                  thread_names=collections.Counter(event_engine=3, av_codec=1)).excess_over(
        Held(threads=4, fds=0, spool_entries=0, thread_names=collections.Counter(event_engine=2)))
    assert resources._grpc_pool_wait_s(excess) == 0.0
    assert resources._grpc_pool_wait_s({"fds": 1}) == 0.0


def test_settle_reports_what_is_still_held_after_its_timeout(tmp_path):
    # A spool entry, not a thread: threads that earlier tests left ending would blur a count.
    baseline = resources.held(tmp_path)
    (tmp_path / "left-behind").write_bytes(b"x")
    started = time.monotonic()
    assert settle(baseline, tmp_path, timeout_s=0.3)["spool_entries"] == 1
    assert time.monotonic() - started < 5  # not the gRPC pool's long wait
    (tmp_path / "left-behind").unlink()
    assert settle(baseline, tmp_path, timeout_s=5) == {}


def _pool_grown_until(seconds: float, fds_over: int = 0):
    """A measure for bench/chaos.py's settle (bench/held_resources.py): one event_engine thread
    over the baseline until ``seconds`` have passed, and ``fds_over`` extra fds throughout."""
    started = time.monotonic()
    base = collections.Counter(event_engine=2, MainThread=1)

    def measure():
        grown = time.monotonic() - started < seconds
        return base + collections.Counter(event_engine=int(grown)), 10 + fds_over, 0
    return measure, (base, 10, 0)


def test_chaos_settle_waits_out_grpcs_pool_alone(monkeypatch):
    monkeypatch.setattr(held, "GRPC_IDLE_THREAD_LIMIT_S", 0.6)  # gRPC's 20 s, scaled down
    measure, baseline = _pool_grown_until(0.5)
    assert held.settle(measure, baseline, timeout_s=0.1) == "0"


def test_chaos_settle_reports_a_pool_thread_beside_another_leak_after_its_usual_wait(monkeypatch):
    monkeypatch.setattr(held, "GRPC_IDLE_THREAD_LIMIT_S", 30.0)
    measure, baseline = _pool_grown_until(60, fds_over=1)
    started = time.monotonic()
    assert held.settle(measure, baseline, timeout_s=0.3) == "threads +1, fds +1"
    assert time.monotonic() - started < 5
