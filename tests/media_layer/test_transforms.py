"""Input transforms: each maps uint8 RGB [H, W, 3] to uint8 RGB [H, W, 3] and round-trips
through the dict stored in checkpoints and engine.json."""
import numpy as np
import pytest

from pix2pix_stream.media.errors import TransformError
from pix2pix_stream.media.transforms import InputTransform, available_transforms


def drawn_frame() -> np.ndarray:
    """A coloured square on a dark background: sharp edges and three distinct channels."""
    frame = np.full((64, 64, 3), 20, np.uint8)
    frame[16:48, 16:48] = (200, 60, 120)
    return frame


@pytest.mark.parametrize("name", available_transforms())
def test_every_transform_keeps_shape_and_dtype(name):
    out = InputTransform(name)(drawn_frame())
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8


def test_grayscale_gives_three_equal_channels_with_luma():
    out = InputTransform("grayscale")(drawn_frame())
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    # ITU-R BT.601 luma of (200, 60, 120): 0.299*200 + 0.587*60 + 0.114*120 = 108.7
    assert abs(int(out[32, 32, 0]) - 109) <= 1


def test_blur_softens_the_square_edge_and_keeps_flat_regions():
    frame = drawn_frame()
    out = InputTransform("blur", {"ksize": 9})(frame)
    assert np.array_equal(out[32, 32], frame[32, 32])
    assert 20 < out[32, 16, 0] < 200  # the step at the border is now a ramp


def test_canny_draws_black_edges_on_white_by_default():
    out = InputTransform("canny", {"low": 50, "high": 150})(drawn_frame())
    assert out[2, 2, 0] == 255 and out[32, 32, 0] == 255  # flat regions stay white
    assert (out[:, :, 0] == 0).sum() > 0  # the square's outline is black
    inverted = InputTransform("canny", {"low": 50, "high": 150, "invert": False})(drawn_frame())
    assert np.array_equal(inverted, 255 - out)


def test_unknown_name_and_bad_parameters_are_typed_errors_naming_the_problem():
    with pytest.raises(TransformError, match="unknown input transform 'sobel'"):
        InputTransform("sobel")
    with pytest.raises(TransformError, match="bad parameters for input transform 'canny'"):
        InputTransform("canny", {"threshold": 3})


def test_wrong_frame_shape_is_a_typed_error():
    with pytest.raises(TransformError, match=r"uint8 \[H, W, 3\]"):
        InputTransform("grayscale")(np.zeros((8, 8), np.uint8))


def test_dict_round_trip():
    transform = InputTransform("canny", {"low": 10, "high": 90})
    assert InputTransform.from_dict(transform.to_dict()) == transform
    assert InputTransform.from_dict(None).is_identity
