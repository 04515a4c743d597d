"""The temporal filter (pix2pix_stream.media.temporal_filter) as a stream uses it: which level a
stream gets, and, for ``Translate``, running it in sequence order although frames are translated
several at a time.

Every stream and every video job builds its own filter: the filter holds the previous frame of
*its* stream, so nothing is ever shared between streams. Frames dropped in LIVE mode are dropped
before they are translated, so the filter simply sees the next frame (the flow spans the gap).
"""
from __future__ import annotations

import asyncio

import numpy as np

from pix2pix_stream.media.temporal_filter import TEMPORAL_LEVELS, TemporalFilter, temporal_settings
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
    (arrival order); the returned turn filters that frame only after the frame before it is
    filtered or given up, so the filter sees the frames in order whatever finishes first."""

    def __init__(self, level: str):
        self.level = level
        self._filter = new_filter(level)
        self._last: asyncio.Future | None = None

    @property
    def enabled(self) -> bool:
        return self._filter is not None

    def reserve(self) -> "FilterTurn":
        done = asyncio.get_running_loop().create_future()
        turn = FilterTurn(self._filter, self._last, done)
        self._last = done
        return turn


class FilterTurn:
    def __init__(self, smoother: TemporalFilter | None, previous: asyncio.Future | None,
                 done: asyncio.Future):
        self._filter, self._previous, self._done = smoother, previous, done

    async def apply(self, source: np.ndarray, output: np.ndarray) -> np.ndarray:
        """The filtered output (inline: ~2 ms of CPU at 256x256; a thread hop would add latency)."""
        try:
            if self._previous is not None:
                await asyncio.shield(self._previous)
            return self._filter(source, output)
        finally:
            self.release()

    def release(self) -> None:
        """Lets the next frame go once every earlier frame has gone: also for a frame that
        failed or was cancelled, whose successor must still wait for the frames before it."""
        if self._done.done():
            return
        if self._previous is None or self._previous.done():
            self._done.set_result(None)
        else:
            self._previous.add_done_callback(self._finish)

    def _finish(self, _previous: asyncio.Future) -> None:
        if not self._done.done():
            self._done.set_result(None)
