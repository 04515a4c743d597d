"""The drain signal: set when the server stops taking work, with the moment its grace ends.

Calls that cannot finish in time use the deadline to end themselves with a status a client can
act on (UNAVAILABLE: "retry elsewhere") and their own close log line, instead of being cut off
by gRPC's cancellation at the end of the grace period, which the client sees only as a
generic CANCELLED."""
from __future__ import annotations

import asyncio


class DrainSignal(asyncio.Event):
    def __init__(self):
        super().__init__()
        self.deadline: float | None = None  # loop.time() at which open calls are cancelled

    def begin(self, grace_s: float) -> None:
        self.deadline = asyncio.get_running_loop().time() + grace_s
        self.set()

    async def wait_until_expiring(self) -> None:
        """Returns shortly before the grace ends: early enough for a call to send its status
        and log its close line (half the grace, at most one second, before its end)."""
        await self.wait()
        loop = asyncio.get_running_loop()
        grace_left = (self.deadline or loop.time()) - loop.time()
        await asyncio.sleep(max(0.0, grace_left - min(1.0, grace_left / 2)))
