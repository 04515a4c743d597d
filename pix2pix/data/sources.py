"""Where training pairs come from: an aligned A|B folder, two folders A/ and B/, or a video.

A source yields ``(source, target)`` uint8 RGB images: ``target`` is what the generator should
produce and ``source`` is the image the input transform turns into the generator's input (the A
image for pairs, the frame itself for a video). All problems are found when the source is built,
before any training starts, and raise a DataError naming the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pix2pix_stream.pix2pix.data.images import image_size, list_images, read_rgb
from pix2pix_stream.pix2pix.data.video import decode_frames
from pix2pix_stream.pix2pix.errors import (AlignedImageError, DataError, EmptyDatasetError, UnmatchedPairsError)

DATA_MODES = ("auto", "aligned", "pairs", "video")
DIRECTIONS = ("AtoB", "BtoA")
_A_NAMES, _B_NAMES = ("A", "a", "trainA", "input"), ("B", "b", "trainB", "target")


class AlignedSource:
    """Each file holds A on the left half and B on the right, as pix2pix's public datasets."""

    kind = "aligned"

    def __init__(self, folder: Path, direction: str = "AtoB"):
        self.folder, self.direction = folder, direction
        self.files = list_images(folder)
        if not self.files:
            raise EmptyDatasetError(f"no images in {folder}", folder)
        for path in self.files:
            width, _ = image_size(path)
            if width % 2:
                raise AlignedImageError(
                    f"aligned image {path} is {width} px wide, an odd width: it cannot be cut into "
                    "equal A and B halves", path)

    def __len__(self) -> int:
        return len(self.files)

    def name(self, index: int) -> str:
        return self.files[index].name

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        pair = read_rgb(self.files[index])
        half = pair.shape[1] // 2
        a, b = pair[:, :half], pair[:, half:]
        return (a, b) if self.direction == "AtoB" else (b, a)


class PairedFoldersSource:
    """Folders A/ and B/ whose files match by name (the suffix may differ: A/x.png, B/x.jpg)."""

    kind = "pairs"

    def __init__(self, folder_a: Path, folder_b: Path, direction: str = "AtoB"):
        self.direction = direction
        files_a = {p.stem: p for p in list_images(folder_a)}
        files_b = {p.stem: p for p in list_images(folder_b)}
        for folder, files in ((folder_a, files_a), (folder_b, files_b)):
            if not files:
                raise EmptyDatasetError(f"no images in {folder}", folder)
        only_a, only_b = sorted(files_a.keys() - files_b), sorted(files_b.keys() - files_a)
        if only_a or only_b:
            raise UnmatchedPairsError(_unmatched_message(folder_a, folder_b, files_a, files_b,
                                                         only_a, only_b),
                                      files_a[only_a[0]] if only_a else files_b[only_b[0]])
        self.pairs = [(files_a[k], files_b[k]) for k in sorted(files_a)]
        for path_a, path_b in self.pairs:
            if image_size(path_a) != image_size(path_b):
                raise UnmatchedPairsError(f"{path_a} is {image_size(path_a)} but {path_b} is "
                                          f"{image_size(path_b)}: a pair must have one size", path_b)

    def __len__(self) -> int:
        return len(self.pairs)

    def name(self, index: int) -> str:
        return self.pairs[index][0].name

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = (read_rgb(p) for p in self.pairs[index])
        return (a, b) if self.direction == "AtoB" else (b, a)


def _unmatched_message(folder_a, folder_b, files_a, files_b, only_a, only_b) -> str:
    parts = []
    if only_a:
        parts.append(f"{len(only_a)} file(s) in {folder_a} have no partner in {folder_b}: "
                     + ", ".join(files_a[k].name for k in only_a[:5]))
    if only_b:
        parts.append(f"{len(only_b)} file(s) in {folder_b} have no partner in {folder_a}: "
                     + ", ".join(files_b[k].name for k in only_b[:5]))
    return "A/B names do not match: " + "; ".join(parts)


class VideoSource:
    """Frames of a video are the targets; the input transform makes the inputs from them."""

    kind = "video"
    direction = "AtoB"

    def __init__(self, path: Path, size: int, *, stride: int = 1, max_frames: int | None = None):
        self.path = path
        self.frames = decode_frames(path, size, stride=stride, max_frames=max_frames)
        self.stride = stride

    def __len__(self) -> int:
        return len(self.frames)

    def name(self, index: int) -> str:
        return f"{self.path.name}#frame{index * self.stride}"

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        frame = self.frames[index]
        return frame, frame


@dataclass(frozen=True)
class SourceSpec:
    """What --data / --data-mode resolved to."""

    mode: str
    paths: tuple[Path, ...]


def resolve_data(path: str | Path, mode: str = "auto") -> SourceSpec:
    """Finds out what kind of data ``path`` is. ``auto``: a file is a video; a folder with
    subfolders A and B holds pairs; a folder of images holds aligned A|B images; a folder with
    only a ``train`` subfolder is looked into."""
    path = Path(path)
    if mode not in DATA_MODES:
        raise DataError(f"unknown data mode {mode!r}; expected one of {DATA_MODES}", path)
    if not path.exists():
        raise DataError(f"training data not found: {path}", path)
    if mode == "video" or (mode == "auto" and path.is_file()):
        if not path.is_file():
            raise DataError(f"--data-mode video needs a video file, {path} is a folder", path)
        return SourceSpec("video", (path,))
    if not path.is_dir():
        raise DataError(f"{path} is a file, but data mode {mode!r} needs a folder", path)
    pair_dirs = _pair_folders(path)
    if not pair_dirs and not list_images(path) and (path / "train").is_dir():
        return resolve_data(path / "train", mode)
    if mode == "pairs" or (mode == "auto" and pair_dirs):
        if not pair_dirs:
            raise DataError(f"{path} has no A/ and B/ subfolders of pairs", path)
        return SourceSpec("pairs", pair_dirs)
    return SourceSpec("aligned", (path,))


def _pair_folders(folder: Path) -> tuple[Path, Path] | tuple[()]:
    for a_name, b_name in zip(_A_NAMES, _B_NAMES):
        if (folder / a_name).is_dir() and (folder / b_name).is_dir():
            return folder / a_name, folder / b_name
    return ()


def open_source(spec: SourceSpec, *, direction: str, load_size: int, video_stride: int = 1,
                max_frames: int | None = None):
    if direction not in DIRECTIONS:
        raise DataError(f"unknown direction {direction!r}; expected AtoB or BtoA", spec.paths[0])
    if spec.mode == "aligned":
        return AlignedSource(spec.paths[0], direction)
    if spec.mode == "pairs":
        return PairedFoldersSource(*spec.paths, direction)
    if spec.mode == "video":
        if video_stride < 1:
            raise DataError(f"video stride must be >= 1, got {video_stride}", spec.paths[0])
        return VideoSource(spec.paths[0], load_size, stride=video_stride, max_frames=max_frames)
    raise DataError(f"unknown data mode {spec.mode!r}", spec.paths[0])
