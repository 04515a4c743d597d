"""The idle timeout of a stream: a client that opens a stream and then sends nothing holds a
--max-streams slot for nothing. Only the time the server spends *waiting for the client's next
message* counts: while a LOSSLESS stream's window is full the server does not read, and a video
job that has its whole upload is busy, not idle."""
from __future__ import annotations

import asyncio
from typing import AsyncIterator, Callable

from pix2pix_stream.server.errors import IdleStreamError


async def idle_limited(requests, timeout_s: float, what: str,
                       watching: Callable[[], bool] = lambda: True) -> AsyncIterator:
    """``requests`` (a grpc.aio request iterator), raising IdleStreamError when a message takes
    longer than ``timeout_s`` to arrive while ``watching()`` is true. ``what`` names the awaited
    message in the error ("frame", "upload chunk"). ``timeout_s`` 0 = no limit."""
    messages = requests.__aiter__()
    while True:
        limited = timeout_s > 0 and watching()
        try:
            if limited:
                message = await _within(messages.__anext__(), timeout_s)
            else:
                message = await messages.__anext__()
        except StopAsyncIteration:
            return
        except (asyncio.TimeoutError, TimeoutError):
            raise IdleStreamError(
                f"no {what} for {timeout_s:g} s: the stream was closed to free its slot "
                f"(the server's --idle-timeout-s); send frames without long pauses, or "
                f"open a new stream when there is work again") from None
        yield message


async def _within(awaitable, timeout_s: float):
    """``awaitable``'s result, or TimeoutError after ``timeout_s``. asyncio.timeout (3.11+)
    costs no task per message, which a stream of small frames notices; wait_for otherwise."""
    if hasattr(asyncio, "timeout"):
        async with asyncio.timeout(timeout_s):
            return await awaitable
    return await asyncio.wait_for(awaitable, timeout_s)
