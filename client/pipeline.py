"""Threads that keep a stream fed: a Prefetcher produces items (decoded frames) ahead of the
sender, so decoding, the network and inference overlap; a RequestFeed is what gRPC's own sender
thread iterates, and it keeps any exception the source raised for the receiving side."""
from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()
_POLL_S = 0.1  # how often blocked threads look at the stop flag


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher(Iterator[T]):
    """Iterates ``source`` in a daemon thread, at most ``depth`` items ahead of the consumer.
    An exception in the source is re-raised to the consumer. ``close()`` stops the thread and
    waits for it, so that whatever the source reads (a PyAV container) can then be closed."""

    def __init__(self, source: Iterable[T], depth: int = 8, name: str = "prefetch"):
        self._source = source
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, which decides
            self._put(_Failure(exc))

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        while True:
            if self._stop.is_set():
                raise StopIteration
            try:
                item = self._queue.get(timeout=_POLL_S)
                break
            except queue.Empty:
                continue
        if item is _DONE:
            self._finished = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._finished = True
            raise item.error
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> "Prefetcher[T]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RequestFeed(Iterator[T]):
    """The request iterator handed to a gRPC streaming call. gRPC would swallow an exception
    raised here (it logs it and cancels the call); instead the feed ends the request stream and
    keeps the exception in ``error`` for the receiving side to raise."""

    def __init__(self, requests: Iterable[T]):
        self._requests = iter(requests)
        self._stop = threading.Event()
        self.error: BaseException | None = None

    def __next__(self) -> T:
        if self._stop.is_set() or self.error is not None:
            raise StopIteration
        try:
            return next(self._requests)
        except StopIteration:
            raise
        except BaseException as exc:
            self.error = exc
            raise StopIteration from None

    def stop(self) -> None:
        self._stop.set()
