"""Letting go of a finished video job's FFmpeg objects at once.

A codec context owns native threads (frame threading: one per core for H.264) and buffers; they
go when the last Python reference to it does. An exception stored on a job keeps, through its
traceback, the frames of the decoder and encoder threads, whose locals hold the containers and
streams, and those frames hold the job: a reference cycle that only the garbage collector
breaks, whenever it next runs (125 cancelled jobs kept 94 FFmpeg threads and 220 MB). So a
closed job clears those frames and empties its queue."""
from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import traceback


def release_references(items: queue.Queue, *errors: BaseException | None) -> None:
    """After the job's threads have ended: clears the locals of the frames that the tracebacks
    of ``errors`` hold (the job's error; the failure its upload raised into the decoder) and
    drops queued packets and frames. Frames still running, the caller's, are skipped by
    clear_frames."""
    for error in _chained(errors):
        if error.__traceback__ is not None:
            traceback.clear_frames(error.__traceback__)
    while True:
        try:
            items.get_nowait()
        except queue.Empty:
            return


def _chained(errors) -> list[BaseException]:
    """``errors`` and every exception they were raised from or during. A wrapped error's
    traceback holds frames too: a decode error re-raised ``from None`` still keeps the decode
    error it replaced as ``__context__``, and that one's frames hold the decoder."""
    seen: dict[int, BaseException] = {}
    pending = [error for error in errors if error is not None]
    while pending:
        error = pending.pop()
        if id(error) not in seen:
            seen[id(error)] = error
            pending += [e for e in (error.__cause__, error.__context__) if e is not None]
    return list(seen.values())


def close_when_abandoned(context, job_state: dict) -> None:
    """Registers on a TranslateVideo call: when the call ends (a client that vanished or
    cancelled included) and its handler has not closed the job, cancel and close it from a
    thread. A handler's own ``finally`` does not always run then: gRPC leaves an async
    generator that was waiting at a ``yield`` to the garbage collector, which may not come
    for a long time, and until then the job's threads would wait for upload bytes forever."""
    def on_done(_context) -> None:
        job = job_state.get("job")
        if job is None or job_state.get("closed"):
            return
        job.cancel()
        threading.Thread(target=job.close, name="video-close", daemon=True).start()

    context.add_done_callback(on_done)


def close_in_own_thread(job) -> "asyncio.Future[None]":
    """Closes ``job`` on a thread of its own that ends with it, for the handler to await.
    Closing joins the job's threads and may wait for FFmpeg; the loop's default executor would
    do that too, but it keeps every thread it ever started, so a burst of cancelled jobs would
    leave the process with more threads than before it (found by the disconnect-storm test)."""
    closed: concurrent.futures.Future = concurrent.futures.Future()
    # Running from the start, as an executor marks its work: the close cannot be cancelled,
    # only the handler's wait for it, and wrap_future then leaves this future to the thread.
    closed.set_running_or_notify_cancel()

    def close() -> None:
        try:
            job.close()
        except BaseException as exc:  # handed to the awaiting handler, which logs or raises
            closed.set_exception(exc)
        else:
            closed.set_result(None)

    threading.Thread(target=close, name="video-close", daemon=True).start()
    return asyncio.wrap_future(closed)
