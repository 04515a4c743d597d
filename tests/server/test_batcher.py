"""Unit tests of the dynamic batcher with a small in-process Backend (an isolated component; the
end-to-end tests use real ONNX engines)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pix2pix_stream.engines.runtime.backend import Backend, BackendInfo
from pix2pix_stream.engines.runtime.metadata import EngineMetadata
from pix2pix_stream.server.batcher import Batcher
from pix2pix_stream.server.errors import ShuttingDownError


class RecordingBackend(Backend):
    """Adds 1 to every pixel and records each batch size; optionally slow or failing."""

    def __init__(self, max_batch: int = 8, delay_s: float = 0.0, fail: bool = False):
        # A dynamic-size engine: any multiple of 4 (as media.geometry's compute sizes are).
        super().__init__(EngineMetadata(name="fake", input_width=4, input_height=4,
                                        size_multiple=4, min_size=[4, 4]))
        self._info = BackendInfo("fake", "fake", 4, 4, max_batch, "fp32")
        self.batches: list[int] = []
        self.shapes: list[tuple] = []  # (height, width) of each batch
        self.delay_s = delay_s
        self.fail = fail
        self.started = threading.Event()

    @property
    def info(self) -> BackendInfo:
        return self._info

    def _run(self, batch):
        self.started.set()
        self.batches.append(len(batch))
        self.shapes.append(batch.shape[1:3])
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("device lost")
        return batch + 1


def frame(value: int, height: int = 4, width: int = 4) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


@pytest.fixture
def make_batcher():
    made = []

    def make(backend, **kw):
        batcher = Batcher(backend, **{"max_batch": 4, "max_delay_s": 0.05, **kw})
        made.append(batcher)
        return batcher

    yield make
    for batcher in made:
        batcher.close(timeout=5)


def test_frames_queued_together_share_a_batch_and_keep_their_results(make_batcher):
    backend = RecordingBackend(delay_s=0.05)
    batcher = make_batcher(backend)
    first = batcher.submit(frame(0))
    backend.started.wait(5)  # the worker is busy: the next frames pile up
    futures = [batcher.submit(frame(v)) for v in range(1, 6)]
    results = [f.result(5) for f in [first] + futures]
    assert [int(r.output[0, 0, 0]) for r in results] == [1, 2, 3, 4, 5, 6]
    assert backend.batches == [1, 4, 1]
    assert results[1].batch_size == 4 and results[1].queue_s > 0


def test_a_lone_frame_with_nothing_coming_runs_at_once(make_batcher):
    batcher = make_batcher(RecordingBackend(), max_delay_s=1.0)
    start = time.perf_counter()
    batcher.submit(frame(0)).result(5)
    assert time.perf_counter() - start < 0.5


def test_an_announced_frame_holds_the_batch_up_to_max_delay(make_batcher):
    backend = RecordingBackend()
    batcher = make_batcher(backend, max_delay_s=0.2)
    coming = batcher.reserve()
    start = time.perf_counter()
    early = batcher.submit(frame(0))
    time.sleep(0.05)
    late = coming.submit(frame(1))
    early.result(5), late.result(5)
    assert backend.batches == [2]
    assert time.perf_counter() - start < 0.2 + 0.15


def test_the_oldest_frame_never_waits_much_longer_than_max_delay(make_batcher):
    backend = RecordingBackend()
    batcher = make_batcher(backend, max_delay_s=0.05)
    never = batcher.reserve()  # announced but never submitted
    result = batcher.submit(frame(0)).result(5)
    assert backend.batches == [1]
    assert 0.04 <= result.queue_s < 0.5
    never.cancel()


def test_cancelled_frames_are_skipped(make_batcher):
    backend = RecordingBackend(delay_s=0.05)
    batcher = make_batcher(backend)
    batcher.submit(frame(0))
    backend.started.wait(5)
    gone, kept = batcher.submit(frame(1)), batcher.submit(frame(2))
    assert gone.cancel()
    assert int(kept.result(5).output[0, 0, 0]) == 3
    assert backend.batches == [1, 1]


def test_a_failing_batch_fails_each_of_its_frames(make_batcher):
    batcher = make_batcher(RecordingBackend(fail=True))
    with pytest.raises(RuntimeError, match="device lost"):
        batcher.submit(frame(0)).result(5)


def test_close_finishes_queued_frames_then_refuses_new_ones():
    backend = RecordingBackend(delay_s=0.02)
    batcher = Batcher(backend, max_batch=2, max_delay_s=0.01)
    futures = [batcher.submit(frame(v)) for v in range(5)]
    batcher.close(timeout=5)
    assert [int(f.result(0).output[0, 0, 0]) for f in futures] == [1, 2, 3, 4, 5]
    with pytest.raises(ShuttingDownError):
        batcher.submit(frame(0))


def test_max_batch_is_capped_by_the_backend():
    batcher = Batcher(RecordingBackend(max_batch=2), max_batch=8, max_delay_s=0.0)
    assert batcher.max_batch == 2
    batcher.close()


def test_only_frames_of_one_compute_size_share_a_batch(make_batcher):
    backend = RecordingBackend(delay_s=0.05)
    batcher = make_batcher(backend)
    first = batcher.submit(frame(0))
    backend.started.wait(5)  # the worker is busy: frames of two sizes pile up, interleaved
    sizes = [(4, 8), (8, 4), (4, 8), (8, 4), (4, 8)]
    futures = [batcher.submit(frame(v, *size)) for v, size in enumerate(sizes, start=1)]
    results = [f.result(5) for f in futures]
    first.result(5)
    assert [r.output.shape[:2] for r in results] == sizes
    assert [int(r.output[0, 0, 0]) for r in results] == [2, 3, 4, 5, 6]
    # the oldest size first, each batch one size only
    assert list(zip(backend.shapes, backend.batches)) == [((4, 4), 1), ((4, 8), 3), ((8, 4), 2)]


def test_a_frame_of_another_size_does_not_wait_for_frames_on_their_way(make_batcher):
    """A queued frame of another size means the engine has work: the due batch runs at once
    instead of holding out (up to max_delay) for more frames of its own size."""
    backend = RecordingBackend(delay_s=0.05)
    batcher = make_batcher(backend, max_delay_s=1.0)
    busy = batcher.submit(frame(0))
    backend.started.wait(5)
    coming = batcher.reserve()  # another stream is decoding a frame
    wide, tall = batcher.submit(frame(1, 4, 8)), batcher.submit(frame(2, 8, 4))
    busy.result(5)
    assert wide.result(5).queue_s < 0.5
    coming.cancel()
    assert tall.result(5).queue_s < 0.5
    assert backend.shapes == [(4, 4), (4, 8), (8, 4)]
