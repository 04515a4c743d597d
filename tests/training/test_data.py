from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from pix2pix_stream.media.transforms import InputTransform
from pix2pix_stream.pix2pix.data import DataConfig, Jitter, build_datasets, default_load_size, resolve_data
from pix2pix_stream.pix2pix.data.dataset import split_indices
from pix2pix_stream.pix2pix.errors import (AlignedImageError, EmptyDatasetError, UnmatchedPairsError,
                            UnreadableImageError, VideoError)
from pix2pix_stream.media.synthetic import make_clip
from tests.training.helpers import make_aligned_folder, make_pair_folders


def test_aligned_folder_direction_picks_the_input_half(tmp_path):
    folder = make_aligned_folder(tmp_path / "al", count=4)
    a_to_b, _ = build_datasets(DataConfig(str(folder), crop_size=64, val_fraction=0, flip=False,
                                          load_size=64))
    b_to_a, _ = build_datasets(DataConfig(str(folder), direction="BtoA", crop_size=64,
                                          val_fraction=0, flip=False, load_size=64))
    inp, target = a_to_b.images(0)
    assert a_to_b.source.kind == "aligned"
    # B is the inverse of A in the helper's images.
    assert np.abs(inp.astype(int) + target.astype(int) - 255).max() <= 2
    inp2, target2 = b_to_a.images(0)
    assert np.array_equal(inp2, target) and np.array_equal(target2, inp)


def test_items_are_float_tensors_in_minus_one_one(tmp_path):
    train, _ = build_datasets(DataConfig(str(make_aligned_folder(tmp_path / "al", 3)),
                                         crop_size=128, val_fraction=0))
    item = train[0]
    assert item["input"].shape == item["target"].shape == (3, 128, 128)
    assert item["input"].dtype == torch.float32
    assert -1.0 <= item["input"].min() and item["input"].max() <= 1.0


def test_jitter_is_identical_for_input_and_target_and_varies_by_epoch(tmp_path):
    # With A == B and no transform, any jitter that differed between them would show.
    folder = tmp_path / "same"
    folder.mkdir()
    from PIL import Image
    from pix2pix_stream.media.synthetic import drawn_frame
    for i in range(3):
        a = drawn_frame(i, 80, 80)
        Image.fromarray(np.concatenate([a, a], axis=1)).save(folder / f"{i}.png")
    train, _ = build_datasets(DataConfig(str(folder), crop_size=128, val_fraction=0), seed=3)
    crops = []
    for epoch in range(6):
        train.set_epoch(epoch)
        inp, target = train.images(1)
        assert inp.shape == (128, 128, 3) and np.array_equal(inp, target)
        crops.append(inp)
    assert any(not np.array_equal(crops[0], c) for c in crops[1:])
    train.set_epoch(0)
    assert np.array_equal(train.images(1)[0], crops[0])  # same (seed, epoch, index): same sample


def test_jitter_sizes_follow_the_paper_and_scale_with_the_crop():
    assert default_load_size(256) == 286 and default_load_size(128) == 143
    jitter = Jitter(286, 256)
    rng = np.random.default_rng(0)
    params = [jitter.sample(rng) for _ in range(200)]
    assert all(0 <= p.x <= 30 and 0 <= p.y <= 30 for p in params)
    assert 60 < sum(p.flip for p in params) < 140
    image = np.zeros((100, 200, 3), np.uint8)
    assert jitter.apply(image, params[0]).shape == (256, 256, 3)
    assert not any(Jitter(286, 256, flip=False).sample(rng).flip for _ in range(50))


def test_validation_is_resized_without_jitter(tmp_path):
    folder = make_aligned_folder(tmp_path / "al", count=10)
    _, val = build_datasets(DataConfig(str(folder), crop_size=128, val_fraction=0.3))
    first = val.images(0)
    val.set_epoch(5)
    assert all(np.array_equal(x, y) for x, y in zip(first, val.images(0)))
    assert first[0].shape == (128, 128, 3)


def test_split_is_disjoint_deterministic_by_seed_and_keeps_training_data():
    train, val = split_indices(20, 0.25, seed=1, contiguous=False)
    assert len(val) == 5 and not set(train) & set(val) and sorted(train + val) == list(range(20))
    assert (train, val) == split_indices(20, 0.25, seed=1, contiguous=False)
    assert val != split_indices(20, 0.25, seed=2, contiguous=False)[1]
    assert split_indices(20, 0.1, seed=0, contiguous=True)[1] == [18, 19]  # video: last frames
    assert split_indices(1, 0.5, seed=0, contiguous=False) == ([0], [])
    assert split_indices(10, 0.0, seed=0, contiguous=False)[1] == []


def test_pair_folders_match_by_name(tmp_path):
    root = make_pair_folders(tmp_path / "pairs", ["x.png", "y.png", "z.png"])
    assert resolve_data(root).mode == "pairs"
    train, val = build_datasets(DataConfig(str(root), crop_size=128, val_fraction=0))
    assert len(train) == 3 and val is None
    assert train.name(0) == "x.png"


def test_video_frames_are_targets_and_the_transform_makes_inputs(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=12, width=64, height=48)
    canny = InputTransform("canny", {"low": 50, "high": 150})
    train, val = build_datasets(DataConfig(str(clip), input_transform=canny, crop_size=128,
                                           val_fraction=0.25))
    assert train.source.kind == "video"
    assert len(train) == 9 and len(val) == 3 and val.indices == [9, 10, 11]
    inp, target = val.images(0)
    assert inp.shape == target.shape == (128, 128, 3)
    assert set(np.unique(inp)) <= {0, 255}  # edges: black on white
    assert np.array_equal(inp, canny(target))  # the same function the server applies
    strided, _ = build_datasets(DataConfig(str(clip), crop_size=128, val_fraction=0,
                                           video_stride=3, max_frames=3))
    assert len(strided) == 3 and strided.name(2) == "clip.mp4#frame6"


def test_auto_detection_and_train_subfolder(tmp_path):
    make_aligned_folder(tmp_path / "set" / "train", count=2)
    assert resolve_data(tmp_path / "set").paths == (tmp_path / "set" / "train",)
    assert resolve_data(tmp_path / "set" / "train").mode == "aligned"


# -- bad data: each gets its own typed error naming the file -------------------------------

def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyDatasetError, match="no images in .*empty") as err:
        build_datasets(DataConfig(str(tmp_path / "empty")))
    assert err.value.path == tmp_path / "empty"


def test_unreadable_image(tmp_path):
    folder = make_aligned_folder(tmp_path / "al", count=2)
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(UnreadableImageError, match="broken.jpg") as err:
        build_datasets(DataConfig(str(folder)))
    assert err.value.path.name == "broken.jpg"


def test_truncated_image_fails_when_decoded_with_its_name(tmp_path):
    folder = make_aligned_folder(tmp_path / "al", count=2)
    data = (folder / "001.png").read_bytes()
    (folder / "001.png").write_bytes(data[: len(data) // 2])
    train, val = build_datasets(DataConfig(str(folder), val_fraction=0, crop_size=128))
    with pytest.raises(UnreadableImageError, match="001.png"):
        [train[i] for i in range(len(train))]


def test_odd_width_aligned_image(tmp_path):
    from PIL import Image
    folder = make_aligned_folder(tmp_path / "al", count=2)
    Image.new("RGB", (129, 64)).save(folder / "odd.png")
    with pytest.raises(AlignedImageError, match="odd.png.*129 px wide"):
        build_datasets(DataConfig(str(folder)))


def test_names_that_do_not_match(tmp_path):
    root = make_pair_folders(tmp_path / "pairs", ["a.png", "b.png"])
    (root / "B" / "b.png").rename(root / "B" / "c.png")
    with pytest.raises(UnmatchedPairsError, match=r"b\.png.*c\.png"):
        build_datasets(DataConfig(str(root)))


def test_video_with_no_frames(tmp_path):
    # AVI keeps a declared video stream even when no frame was ever written to it.
    path = tmp_path / "empty.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()  # writes the header although no frame follows
    with pytest.raises(VideoError, match="empty.avi has no frames"):
        build_datasets(DataConfig(str(path)))


def test_file_without_video_stream_and_garbage_file(tmp_path):
    audio_only = tmp_path / "tone.m4a"
    with av.open(str(audio_only), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt",
                                           layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 44100, 0, Fraction(1, 44100)
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(VideoError, match="tone.m4a has no video stream"):
        build_datasets(DataConfig(str(audio_only)))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\0" * 100)
    with pytest.raises(VideoError, match="garbage.mp4"):
        build_datasets(DataConfig(str(garbage)))


def test_explicit_mode_also_looks_into_a_lone_train_folder(tmp_path):
    make_aligned_folder(tmp_path / "set" / "train", count=2)
    spec = resolve_data(tmp_path / "set", "aligned")
    assert spec.paths == (tmp_path / "set" / "train",)
    train, _ = build_datasets(DataConfig(str(tmp_path / "set"), mode="aligned", val_fraction=0))
    assert len(train) == 2


def test_non_square_sources_keep_their_aspect_ratio():
    """Short side to the load size, long side following, random crop anywhere along both: a
    200x100 source loads at 286x143 and is never squashed into a square."""
    from pix2pix_stream.pix2pix.data.jitter import centre_crop, resize_to

    jitter = Jitter(143, 128)
    image = np.random.default_rng(1).integers(0, 256, (100, 200, 3), dtype=np.uint8)
    assert jitter.loaded_size(image.shape) == (286, 143)
    rng = np.random.default_rng(0)
    params = [jitter.sample(rng, image.shape) for _ in range(200)]
    assert max(p.x for p in params) > 100 and all(p.x <= 158 and p.y <= 15 for p in params)
    p = next(p for p in params if not p.flip)
    loaded = resize_to(image, 286, 143)
    assert np.array_equal(jitter.apply(image, p), loaded[p.y:p.y + 128, p.x:p.x + 128])
    assert np.array_equal(centre_crop(image, 128), resize_to(image, 256, 128)[:, 64:192])
