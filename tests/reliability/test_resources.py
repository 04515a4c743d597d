"""The leak checks' own rules: gRPC's grown event-engine pool is waited out to gRPC's idle limit,
anything else held over the baseline is reported after the usual wait."""
from __future__ import annotations

import collections
import threading
import time

from tests.reliability import resources
from tests.reliability.resources import Held, settle


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


def test_settle_reports_a_held_thread_after_its_timeout():
    baseline = resources.held()
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="held-by-test")
    thread.start()
    try:
        started = time.monotonic()
        excess = settle(baseline, timeout_s=0.3)
        # Python 3.11 does not name native threads: this one carries its process's name.
        assert excess["threads"] >= 1 and excess["new_threads"]
        assert time.monotonic() - started < 5  # not the gRPC pool's long wait
    finally:
        release.set()
        thread.join()
    assert settle(baseline, timeout_s=5) == {}
