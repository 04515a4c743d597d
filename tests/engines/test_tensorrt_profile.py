"""The optimisation profile of TensorRT plans and of ONNX Runtime's TensorRT provider: batch and
height/width bounds read from engine.json's geometry (size_multiple, min_size, max_size,
trained_size), the fallback for fixed-size engines, and the error that names the bound a batch
breaks. No GPU needed."""
from __future__ import annotations

import types

import pytest

from pix2pix_stream.engines.runtime.errors import InputError, ProfileShapeError
from pix2pix_stream.engines.runtime.metadata import EngineMetadata
from pix2pix_stream.engines.runtime.tensorrt_profile import (BatchProfile, SizeProfile, check_shape,
                                                             ort_trt_profile_options,
                                                             profile_shapes, size_profile)


def geometry(multiple=256, crop=256, min_size=None, max_size=None, **meta):
    """engine.json of an engine that takes any size (the geometry fields of the shared contract);
    a namespace, since this branch's EngineMetadata may not have the fields yet."""
    base = EngineMetadata(name="g", input_width=crop, input_height=crop, **meta).to_dict()
    return types.SimpleNamespace(**{**base, "size_multiple": multiple, "min_size": min_size,
                                    "max_size": max_size,
                                    "trained_size": {"load_size": crop + 30, "crop_size": crop,
                                                     "source_aspect": None}})


def test_batch_profile_defaults():
    assert BatchProfile().to_dict() == {"min": 1, "opt": 8, "max": 32}


@pytest.mark.parametrize("values", [(0, 1, 1), (2, 1, 4), (1, 8, 4)])
def test_batch_profile_rejects_disorder(values):
    with pytest.raises(ValueError, match="min <= opt <= max"):
        BatchProfile(*values)


def test_unet_256_profile_spans_one_multiple_to_1080p_tuned_for_16_9():
    sizes = size_profile(geometry(256, 256))
    assert sizes.min == (256, 256)
    assert sizes.opt == (256, 512)    # 256 short side, 16/9 * 256 = 455 -> 512
    assert sizes.max == (1280, 2048)  # 1088 x 1920 rounded up to 256
    assert profile_shapes(BatchProfile(1, 8, 32), sizes) == (
        (1, 256, 256, 3), (8, 256, 512, 3), (32, 1280, 2048, 3))


def test_other_multiples_and_crops():
    sizes = size_profile(geometry(128, 128), max_size=(720, 1280))
    assert (sizes.min, sizes.opt, sizes.max) == ((128, 128), (128, 256), (768, 1280))
    sizes = size_profile(geometry(64, 200))  # crop 200 -> 256 short side, 455.1 -> 512
    assert (sizes.min, sizes.opt, sizes.max) == ((64, 64), (256, 512), (1088, 1920))


def test_max_size_stays_within_the_engines_own_maximum():
    sizes = size_profile(geometry(256, 256, max_size=[1024, 1024]), max_size=(2160, 3840))
    assert sizes.max == (1024, 1024) and sizes.opt == (256, 512)
    with pytest.raises(ValueError, match="below the engine's minimum"):
        size_profile(geometry(256, 256, min_size=[512, 512]), max_size=(256, 256))


def test_an_engine_json_without_geometry_is_fixed_at_its_input_size():
    meta = types.SimpleNamespace(name="old", input_width=320, input_height=256)  # no size fields
    sizes = size_profile(meta, max_size=(1088, 1920))
    assert sizes == SizeProfile.fixed(256, 320) and sizes.is_fixed
    assert profile_shapes(BatchProfile(1, 4, 8), sizes)[2] == (8, 256, 320, 3)


@pytest.mark.parametrize("shape, bound", [
    ((1, 256, 512, 3), "batch 1 is below the plan's profile minimum 2"),
    ((9, 256, 512, 3), "batch 9 is above the plan's profile maximum 8"),
    ((2, 128, 512, 3), "height 128 is below the plan's profile minimum 256"),
    ((2, 256, 2304, 3), "width 2304 is above the plan's profile maximum 2048"),
    ((2, 256, 300, 3), "width 300 is not a multiple of 256"),
])
def test_a_shape_outside_the_profile_names_the_bound(shape, bound):
    sizes = size_profile(geometry(256, 256))
    with pytest.raises(ProfileShapeError, match=bound) as err:
        check_shape(shape, BatchProfile(2, 4, 8), sizes, "facades")
    assert isinstance(err.value, InputError)  # the servicer answers INVALID_ARGUMENT
    check_shape((2, 1280, 2048, 3), BatchProfile(2, 4, 8), sizes)  # the corners are inside


def test_a_fixed_size_plan_takes_only_its_size():
    sizes = SizeProfile.fixed(256, 256)
    check_shape((4, 256, 256, 3), BatchProfile(), sizes)
    with pytest.raises(ProfileShapeError, match="height 512 is above"):
        check_shape((4, 512, 256, 3), BatchProfile(), sizes)


def test_ort_tensorrt_profile_options_use_the_providers_format():
    """ONNX Runtime's format: "name:d0xd1x..." per input, like trtexec's --minShapes."""
    options = ort_trt_profile_options("frames", BatchProfile(1, 8, 16), size_profile(geometry()))
    assert options == {"trt_profile_min_shapes": "frames:1x256x256x3",
                       "trt_profile_opt_shapes": "frames:8x256x512x3",
                       "trt_profile_max_shapes": "frames:16x1280x2048x3"}


def test_size_profile_round_trips_through_engine_json():
    sizes = size_profile(geometry())
    assert SizeProfile.from_dict(sizes.to_dict()) == sizes
