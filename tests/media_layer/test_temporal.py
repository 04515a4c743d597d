"""Optical flow, warping, the reliable-flow mask and the stability scores (media/temporal.py),
and the server's temporal filter (media/temporal_filter.py), on drawn moving textures."""
import numpy as np
import pytest

from pix2pix_stream.media.errors import TransformError
from pix2pix_stream.media.synthetic import drawn_frame
from pix2pix_stream.media.temporal import (FlowEstimator, input_flows, reliable, temporal_scores,
                                           warp)
from pix2pix_stream.media.temporal_filter import Motion, TemporalFilter, temporal_settings


def texture(size: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture (blurred noise): DIS finds its motion reliably."""
    import cv2

    noise = np.random.default_rng(seed).integers(0, 256, (size, size, 3)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def panning_clip(frames: int = 6, step: int = 2, size: int = 96) -> list[np.ndarray]:
    """A window sliding ``step`` px to the left over a larger texture per frame: the content
    moves right-to-left... i.e. frame t = frame t-1 shifted by -step in x."""
    big = texture(size + step * frames)
    return [np.ascontiguousarray(big[:size, t * step:t * step + size]) for t in range(frames)]


def test_dis_flow_finds_a_known_shift_and_warp_undoes_it():
    clip = panning_clip(2, step=3)
    backward = FlowEstimator("medium")(clip[1], clip[0])  # pixel x of frame 1 is at x+3 in frame 0
    centre = backward[20:-20, 20:-20]
    assert np.median(centre[..., 0]) == pytest.approx(3.0, abs=0.25)
    assert np.median(centre[..., 1]) == pytest.approx(0.0, abs=0.25)
    restored = warp(clip[0], backward).astype(int)
    assert np.abs(restored[20:-20, 20:-20] - clip[1][20:-20, 20:-20].astype(int)).mean() < 2.0


def test_forward_backward_check_rejects_disagreeing_flows_and_pixels_leaving_the_frame():
    h = w = 32
    backward = np.zeros((h, w, 2), np.float32)
    backward[..., 0] = 2.0
    agreeing = -backward
    mask = reliable(backward, agreeing)
    assert mask[:, :w - 3].all()          # x + 2 still inside the frame
    assert not mask[:, w - 2:].any()      # sampled beyond the right border
    assert not reliable(backward, backward)[:, :w - 3].any()   # forward should be -2, is +2


def test_scores_an_identical_output_at_the_floor_and_a_flickering_one_above_it():
    clip = panning_clip()
    pairs = input_flows(clip)
    same = temporal_scores(clip, clip, pairs=pairs)
    assert same.flicker == pytest.approx(1.0)
    assert same.warp_error == pytest.approx(same.warp_floor)
    assert same.reliable_fraction > 0.8
    rng = np.random.default_rng(1)
    noisy = [np.clip(f.astype(int) + rng.integers(-40, 41, f.shape), 0, 255).astype(np.uint8)
             for f in clip]
    worse = temporal_scores(clip, noisy, pairs=pairs)
    assert worse.flicker > 1.5 and worse.warp_error > 3 * worse.warp_floor
    still = temporal_scores(clip, [clip[0]] * len(clip), pairs=pairs)
    assert still.flicker == 0.0
    assert len(worse.per_frame_flicker) == len(clip) - 1


def test_detail_shows_the_blur_that_flicker_rewards():
    import cv2

    clip = panning_clip(8, step=2)
    pairs = input_flows(clip)
    same = temporal_scores(clip, clip, pairs=pairs)
    assert same.detail == pytest.approx(1.0)
    # The same picture, blurred: it moves with the input and is no more stable than it, yet its
    # flicker falls with its detail.
    soft = temporal_scores(clip, [cv2.GaussianBlur(f, (0, 0), 2.5) for f in clip], pairs=pairs)
    assert soft.flicker < 0.7 and soft.detail < 0.6
    flat = temporal_scores(clip, [np.full_like(f, 128) for f in clip], pairs=pairs)
    assert flat.flicker == 0.0 and flat.detail == 0.0
    assert same.as_dict()["detail"] == same.detail


def test_scores_refuse_mismatched_clips():
    clip = panning_clip(3)
    with pytest.raises(TransformError):
        temporal_scores(clip, clip[:2])
    with pytest.raises(TransformError):
        temporal_scores(clip, [f[:40] for f in clip])


def flickering_outputs(clip: list[np.ndarray], seed: int = 3) -> list[np.ndarray]:
    """What a per-frame generator does: the right picture plus fresh noise every frame."""
    rng = np.random.default_rng(seed)
    return [np.clip(f.astype(int) + rng.integers(-30, 31, f.shape), 0, 255).astype(np.uint8)
            for f in clip]


def run_filter(level: str, clip, outputs) -> list[np.ndarray]:
    smoother = TemporalFilter(temporal_settings(level))
    return [smoother(src, out) for src, out in zip(clip, outputs)]


def test_filter_halves_flicker_on_a_moving_scene_and_follows_the_motion():
    clip = panning_clip(10)
    outputs = flickering_outputs(clip)
    pairs = input_flows(clip)
    before = temporal_scores(clip, outputs, pairs=pairs)
    after = temporal_scores(clip, run_filter("strong", clip, outputs), pairs=pairs)
    # Flicker also counts the real motion, which the filter must keep: less than halved here.
    assert after.flicker < 0.6 * before.flicker
    assert after.warp_error < 0.3 * before.warp_error
    light = temporal_scores(clip, run_filter("light", clip, outputs), pairs=pairs)
    assert after.flicker < light.flicker < before.flicker


def test_filter_removes_most_flicker_of_a_still_scene():
    clip = [texture()] * 8
    outputs = flickering_outputs(clip)
    before = temporal_scores(clip, outputs, preset="ultrafast")
    after = temporal_scores(clip, run_filter("strong", clip, outputs), preset="ultrafast")
    # A still input has no change to divide by: compare the output changes themselves.
    assert sum(after.per_frame_warp_error) < 0.3 * sum(before.per_frame_warp_error)


def test_filter_follows_a_fade_with_a_bounded_lag():
    # The panning texture fading from full to 40 % brightness, 7 grey levels darker per frame:
    # the match weight falls as the brightness step nears its tolerance, so the filtered output
    # trails the fade by a few levels. A weight blind to the step would trail it by
    # strength / (1 - strength) steps (28 levels at strong).
    clip = [np.round(f * k).astype(np.uint8)
            for f, k in zip(panning_clip(12), np.linspace(1.0, 0.4, 12))]
    outputs = flickering_outputs(clip)
    filtered = run_filter("strong", clip, outputs)
    pairs = input_flows(clip)
    assert temporal_scores(clip, filtered, pairs=pairs).flicker < \
        0.8 * temporal_scores(clip, outputs, pairs=pairs).flicker
    lag = [float(out.mean()) - float(src.mean()) for out, src in zip(filtered, clip)]
    assert max(lag) < 8.0


def test_filter_resets_at_a_scene_cut_and_passes_the_first_frame_through():
    clip = panning_clip(4)
    other = drawn_frame(0, 96, 96)   # a gradient: nothing like the textured scene
    outputs = flickering_outputs(clip + [other])
    smoother = TemporalFilter(temporal_settings("strong"))
    results = [smoother(src, out) for src, out in zip(clip + [other], outputs)]
    assert np.array_equal(results[0], outputs[0])
    assert np.array_equal(results[-1], outputs[-1])    # nothing of the old scene leaks in
    assert smoother.resets == 1


def test_filter_halves_run_apart_equal_the_whole_filter():
    """A server estimates each frame's motion while the model runs and blends afterwards: the
    two halves, called apart in order, give the bytes of the one-call filter."""
    clip = panning_clip(6)
    outputs = flickering_outputs(clip)
    whole = run_filter("strong", clip, outputs)
    halves = TemporalFilter(temporal_settings("strong"))
    motions = [halves.estimate(src) for src in clip]           # all estimates first
    assert all(np.array_equal(halves.blend(m, out), want)
               for m, out, want in zip(motions, outputs, whole))


def test_filter_passes_what_changed_in_the_input_and_blends_what_did_not():
    """Where the input changed beyond the tolerance (a new dark object), the new output passes
    unchanged, so nothing of the past leaks into it (the other tests show the blend elsewhere
    removing flicker)."""
    still = texture(96)
    changed = still.copy()
    changed[30:60, 30:60] = 0   # 90-150 grey levels from the texture: far past the tolerance
    first, second = flickering_outputs([still, changed])
    smoother = TemporalFilter(temporal_settings("strong"))
    smoother(still, first)
    got = smoother(changed, second)
    inside = (slice(36, 54), slice(36, 54))   # clear of the blur at the square's edge
    assert np.array_equal(got[inside], second[inside])
    assert not np.array_equal(got, second)   # elsewhere the past was blended in


def test_a_frame_estimated_but_never_blended_makes_the_next_one_start_afresh():
    """Frame 2 failed in the model after its motion was measured: frame 3's motion is measured
    against frame 2, which was never blended, so warping frame 1's output along it would
    misplace everything; frame 3 passes through unchanged and the filter goes on from it."""
    clip = panning_clip(5)
    outputs = flickering_outputs(clip)
    smoother = TemporalFilter(temporal_settings("strong"))
    for i in (0, 1):
        smoother.blend(smoother.estimate(clip[i]), outputs[i])
    smoother.estimate(clip[2])                                 # no blend: the frame failed
    assert np.array_equal(smoother.blend(smoother.estimate(clip[3]), outputs[3]), outputs[3])
    assert not np.array_equal(smoother.blend(smoother.estimate(clip[4]), outputs[4]), outputs[4])


def test_filter_refuses_an_output_of_another_size_than_its_source():
    clip = panning_clip(3)
    outputs = flickering_outputs(clip)
    smoother = TemporalFilter(temporal_settings("strong"))
    with pytest.raises(TransformError, match="differ in size"):
        smoother(clip[0], outputs[0][:40])                    # the first frame too
    smoother(clip[1], outputs[1])
    motion = smoother.estimate(clip[2])
    with pytest.raises(TransformError, match="differ in size"):
        smoother.mix(motion, smoother.warp_previous(motion), outputs[2][:, :40])


def test_the_mix_moves_each_element_its_weight_of_the_way_to_the_warped_past():
    """output + weight * (warped - output), per element and channel, rounded to uint8."""
    rng = np.random.default_rng(5)
    output = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    warped = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    weight = rng.uniform(0, 0.8, (6, 7, 3)).astype(np.float32)
    smoother = TemporalFilter(temporal_settings("strong"))
    got = smoother.mix(Motion(1, (6, 7), 0, weight=weight), warped, output)
    want = output + weight.astype(np.float64) * (warped.astype(np.float64) - output)
    assert np.array_equal(got, np.rint(want).astype(np.uint8))
    with pytest.raises(TransformError, match="differ in channels"):
        smoother.mix(Motion(2, (6, 7), 1, weight=weight), warped[..., 0], output[..., 0])


def test_filter_is_deterministic_and_off_is_no_filter():
    clip = panning_clip(6)
    outputs = flickering_outputs(clip)
    first, second = run_filter("strong", clip, outputs), run_filter("strong", clip, outputs)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert temporal_settings("off") is None
    with pytest.raises(TransformError):
        temporal_settings("medium")
