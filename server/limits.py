"""What one TranslateVideo job may cost the server, and the checks that hold it to that.

The upload size alone bounds nothing: a 267 KB clip of 10,000 tiny frames, asked back as raw
video at 4096x2160, writes ~250 GB. So a job is bounded by what it produces: output bytes,
output pixels x frames, frame count and wall time. What the config and the input's header
already tell is refused before a frame is decoded (JobBudget.check_start); the rest is checked
as the output grows (JobBudget.check_progress). Whatever the limits, every job also leaves
``disk_reserve_bytes`` free in the spool folder, so jobs fail cleanly with RESOURCE_EXHAUSTED
before the disk fills and other jobs (or the host) break with ENOSPC.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from pix2pix_stream.server.errors import (ConfigError, DiskReserveError, JobLimitError,
                                          JobRequestError)

GIB = 1024 ** 3
# Bytes per pixel of uncompressed output (yuv420p is 1.5, rgb24 3): raw codecs are refused up
# front when frames x pixels x this cannot fit in max_output_bytes.
RAW_CODECS = {"rawvideo": 1.5, "v210": 2.67, "r210": 4.0}
DEFAULT_RESERVE_BYTES = 256 * 1024 ** 2


def _limit(default, help: str, flag: str | None = None):
    """A JobLimits field. ``help`` says what it bounds; it and ``flag`` (default: --NAME with
    dashes) make the field's pix2pix-serve flag (server.cli)."""
    return field(default=default, metadata={"help": help, "flag": flag})


@dataclass(frozen=True)
class JobLimits:
    max_output_bytes: int = _limit(4 * GIB, "largest output file of one TranslateVideo job")
    max_output_pixel_frames: int = _limit(  # 4K for 20 min at 30 fps
        4096 * 2160 * 36_000, "output width x height x frames of one TranslateVideo job")
    max_frames: int = _limit(  # 4.6 h at 30 fps
        500_000, "frames of one TranslateVideo job", flag="--max-job-frames")
    max_job_s: float = _limit(3600.0, "wall time of one TranslateVideo job, upload included")
    disk_reserve_bytes: int | None = _limit(  # a 64 MiB tmpfs keeps 6.4 MiB
        None, "free space video jobs always leave in --tmp-dir; a job that would eat into it "
              "ends with RESOURCE_EXHAUSTED; unset = 256 MiB or a tenth of the volume, "
              "whichever is smaller")

    def __post_init__(self):
        for name in ("max_output_bytes", "max_output_pixel_frames", "max_frames"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_job_s <= 0:
            raise ConfigError(f"max_job_s must be > 0, got {self.max_job_s}")
        if self.disk_reserve_bytes is not None and self.disk_reserve_bytes < 0:
            raise ConfigError(f"disk_reserve_bytes must be >= 0, got {self.disk_reserve_bytes}")


class JobBudget:
    """One job's running account against JobLimits. The check_* methods raise JobLimitError
    (RESOURCE_EXHAUSTED), JobRequestError (INVALID_ARGUMENT) or DiskReserveError; their
    messages say which limit and by how much, never a server path."""

    def __init__(self, limits: JobLimits, spool_dir: Path | None, codec: str):
        self.limits = limits
        self._spool = Path(spool_dir) if spool_dir is not None else None
        self._codec = codec
        self._started = time.monotonic()
        self._pixels_per_frame = 0

    # -- before the job --------------------------------------------------------------------

    def check_disk(self, need_bytes: int = 0) -> None:
        usage = shutil.disk_usage(self._spool or _default_tmp())
        reserve = self.limits.disk_reserve_bytes
        if reserve is None:
            reserve = min(DEFAULT_RESERVE_BYTES, usage.total // 10)
        if usage.free - need_bytes < reserve:
            raise DiskReserveError(
                f"the server is low on disk space for video jobs ({_mib(usage.free)} free, it "
                f"keeps {_mib(reserve)} in reserve); retry later or elsewhere")

    def check_start(self, frames_total: int, width: int, height: int) -> None:
        """Called once the input's header is read: ``frames_total`` as the container lists it
        (0 = unknown), (width, height) of one output frame."""
        if width < 1 or height < 1:
            raise JobRequestError(f"output frames of {width}x{height} pixels cannot be encoded")
        self._pixels_per_frame = width * height
        limits = self.limits
        if frames_total > limits.max_frames:
            raise JobLimitError(f"the input lists {frames_total} frames, more than the server's "
                                f"limit of {limits.max_frames} frames per job")
        if frames_total * self._pixels_per_frame > limits.max_output_pixel_frames:
            raise JobLimitError(
                f"{frames_total} frames of {width}x{height} are {frames_total * width * height} "
                f"output pixels, more than the server's limit of "
                f"{limits.max_output_pixel_frames} per job; ask for a smaller size or a "
                f"shorter clip")
        raw = RAW_CODECS.get(self._codec)
        if raw and frames_total and frames_total * self._pixels_per_frame * raw > limits.max_output_bytes:
            raise JobLimitError(
                f"{self._codec} output of {frames_total} frames of {width}x{height} would be "
                f"about {_mib(frames_total * self._pixels_per_frame * raw)}, more than the "
                f"server's limit of {_mib(limits.max_output_bytes)} per job; use a compressing "
                f"codec such as libx264")
        self.check_disk()

    # -- while it runs ---------------------------------------------------------------------

    def check_progress(self, frames_done: int, output_path: Path) -> None:
        """Called after each encoded frame."""
        limits = self.limits
        if frames_done > limits.max_frames:
            raise JobLimitError(f"the job passed the server's limit of {limits.max_frames} "
                                f"frames; the input holds more than its header said")
        if frames_done * self._pixels_per_frame > limits.max_output_pixel_frames:
            raise JobLimitError(f"the job passed the server's limit of "
                                f"{limits.max_output_pixel_frames} output pixels "
                                f"(at frame {frames_done})")
        self.check_time()
        size = _size(output_path)
        if size > limits.max_output_bytes:
            raise JobLimitError(f"the output passed the server's limit of "
                                f"{_mib(limits.max_output_bytes)} per job (at frame {frames_done})")
        self.check_disk()  # one statvfs: a raw 4K frame is 13 MB, a small tmpfs fills fast

    def check_time(self) -> None:
        if self.elapsed_s > self.limits.max_job_s:
            raise JobLimitError(f"the job ran longer than the server's limit of "
                                f"{self.limits.max_job_s:g} s")

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    @property
    def remaining_s(self) -> float:
        return max(0.0, self.limits.max_job_s - self.elapsed_s)


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _default_tmp() -> str:
    import tempfile

    return tempfile.gettempdir()


def _mib(n: float) -> str:
    return f"{n / 1024 ** 2:.0f} MiB" if n < GIB else f"{n / GIB:.1f} GiB"
