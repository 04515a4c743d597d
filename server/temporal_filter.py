"""The temporal filter (pix2pix_stream.media.temporal_filter) as a stream uses it: which level a
stream gets, and, for ``Translate``, running it in sequence order although frames are translated
several at a time.

Every stream and every video job builds its own filter: the filter holds the previous frame of
*its* stream, so nothing is ever shared between streams. Frames dropped in LIVE mode are dropped
before they are translated, so the filter simply sees the next frame (the flow spans the gap).
"""
from __future__ import annotations

import asyncio
import concurrent.futures

import numpy as np

from pix2pix_stream.media.temporal_filter import (TEMPORAL_LEVELS, Motion, TemporalFilter,
                                                  temporal_settings)
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server.errors import StreamConfigError

_LEVEL_OF = {pb.TEMPORAL_OFF: "off", pb.TEMPORAL_LIGHT: "light", pb.TEMPORAL_STRONG: "strong"}
LEVELS = tuple(TEMPORAL_LEVELS)


def resolve_level(requested: int, default: str) -> str:
    """The level a stream asked for (a TemporalFilter value), or the server's default for
    TEMPORAL_FILTER_UNSPECIFIED."""
    if requested == pb.TEMPORAL_FILTER_UNSPECIFIED:
        return default
    if requested not in _LEVEL_OF:
        raise StreamConfigError(f"unknown temporal filter {requested}")
    return _LEVEL_OF[requested]


def new_filter(level: str) -> TemporalFilter | None:
    """A fresh filter for one stream, None for "off"."""
    settings = temporal_settings(level)
    return TemporalFilter(settings) if settings is not None else None


class OrderedFilter:
    """The filter of one Translate stream. ``reserve()`` is called as each frame's work starts
    (arrival order). The returned turn does on a worker thread, while the frame is in the
    model: the motion estimate (in arrival order, as soon as the frame's source is ready) and,
    once the frame before is blended, the warp of that frame's output. When the output comes,
    only the weighted sum is left, in order: the filter sees the frames in order whatever
    finishes first, and a live frame waits for a fraction of the filter's CPU time. A LIVE
    stream on a CPU backend calls ``start_inline`` instead when the frame before is blended:
    estimate and warp run at once, before the model (see TranslateStream)."""

    def __init__(self, level: str):
        self.level = level
        self._filter = new_filter(level)
        self._estimates = _Sequence()
        self._blends = _Sequence()

    @property
    def enabled(self) -> bool:
        return self._filter is not None

    def reserve(self) -> "FilterTurn":
        return FilterTurn(self._filter, self._estimates.reserve(), self._blends.reserve())


class FilterTurn:
    def __init__(self, smoother: TemporalFilter, estimate: "_Place", blend: "_Place"):
        self._filter, self._estimate_place, self._blend_place = smoother, estimate, blend
        self._ready: asyncio.Future | None = None

    def start(self, source: np.ndarray, pool: concurrent.futures.Executor) -> None:
        """Starts the estimate and the warp on ``pool``, each when its turn comes."""
        self._ready = asyncio.ensure_future(self._prepare(source, pool))
        # A frame that fails before its blend never awaits this; its outcome is still consumed.
        self._ready.add_done_callback(lambda task: task.cancelled() or task.exception())

    def start_inline(self, source: np.ndarray) -> bool:
        """Runs the estimate and the warp now, on the calling thread, when the frame before is
        already blended (nothing but CPU holds them up); False, and nothing done, otherwise."""
        if not (self._blend_place.previous_done() and self._estimate_place.previous_done()):
            return False
        motion = self._filter.estimate(source)
        self._estimate_place.done()
        warped = self._filter.warp_previous(motion)
        self._ready = asyncio.get_running_loop().create_future()
        self._ready.set_result((motion, warped))
        return True

    async def _prepare(self, source: np.ndarray, pool: concurrent.futures.Executor
                       ) -> tuple[Motion, np.ndarray | None]:
        motion = await self._estimate(source, pool)
        await self._blend_place.wait_turn()   # the previous frame's output is final
        loop = asyncio.get_running_loop()
        return motion, await loop.run_in_executor(pool, self._filter.warp_previous, motion)

    async def _estimate(self, source: np.ndarray, pool: concurrent.futures.Executor) -> Motion:
        work = None
        try:
            await self._estimate_place.wait_turn()
            work = pool.submit(self._filter.estimate, source)
        finally:
            if work is None:   # cancelled or refused before it started: let the next one go
                self._estimate_place.done()
        # The next frame may start only when this estimate has really ended: it shares the
        # filter's DIS buffers and previous frame, and a cancelled await would not stop it.
        work.add_done_callback(lambda _: self._estimate_place.done_soon())
        return await asyncio.wrap_future(work)

    async def apply(self, output: np.ndarray) -> np.ndarray:
        """The filtered output; ``start`` must have been called."""
        try:
            motion, warped = await self._ready
            return self._filter.mix(motion, warped, output)   # inline: a weighted sum
        finally:
            self.release()

    def release(self) -> None:
        """Lets the next frame go once every earlier frame has gone: also for a frame that
        failed or was cancelled, whose successor must still wait for the frames before it."""
        if self._ready is None:
            self._estimate_place.done()
        self._blend_place.done()


class _Sequence:
    """Places in a queue: each place's turn comes when every earlier place is done."""

    def __init__(self):
        self._last: asyncio.Future | None = None

    def reserve(self) -> "_Place":
        place = _Place(self._last, asyncio.get_running_loop())
        self._last = place.finished
        return place


class _Place:
    def __init__(self, previous: asyncio.Future | None, loop: asyncio.AbstractEventLoop):
        self._previous, self._loop = previous, loop
        self.finished = loop.create_future()   # set when this place and all before it are done

    def previous_done(self) -> bool:
        return self._previous is None or self._previous.done()

    async def wait_turn(self) -> None:
        if self._previous is not None:
            await asyncio.shield(self._previous)

    def done(self) -> None:
        if self.finished.done():
            return
        if self._previous is None or self._previous.done():
            self.finished.set_result(None)
        else:
            self._previous.add_done_callback(self._finish)

    def done_soon(self) -> None:
        """``done`` from any thread (a worker's callback)."""
        self._loop.call_soon_threadsafe(self.done)

    def _finish(self, _previous: asyncio.Future) -> None:
        if not self.finished.done():
            self.finished.set_result(None)
