"""Dynamic batching: frames for one model from every stream share one queue and one inference
thread, which owns the backend (backends are not thread-safe).

A batch runs when it holds ``max_batch`` frames, when its oldest frame has waited
``max_delay_s``, or as soon as no other frame for this model is on its way (being decoded or
transformed). The last rule is what keeps a lone stream at bare-backend latency: waiting for
frames that nobody is sending only adds delay. Streams announce a frame with ``reserve()`` before
they start decoding it, so the batcher knows what is coming.

Frames are batched only with frames of the same compute size (media.geometry: streams of
different sizes and policies share the engine). Each size has its own queue; the batch that is
due is the one whose oldest frame has waited longest, and it waits for more frames of its size
only while no frame of another size is queued: a 16:9 stream never holds up a 4:3 one.
"""
from __future__ import annotations

import concurrent.futures
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from pix2pix_stream.engines.runtime.backend import Backend
from pix2pix_stream.server.errors import ShuttingDownError


@dataclass(frozen=True)
class BatchResult:
    """What a submitted frame's future resolves to."""

    output: np.ndarray  # uint8 [H, W, 3] at the frame's compute size
    queue_s: float      # from submit() to the start of its batch
    inference_s: float  # the whole batch's infer() call
    batch_size: int


# Called by the inference thread after each batch: (batch size, each frame's queue wait, infer s).
BatchObserver = Callable[[int, list, float], None]


@dataclass
class _Item:
    frame: np.ndarray
    future: concurrent.futures.Future
    enqueued: float


class Slot:
    """A frame announced to the batcher; submit it once decoded, or cancel it."""

    def __init__(self, batcher: "Batcher"):
        self._batcher = batcher
        self._open = True

    def submit(self, frame: np.ndarray) -> concurrent.futures.Future:
        if not self._open:
            raise RuntimeError("this slot was already submitted or cancelled")
        self._open = False
        return self._batcher._enqueue(frame, announced=True)

    def cancel(self) -> None:
        if self._open:
            self._open = False
            self._batcher._arrived()


class Batcher:
    def __init__(self, backend: Backend, *, max_batch: int, max_delay_s: float,
                 observer: BatchObserver | None = None):
        self.backend = backend
        self.max_batch = max(1, min(max_batch, backend.info.max_batch))
        self.max_delay_s = max_delay_s
        self._observer = observer
        self._queues: dict[tuple, deque[_Item]] = {}  # compute (height, width) -> frames
        self._coming = 0
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"infer-{backend.info.name}")
        self._thread.start()

    def reserve(self) -> Slot:
        with self._cond:
            if self._closing:
                raise ShuttingDownError("server is shutting down")
            self._coming += 1
        return Slot(self)

    def submit(self, frame: np.ndarray) -> concurrent.futures.Future:
        """Queues one frame without announcing it first."""
        return self.reserve().submit(frame)

    def close(self, timeout: float | None = None) -> None:
        """Takes no more frames, finishes the queued ones and stops the inference thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)

    @property
    def queued(self) -> int:
        return sum(len(q) for q in list(self._queues.values()))

    def _arrived(self) -> None:
        with self._cond:
            self._coming -= 1
            self._cond.notify_all()

    def _enqueue(self, frame: np.ndarray, announced: bool) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._cond:  # one lock and one wake-up for "arrived" and "queued" together
            if announced:
                self._coming -= 1
            if self._closing and not self._thread.is_alive():
                self._cond.notify_all()
                raise ShuttingDownError("server is shutting down")
            key = frame.shape[:2]
            self._queues.setdefault(key, deque()).append(_Item(frame, future, time.perf_counter()))
            self._cond.notify_all()
        return future

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._infer(batch)

    def _next_batch(self) -> list[_Item] | None:
        """Blocks until a batch is due; None once closed and empty."""
        with self._cond:
            while not self._queues:
                if self._closing:
                    return None
                self._cond.wait()
            key = min(self._queues, key=lambda k: self._queues[k][0].enqueued)
            queue = self._queues[key]
            deadline = queue[0].enqueued + self.max_delay_s
            while (len(queue) < self.max_batch and self._coming > 0 and len(self._queues) == 1
                   and not self._closing):
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            taken = [queue.popleft() for _ in range(min(self.max_batch, len(queue)))]
            if not queue:
                del self._queues[key]
        # A stream that went away cancelled its futures; skip those frames.
        return [item for item in taken if item.future.set_running_or_notify_cancel()]

    def _infer(self, batch: list[_Item]) -> None:
        start = time.perf_counter()
        try:
            outputs = self.backend.infer(np.stack([item.frame for item in batch]))
        except Exception as exc:  # every frame of the batch learns why
            for item in batch:
                item.future.set_exception(exc)
            return
        inference_s = time.perf_counter() - start
        waits = [start - item.enqueued for item in batch]
        if self._observer is not None:  # before the results: a reply never outruns its metrics
            self._observer(len(batch), waits, inference_s)
        for item, output, wait in zip(batch, outputs, waits):
            item.future.set_result(BatchResult(output, wait, inference_s, len(batch)))
