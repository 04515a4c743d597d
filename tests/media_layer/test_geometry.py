"""The compute-size policy (media.geometry): the sizes it picks, the limits that cap them, and
the padding it adds and takes off again."""
from __future__ import annotations

import numpy as np
import pytest

from pix2pix_stream.media.geometry import (EngineGeometry, GeometryError, ScalePolicy, pad_reflect,
                                           plan_compute)

UNET_256 = EngineGeometry(size_multiple=256, crop_size=256, min_size=(256, 256),
                          max_size=(2176, 3840))


@pytest.mark.parametrize("text, policy", [
    ("engine", ScalePolicy("engine")), ("", ScalePolicy("engine")), (None, ScalePolicy("engine")),
    ("native", ScalePolicy("native")), ("Native", ScalePolicy("native")),
    ("384", ScalePolicy("short", 384)), (384, ScalePolicy("short", 384)),
])
def test_policies_parse(text, policy):
    assert ScalePolicy.parse(text) == policy
    assert ScalePolicy.parse(str(policy)) == policy


@pytest.mark.parametrize("text", ["0", "-3", "7x", "big", "1.5", True])
def test_bad_policies_are_refused(text):
    with pytest.raises(GeometryError, match="engine', 'native' or a short side|>= 1"):
        ScalePolicy.parse(text)


@pytest.mark.parametrize("size, policy, scaled, padded", [
    ((1280, 720), "engine", (455, 256), (512, 256)),   # the example
    ((720, 1280), "engine", (256, 455), (256, 512)),   # portrait
    ((256, 256), "engine", (256, 256), (256, 256)),    # the trained size: untouched
    ((1280, 720), "native", (1280, 720), (1280, 768)),
    ((641, 479), "native", (641, 479), (768, 512)),    # odd sizes
    ((1280, 720), 384, (683, 384), (768, 512)),
    ((100, 50), "native", (100, 50), (256, 256)),      # below the minimum: padded up to it
])
def test_compute_sizes(size, policy, scaled, padded):
    plan = plan_compute(*size, policy, UNET_256)
    assert (plan.source, plan.scaled, plan.padded) == (size, scaled, padded)
    assert plan.compute_key == (padded[1], padded[0])
    assert UNET_256.allows(padded[1], padded[0])


def test_limits_shrink_the_compute_size_keeping_the_aspect_ratio():
    plan = plan_compute(4096, 2160, "native", UNET_256)  # max height 2176 -> 2048 usable
    assert plan.padded == (3840, 2048) and plan.scaled[1] <= 2048
    assert abs(plan.scaled[0] / plan.scaled[1] - 4096 / 2160) < 0.01
    capped = plan_compute(1280, 720, "native", UNET_256, max_pixels=640 * 360)
    assert capped.padded[0] * capped.padded[1] <= 640 * 360
    assert abs(capped.scaled[0] / capped.scaled[1] - 16 / 9) < 0.02
    with pytest.raises(GeometryError, match="no size this engine allows"):
        plan_compute(1280, 720, "engine", UNET_256, max_pixels=1000)


def test_a_fixed_size_engine_gets_its_size_whatever_the_policy():
    fixed = EngineGeometry.fixed_size(256, 256)
    for policy in ("engine", "native", 512):
        assert plan_compute(1280, 720, policy, fixed).padded == (256, 256)
    assert fixed.allows(256, 256) and not fixed.allows(256, 512)


def test_prepare_mirrors_the_picture_into_the_padding_and_finish_cuts_it_off():
    frame = np.random.default_rng(0).integers(0, 256, (50, 100, 3), dtype=np.uint8)
    plan = plan_compute(100, 50, "native", UNET_256)
    seen = []
    padded = plan.prepare(frame, transform=lambda x: seen.append(x.shape) or 255 - x)
    assert seen == [(50, 100, 3)]  # the transform sees the picture only, at the compute size
    assert padded.shape == (256, 256, 3)
    assert np.array_equal(padded, np.pad(255 - frame, ((0, 206), (0, 156), (0, 0)), "reflect"))
    assert np.array_equal(plan.finish(padded), 255 - frame)
    assert plan.finish(padded, (40, 20)).shape == (20, 40, 3)


def test_pad_reflect_handles_tiny_pictures():
    one_row = np.arange(12, dtype=np.uint8).reshape(1, 4, 3)
    assert pad_reflect(one_row, 8, 8).shape == (8, 8, 3)
    small = np.arange(27, dtype=np.uint8).reshape(3, 3, 3)
    assert np.array_equal(pad_reflect(small, 16, 16), np.pad(small, ((0, 13), (0, 13), (0, 0)),
                                                             "reflect"))
