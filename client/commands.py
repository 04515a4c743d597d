"""The subcommands of pix2pix-client; each takes a connected client and the parsed arguments
and returns an exit code. Errors are raised as pix2pix_stream.client.errors types; cli.main maps them."""
from __future__ import annotations

import collections
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from pix2pix_stream.client import exit_codes
from pix2pix_stream.client.errors import InputFileError, OutputFileError
from pix2pix_stream.client.local_video import VideoResult
from pix2pix_stream.client.sync_client import TranslatorClient

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def _progress_bar(description: str, unit: str = "frame"):
    from tqdm import tqdm

    bar = tqdm(desc=description, unit=unit, dynamic_ncols=True, file=sys.stderr)

    def update(done: int, total: int) -> None:
        if total and bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)

    return bar, update


def video(client: TranslatorClient, args) -> int:
    """The first Ctrl-C stops the job gracefully: the output keeps the frames done so far (with
    --server-decode the server finishes and sends it). A second one stops at once: a local
    output is closed as it is; a server-side one is lost, so nothing is written."""
    bar, update = _progress_bar(f"{args.input.name} -> {args.output.name}")
    stop = threading.Event()
    again = ("Ctrl-C again to abort; nothing is written then" if args.server_decode
             else "Ctrl-C again to close the output at once")
    try:
        with bar, _first_ctrl_c_sets(stop, f"\npix2pix-client: stopping; finishing the frames "
                                           f"done so far ({again})"):
            result = client.translate_video(args.input, args.output, model=args.model,
                                            server_decode=args.server_decode,
                                            side_by_side=args.side_by_side, size=args.size,
                                            progress=update, codec=args.codec,
                                            audio=not args.no_audio, stop=stop,
                                            scale=args.scale or None,
                                            temporal=args.temporal)
    except KeyboardInterrupt as interrupt:
        path, kept = getattr(interrupt, "partial_output", None) or (args.output, 0)
        print(f"\npix2pix-client: interrupted; " + (
            f"{path} holds the first {kept} frames (partial output, playable)" if kept
            else f"no output written ({args.output} not created or left as it was)"),
            file=sys.stderr)
        return exit_codes.INTERRUPTED
    if result.note:
        print(f"pix2pix-client: note: {result.note}", file=sys.stderr)
    if result.encoding:
        print(f"pix2pix-client: {result.encoding}", file=sys.stderr)
    print(f"wrote {result.path}: {_describe(result)}")
    if not result.complete:
        print(f"pix2pix-client: interrupted; {result.path} holds the first {result.frames} "
              f"frames (partial output, playable)", file=sys.stderr)
        return exit_codes.INTERRUPTED
    return exit_codes.OK


def _describe(result: VideoResult) -> str:
    return (f"{result.frames} frames, {result.width}x{result.height}, {result.fps:.3f} fps, "
            f"{result.duration_s:.2f} s{', with audio' if result.has_audio else ''}")


@contextlib.contextmanager
def _first_ctrl_c_sets(stop: threading.Event, message: str):
    """While inside: the first SIGINT sets ``stop`` and prints ``message``; the next raises
    KeyboardInterrupt as usual. SIGINT left ignored (a background job) stays ignored."""
    def handle(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(message, file=sys.stderr, flush=True)

    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def webcam(client: TranslatorClient, args) -> int:
    from pix2pix_stream.client.webcam import LiveConfig, run_live

    config = LiveConfig(device=args.device, model=args.model, size=args.size, show=args.show,
                        record=args.record, max_frames=args.max_frames,
                        duration_s=args.duration, input_encoding="jpeg" if args.jpeg else "raw",
                        realtime=not args.no_realtime, scale=args.scale or None,
                        temporal=args.temporal)
    run_live(client, config, report=lambda line: print(line, flush=True))
    if args.record is not None and args.record.exists():
        print(f"recorded {args.record}")
    return exit_codes.OK


def web(config, args) -> int:
    """Serves the page until Ctrl-C; the page itself shows connection and model problems."""
    import asyncio

    try:
        from pix2pix_stream.client.web.app import WebConfig, serve
    except ImportError as exc:
        print(f"pix2pix-client: the web page needs {exc.name}: pip install "
              f"'pix2pix-stream[client]'", file=sys.stderr)
        return exit_codes.UNSUPPORTED
    web_config = WebConfig(client=config, model=args.model, host=args.host, port=args.port,
                           temporal=args.temporal)
    try:
        asyncio.run(serve(web_config, ready=lambda url: print(
            f"pix2pix-client: open {url} in a browser (Ctrl-C to stop)", flush=True)))
    except KeyboardInterrupt:
        return exit_codes.OK
    except OSError as exc:
        print(f"pix2pix-client: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return exit_codes.FAILED
    return exit_codes.OK


def images(client: TranslatorClient, args) -> int:
    paths = _image_files(args.input)
    _make_dir(args.output)
    pending: collections.deque[Path] = collections.deque()
    bar, update = _progress_bar(f"{args.input} -> {args.output}", unit="image")
    with bar:
        update(0, len(paths))
        outputs = client.translate_frames(_read_images(paths, pending), model=args.model,
                                          size=args.size, scale=args.scale or None)
        for done, image in enumerate(outputs, start=1):
            _write_image(args.output / pending.popleft().name, image)
            update(done, len(paths))
    print(f"wrote {len(paths)} images to {args.output}")
    return exit_codes.OK


def models(client: TranslatorClient, args) -> int:
    infos = client.list_models()
    if args.json:
        print(json.dumps([{k: v for k, v in vars(m).items() if k != "metadata"} for m in infos],
                         indent=2))
        return exit_codes.OK
    if not infos:
        print("the server has no models loaded")
        return exit_codes.OK
    rows = [("NAME", "INPUT", "SIZES", "SCALE", "TRANSFORM", "DIRECTION", "BACKEND", "PRECISION",
             "DESCRIPTION")]
    rows += [(m.name, f"{m.input_width}x{m.input_height}", _sizes(m), m.scale, m.input_transform,
              m.direction, m.backend, m.precision, m.description) for m in infos]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return exit_codes.OK


def _sizes(m) -> str:
    """The sizes an engine takes, e.g. "x256 256x256..3840x2048"; its one size if fixed."""
    if m.scale == "fixed" or not m.size_multiple:
        return f"{m.input_width}x{m.input_height}"
    return f"x{m.size_multiple} {m.min_size[0]}x{m.min_size[1]}..{m.max_size[0]}x{m.max_size[1]}"


def health(client: TranslatorClient, args) -> int:
    status = client.health(args.model)
    print(f"{args.model or client.target}: {status}")
    return exit_codes.OK if status == "SERVING" else exit_codes.FAILED


def _image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputFileError(f"{folder} is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InputFileError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths


def _read_images(paths: list[Path], pending: collections.deque) -> Iterator[np.ndarray]:
    import cv2

    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputFileError(f"cannot read image {path}")
        pending.append(path)
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFileError(f"cannot create {folder}: {exc.strerror}") from exc


def _write_image(path: Path, image: np.ndarray) -> None:
    import cv2

    try:
        ok = cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    except cv2.error as exc:
        raise OutputFileError(f"cannot write {path}: {exc}") from exc
    if not ok:
        raise OutputFileError(f"cannot write {path}")
