"""Honest partial results: a video run that ends early (a failure, a truncated input) keeps the
frames it has, never in place of an earlier output (client.output_file), and says where they are
and how many. A truncated input is reported the same way whether the client or the server
decodes it: "decoded 25 of 36 frames", exit code 5, the decoded frames kept as a partial
output."""
from __future__ import annotations

from pathlib import Path



def truncation(source, decoded: int) -> str:
    """What is wrong when fewer frames decoded than the container lists (a cut or damaged file
    ends early without a decoding error), else "". Reported once every decoded frame has been
    translated and written, so the partial output holds them all."""
    listed = source.video.frames  # exact when the container records it (MP4, AVI), else 0
    if listed and decoded < listed:
        return f"{source.path} is truncated or corrupt: decoded {decoded} of {listed} frames"
    return ""


def with_partial_output(error: BaseException, path: str | Path | None,
                        frames: int) -> BaseException:
    """``error`` (a ClientError, or the KeyboardInterrupt of a second Ctrl-C), noting the
    partial output that was kept (``path`` None: nothing was)."""
    if path is not None and frames:
        error.partial_output = (str(path), frames)
    return error


def partial_note(error: BaseException) -> str:
    """The line a CLI prints about a kept partial output, or ""."""
    kept = getattr(error, "partial_output", None)
    if not kept:
        return ""
    path, frames = kept
    return f"the {frames} frames done were kept in {path} (partial output, playable)"
