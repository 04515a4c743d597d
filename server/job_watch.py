"""What ends a running video job from the server's side: its wall-time limit, or a drain whose
grace is about to run out. Either way the job is cancelled (its threads stop, its files go) and
the call ends with a status the client can act on: RESOURCE_EXHAUSTED for the time limit,
UNAVAILABLE ("retry the whole job on another replica") for the drain."""
from __future__ import annotations

import asyncio
import errno

import grpc

from pix2pix_stream.server.drain import DrainSignal
from pix2pix_stream.server.errors import (DiskReserveError, IdleStreamError, JobLimitError,
                                          ShuttingDownError, status_for)
from pix2pix_stream.server.limits import JobBudget


class JobWatch:
    def __init__(self, job, budget: JobBudget, draining: DrainSignal):
        self._job = job
        self._budget = budget
        self._drain = asyncio.create_task(draining.wait_until_expiring())
        self.ended: Exception | None = None

    async def next(self, progress: asyncio.Queue):
        """The job's next progress message (None once it is over), or None after ending it."""
        if self.ended is not None:
            return None
        get = asyncio.ensure_future(progress.get())
        done, _ = await asyncio.wait({get, self._drain}, timeout=self._budget.remaining_s,
                                     return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            return get.result()
        get.cancel()
        frames = f"{self._job.frames_out} frames were done"
        if self._drain in done:
            self.ended = ShuttingDownError(f"the server shut down before the video job "
                                           f"finished ({frames}); retry the whole job on "
                                           f"another server")
        else:
            self.ended = JobLimitError(f"the job ran longer than the server's limit of "
                                       f"{self._budget.limits.max_job_s:g} s ({frames})")
        self._job.cancel()
        return None

    @property
    def out_of_grace(self) -> bool:
        """The drain's grace is about to end: no time to wait for the job's threads."""
        return isinstance(self.ended, ShuttingDownError)

    def raise_if_ended_by_server(self) -> None:
        if self.ended is not None:
            raise self.ended

    def close(self) -> None:
        self._drain.cancel()


def delivers_output(error: BaseException | None) -> bool:
    """Whether the frames done are sent back: after success, and after an input error (a
    truncated upload: the client keeps what decoded); not after a limit or a server failure,
    where the client keeps nothing, so sending it would only cost more."""
    return error is None or status_for(error) == grpc.StatusCode.INVALID_ARGUMENT


def ended_by_limit(exc: BaseException) -> str:
    """The refusal-metric reason when a server limit ended the call, else ""."""
    if isinstance(exc, IdleStreamError):
        return "idle_timeout"
    if isinstance(exc, JobLimitError):
        return "job_limit"
    if isinstance(exc, DiskReserveError) or (isinstance(exc, OSError)
                                             and exc.errno in (errno.ENOSPC, errno.EDQUOT)):
        return "disk_reserve"
    return ""
