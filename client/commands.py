"""The subcommands of pix2pix-client; each takes a connected client and the parsed arguments
and returns an exit code. Errors are raised as client.errors types; cli.main maps them."""
from __future__ import annotations

import collections
import json
import sys
from pathlib import Path
from typing import Iterator

import numpy as np

from client import exit_codes
from client.errors import InputFileError, OutputFileError
from client.sync_client import TranslatorClient

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
    bar, update = _progress_bar(f"{args.input.name} -> {args.output.name}")
    with bar:
        result = client.translate_video(args.input, args.output, model=args.model,
                                        server_decode=args.server_decode,
                                        side_by_side=args.side_by_side, size=args.size,
                                        progress=update, codec=args.codec,
                                        audio=not args.no_audio)
    print(f"wrote {result.path}: {result.frames} frames, {result.width}x{result.height}, "
          f"{result.fps:.3f} fps, {result.duration_s:.2f} s"
          f"{', with audio' if result.has_audio else ''}")
    return exit_codes.OK


def webcam(client: TranslatorClient, args) -> int:
    from client.webcam import LiveConfig, run_live

    config = LiveConfig(device=args.device, model=args.model, size=args.size, show=args.show,
                        record=args.record, max_frames=args.max_frames,
                        duration_s=args.duration, input_encoding="jpeg" if args.jpeg else "raw",
                        realtime=not args.no_realtime)
    run_live(client, config, report=lambda line: print(line, flush=True))
    if args.record is not None and args.record.exists():
        print(f"recorded {args.record}")
    return exit_codes.OK


def images(client: TranslatorClient, args) -> int:
    paths = _image_files(args.input)
    _make_dir(args.output)
    pending: collections.deque[Path] = collections.deque()
    bar, update = _progress_bar(f"{args.input} -> {args.output}", unit="image")
    with bar:
        update(0, len(paths))
        outputs = client.translate_frames(_read_images(paths, pending), model=args.model,
                                          size=args.size)
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
    rows = [("NAME", "INPUT", "TRANSFORM", "DIRECTION", "BACKEND", "PRECISION", "DESCRIPTION")]
    rows += [(m.name, f"{m.input_width}x{m.input_height}", m.input_transform, m.direction,
              m.backend, m.precision, m.description) for m in infos]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return exit_codes.OK


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
