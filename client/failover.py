"""Failover across replicas: a stream cut off by a draining or vanished server continues on
another one from the first frame it had not answered.

A server that drains answers every frame it has read and ends the call UNAVAILABLE; one that
dies ends it UNAVAILABLE at once. Either way the frames sent but not answered are still here
(ReplayableRequests keeps them until their reply arrives), so a new call, which the channel's
round_robin policy places on a replica that is up, sends those first and then the rest. Frames
are numbered by the source, not by the call, so the replies line up with the frames whichever
server answered them, and a translation is the same bytes on every replica of an engine: the
output equals an uninterrupted run's.

Retries are bounded: ``max_failovers`` calls in a row that end without a single reply, with
a growing pause between them, and at most FAILOVER_TOTAL_FACTOR times that in all.
"""
from __future__ import annotations

import asyncio
import collections
import threading
import time
from typing import Iterable, Iterator

import grpc
import numpy as np

from pix2pix_stream.client import frames as fr
from pix2pix_stream.protos import translator_pb2 as pb

FAILOVER_CODES = (grpc.StatusCode.UNAVAILABLE,)
FAILOVER_TOTAL_FACTOR = 4
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 2.0


class Failover:
    """The retry budget of one stream or job."""

    def __init__(self, max_failovers: int):
        self.max_failovers = max_failovers
        self.failovers = 0        # calls that were resumed elsewhere, in all
        self._in_a_row = 0        # ... since the last reply

    def progressed(self) -> None:
        self._in_a_row = 0

    def retry(self, error) -> bool:
        """True (after a pause) when the failed call should be resumed on another replica.
        ``error``: a grpc.RpcError or a ClientError (which carries its status as ``code``)."""
        pause = self.pause_before_retry(error)
        if pause is None:
            return False
        time.sleep(pause)
        return True

    def pause_before_retry(self, error) -> float | None:
        """Seconds to wait before resuming (the retry is then counted), or None: give up."""
        code = getattr(error, "code", None)
        code = code() if callable(code) else code
        if code not in FAILOVER_CODES or self._in_a_row >= self.max_failovers \
                or self.failovers >= self.max_failovers * FAILOVER_TOTAL_FACTOR:
            return None
        pause = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** self._in_a_row)
        self._in_a_row += 1
        self.failovers += 1
        return pause


def accepted(reply: pb.TranslateResponse, checker: fr.ReplyOrder, source, failover: Failover):
    """A reply checked (order, errors), its frame and those before it no longer kept for a
    resend, the retry budget renewed; the TranslatedFrame to yield."""
    checked = checker.check(reply)
    source.answered(reply.sequence)
    failover.progressed()
    return checked


class ReplayableRequests:
    """The frames of one logical stream, numbered from 0, with every frame sent and not yet
    answered kept for a resend. ``requests(config)`` is one call's request stream: the config,
    the unanswered frames, then new ones from the source. Safe with an old call's sender thread
    still finishing a read: the source is read under a lock and every frame read is kept, in
    order, for whichever call sends next."""

    def __init__(self, frames: Iterable[np.ndarray], input_encoding: str = "raw"):
        self._source = iter(frames)
        self._encoding = input_encoding
        self._kept: collections.deque = collections.deque()  # (sequence, request), unanswered
        self._first = 0          # absolute index of _kept[0]
        self._read = 0           # frames read from the source
        self._exhausted = False
        self._lock = threading.Lock()      # _kept, _first, _exhausted
        self._reading = threading.Lock()   # the source: one reader at a time

    def requests(self, config: pb.StreamConfig) -> Iterator[pb.TranslateRequest]:
        yield pb.TranslateRequest(config=config)
        position = self._first
        while True:
            found = self._at(position)
            if found is None:
                return
            position, request = found
            position += 1
            yield request

    def _at(self, position: int) -> tuple[int, pb.TranslateRequest] | None:
        """The frame at absolute ``position`` (or the first unanswered one after it), reading
        the source when it is not read yet; None at the end. The source is read outside the
        state lock: a source that waits for replies (a camera paced by the output, a test) must
        not block ``answered`` on the receiving thread."""
        while True:
            with self._lock:
                position = max(position, self._first)
                if position < self._first + len(self._kept):
                    return position, self._kept[position - self._first][1]
                if self._exhausted:
                    return None
            with self._reading:  # one reader at a time; re-check what another one read
                with self._lock:
                    if position < self._first + len(self._kept) or self._exhausted:
                        continue
                try:
                    image = next(self._source)
                except StopIteration:
                    with self._lock:
                        self._exhausted = True
                    return None
                request = fr.frame_request(image, self._read, self._encoding)
                with self._lock:
                    self._kept.append((self._read, request))
                    self._read += 1

    def answered(self, sequence: int) -> None:
        """Drops the frames up to ``sequence`` (LIVE mode skips some: they go too)."""
        with self._lock:
            while self._kept and self._kept[0][0] <= sequence:
                self._kept.popleft()
                self._first += 1

    @property
    def unanswered(self) -> int:
        return len(self._kept)


class AsyncReplayableRequests:
    """ReplayableRequests for grpc.aio: the frames come from a plain or an async iterable, and
    an exception the source raises is kept in ``error`` (grpc.aio would log it and turn it into
    CANCELLED) for the receiving side to raise."""

    def __init__(self, frames, input_encoding: str = "raw"):
        self._source = as_async_iter(frames)
        self._encoding = input_encoding
        self._kept: collections.deque = collections.deque()
        self._first = 0
        self._read = 0
        self._exhausted = False
        self._lock = asyncio.Lock()
        self.error: BaseException | None = None

    async def requests(self, config: pb.StreamConfig):
        yield pb.TranslateRequest(config=config)
        position = self._first
        while True:
            try:
                found = await self._at(position)
            except Exception as exc:
                self.error = exc
                return
            if found is None:
                return
            position, request = found
            position += 1
            yield request

    async def _at(self, position: int):
        async with self._lock:
            position = max(position, self._first)
            while position >= self._first + len(self._kept):
                if self._exhausted:
                    return None
                try:
                    image = await self._source.__anext__()
                except StopAsyncIteration:
                    self._exhausted = True
                    return None
                self._kept.append((self._read, fr.frame_request(image, self._read, self._encoding)))
                self._read += 1
            return position, self._kept[position - self._first][1]

    def answered(self, sequence: int) -> None:
        while self._kept and self._kept[0][0] <= sequence:
            self._kept.popleft()
            self._first += 1

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


async def as_async_iter(frames):
    """A plain or an async iterable as an async iterator."""
    if hasattr(frames, "__aiter__"):
        async for frame in frames:
            yield frame
    else:
        for frame in frames:
            yield frame
