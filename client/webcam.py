"""Live translation of a camera (or a file / stream URL played like one): capture with OpenCV,
always send the newest frame (LIVE mode: stale frames are skipped, here and on the server),
show input | output, record what was shown, report fps and latency once a second."""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from pix2pix_stream.client.errors import DisplayUnavailableError, InputFileError
from pix2pix_stream.client.frames import TranslatedFrame, now_us
from pix2pix_stream.client.video_io import VideoSink
from pix2pix_stream.media.resize import side_by_side
from pix2pix_stream.media.video_decode import VideoStreamInfo

WINDOW = "pix2pix-client: input | output"


@dataclass(frozen=True)
class LiveConfig:
    device: str                          # camera index ("0"), file path or stream URL
    model: str
    size: tuple[int, int] | None = None  # output (width, height); default the capture's
    scale: str | None = None             # compute size (media.geometry); None = server default
    temporal: str | None = None          # the server's temporal filter; None = server default
    show: bool = False
    record: Path | None = None
    max_frames: int = 0                  # stop after this many translated frames; 0 = no limit
    duration_s: float = 0.0              # stop after this many seconds; 0 = no limit
    input_encoding: str = "raw"          # "jpeg" saves bandwidth to a remote server
    realtime: bool = True                # play files at their frame rate, as a camera would;
                                         # False: every frame (lossless), as fast as the server goes


class Capture:
    """Reads frames in a thread and keeps only the newest one, so a slow consumer always gets
    the freshest picture instead of a backlog. A file is played at its frame rate, like a
    camera; with ``realtime=False`` it is read one frame per request instead, skipping none."""

    def __init__(self, device: str, realtime: bool = True):
        import cv2

        self.device = device
        source = int(device) if device.isdigit() else device
        self._cap = cv2.VideoCapture(source)
        if not self._cap.isOpened():
            raise InputFileError(f"cannot open capture device or stream {device!r}")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else 30.0
        is_file = Path(device).is_file()
        self._pace = realtime and is_file  # cameras pace themselves
        self._lockstep = not realtime and is_file
        self._taken = 0  # the newest frame number handed out
        self._cond = threading.Condition()
        self._latest: np.ndarray | None = None
        self._count = 0  # frames captured so far; identifies the newest one
        self._ended = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="capture", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import cv2

        start = time.monotonic()
        while not self._stop.is_set():
            if self._lockstep:
                with self._cond:
                    while self._taken < self._count and not self._stop.is_set():
                        self._cond.wait(0.1)
            ok, bgr = self._cap.read()
            if not ok:
                break
            with self._cond:
                self._latest = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                self._count += 1
                self._cond.notify_all()
            if self._pace:
                delay = start + self._count / self.fps - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def newest_after(self, seen: int) -> tuple[int, np.ndarray] | None:
        """Blocks until a frame newer than number ``seen`` exists; None once capture ended."""
        with self._cond:
            while self._count <= seen and not self._ended and not self._stop.is_set():
                self._cond.wait(0.1)
            if self._count <= seen or self._stop.is_set():
                return None
            self._taken = self._count
            self._cond.notify_all()
            return self._count, self._latest

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._cap.release()


class LiveStats:
    """Counts replies and reports fps and latency every ``every_s`` seconds."""

    def __init__(self, report: Callable[[str], None], every_s: float = 1.0):
        self._report, self._every = report, every_s
        self._window_start = time.monotonic()
        self._latencies: list[float] = []
        self._server: list[tuple[float, float]] = []
        self.frames = 0
        self.dropped = 0

    def add(self, reply: TranslatedFrame) -> None:
        self.frames += 1
        self.dropped += len(reply.dropped)
        self._latencies.append((now_us() - reply.timestamp_us) / 1000)
        self._server.append((reply.queue_ms, reply.inference_ms))
        elapsed = time.monotonic() - self._window_start
        if elapsed >= self._every:
            self._report(self.line(len(self._latencies) / elapsed))
            self._window_start, self._latencies, self._server = time.monotonic(), [], []

    def line(self, fps: float) -> str:
        latency = float(np.mean(self._latencies)) if self._latencies else 0.0
        queue, infer = (np.mean(self._server, axis=0) if self._server else (0.0, 0.0))
        return (f"fps {fps:5.1f}  latency {latency:6.1f} ms (server queue {queue:.1f} ms, "
                f"inference {infer:.1f} ms)  frames {self.frames}  dropped {self.dropped}")


class Display:
    """The --show window. Headless OpenCV builds (opencv-python-headless) cannot open windows;
    ``check()`` finds that out before anything else starts."""

    @staticmethod
    def check() -> None:
        import cv2

        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise DisplayUnavailableError(
                "--show needs an OpenCV build with GUI support; this one has none "
                "(opencv-python-headless?). To watch it live, run `pix2pix-client web` and "
                "open the page it prints in a browser; or install opencv-python, or use "
                "--record instead"
            ) from exc

    @staticmethod
    def show(picture: np.ndarray) -> bool:
        """Shows one frame; False when the user pressed q or Esc."""
        import cv2

        cv2.imshow(WINDOW, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)

    @staticmethod
    def close() -> None:
        import cv2

        cv2.destroyAllWindows()


def run_live(client, config: LiveConfig, report: Callable[[str], None] = print) -> LiveStats:
    """Runs until the source ends, a limit is reached, q/Esc in the window, or Ctrl-C; the
    recording is closed (and playable) in every case."""
    if config.show:
        Display.check()
    client.wait_until_ready()
    capture = Capture(config.device, realtime=config.realtime)
    # (sequence, input frame) of frames sent and not yet answered, for the input | output
    # view; the sender thread appends, this thread pops (deque ends are thread-safe).
    sent: collections.deque = collections.deque()
    stats = LiveStats(report)
    recorder = replies = None
    try:
        # A file read without pacing is translated frame by frame: nothing is stale there.
        mode = "live" if config.realtime else "lossless"
        replies = client.stream(_newest_frames(capture, sent), model=config.model, mode=mode,
                                size=config.size, input_encoding=config.input_encoding,
                                scale=config.scale, temporal=config.temporal)
        started = time.monotonic()
        for reply in replies:
            original = _input_of(reply.sequence, sent)
            stats.add(reply)
            panel = (reply.image.shape[1], reply.image.shape[0])
            if recorder is None and config.record is not None:
                recorder = _recorder(config.record, panel, capture.fps)
                if recorder.note:
                    report(f"note: {recorder.note}")
            picture = side_by_side(original, reply.image, panel)
            if recorder is not None:
                recorder.write(picture, int((time.monotonic() - started) * 1000))
            if config.show and not Display.show(picture):
                break
            if _limit_reached(config, stats, started):
                break
    finally:
        if replies is not None:
            replies.close()  # ends the call now, not when the generator is collected
        capture.close()
        if recorder is not None:
            recorder.close()
        if config.show:
            Display.close()
    report(f"done: {stats.frames} frames translated, {stats.dropped} dropped")
    return stats


def _input_of(sequence: int, sent: collections.deque) -> np.ndarray | None:
    """The input frame of reply ``sequence``; frames before it that the server dropped are
    forgotten on the way."""
    while sent and sent[0][0] < sequence:
        sent.popleft()
    if sent and sent[0][0] == sequence:
        return sent.popleft()[1]
    return None


def _newest_frames(capture: Capture, sent: collections.deque) -> Iterator[np.ndarray]:
    """What gRPC's sender thread iterates: the newest capture each time it is ready to send.
    Sequence numbers are assigned in this order, starting at 0, by the client."""
    seen, sequence = 0, 0
    while True:
        item = capture.newest_after(seen)
        if item is None:
            return
        seen, frame = item
        sent.append((sequence, frame))
        sequence += 1
        yield frame


def _recorder(path: Path, panel: tuple[int, int], fps: float) -> VideoSink:
    # Wall-clock timestamps in milliseconds: the recording plays at the speed it was shown.
    info = VideoStreamInfo(width=panel[0] * 2, height=panel[1], rotation=0,
                           rate=Fraction(fps).limit_denominator(1001), time_base=Fraction(1, 1000),
                           frames=0, duration_s=0.0, has_audio=False, codec="")
    return VideoSink(path, info)


def _limit_reached(config: LiveConfig, stats: LiveStats, started: float) -> bool:
    if config.max_frames and stats.frames >= config.max_frames:
        return True
    return bool(config.duration_s) and time.monotonic() - started >= config.duration_s
