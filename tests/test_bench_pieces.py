"""Pieces of bench/service.py, bench/engines.py, bench/l1_regions.py and bench/filter_fades.py:
the transport floor (bench/echo_server.py, a real gRPC server of the same service, driven by the
bench's own client code), the routes the engines bench leaves out, where on the frame a run's L1
goes, and the fades the filter bench makes."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc
from tests.bench_scripts import load_bench_script


def test_the_echo_server_sends_each_frame_back_and_the_bench_times_it():
    service = load_bench_script("service.py")
    echo = service.EchoServer()
    try:
        async def run():
            async with service.channel_to(echo) as channel:
                stub = pb_grpc.TranslatorStub(channel)
                call = stub.Translate()
                await call.write(pb.TranslateRequest(config=pb.StreamConfig(model="any")))
                pixels = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(5, 4, 3)
                await call.write(service.frame_request(pixels, 7))
                await call.done_writing()
                reply = await call.read()
                tally = service.Tally()
                await service.timed_stretch(tally, echo, stub, "any", 2, 8, 2, (16, 8))
                return reply, tally

        reply, tally = asyncio.run(run())
    finally:
        echo.stop()
    assert reply.sequence == 7
    assert (reply.image.raw.width, reply.image.raw.height) == (4, 5)
    assert reply.image.raw.data == np.arange(60, dtype=np.uint8).tobytes()
    row = tally.row()
    assert tally.frames == 8 and len(tally.latencies) == 8
    assert row["fps"] > 0 and row["cpu_ms_per_frame"] > 0


def test_the_engines_bench_leaves_emulated_bf16_routes_out_unless_asked():
    engines = load_bench_script("engines.py")
    routes = ["torch", "onnxruntime", "torch-bf16-autocast", "torch-bf16", "torch-bf16-compile",
              "openvino"]
    left_out = engines.emulated_bf16_routes(routes, fast_bf16=False, emulated_bf16=False)
    assert sorted(left_out) == ["torch-bf16", "torch-bf16-autocast", "torch-bf16-compile"]
    assert "--emulated-bf16" in left_out["torch-bf16"]
    assert engines.emulated_bf16_routes(routes, fast_bf16=True, emulated_bf16=False) == {}
    assert engines.emulated_bf16_routes(routes, fast_bf16=False, emulated_bf16=True) == {}


def test_the_l1_map_is_pix2pix_l1_per_pixel():
    regions = load_bench_script("l1_regions.py")
    frames = np.zeros((2, 4, 6, 3), np.uint8)
    outputs = frames.copy()
    outputs[0, 1, 2] = 255   # one pixel off by the whole range in one of two frames
    error = regions.l1_map(outputs, frames)
    assert error.shape == (4, 6)
    assert error[1, 2] == 1.0 and error.sum() == 1.0


def test_the_l1_regions_table_names_the_region_a_run_loses_in():
    regions = load_bench_script("l1_regions.py")
    base = np.full((4, 6), 0.2, np.float32)
    run = base.copy()
    run[:2, :2] = 0.6    # worse in the top left region of a 3 x 2 grid
    run[2:] = 0.1        # better in the bottom row
    rows = {line.split(" | ")[0][2:]: line for line in
            regions.table(["base", "run"], [base, run], columns=3, rows=2)}
    assert rows["top, column 1 of 3"].endswith("| 0.200 | 0.600 (+200%) |")
    assert rows["bottom, column 3 of 3"].endswith("| 0.200 | 0.100 (-50%) |")
    assert rows["all"].endswith("| 0.200 | 0.217 (+8%) |")
    # without the top left region: 2.8 / 20 against the baseline's 0.2 over the same pixels
    assert rows["all but the region each run loses most in"].endswith("| - | 0.140 (-30%) |")


def test_the_l1_regions_picture_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    regions = load_bench_script("l1_regions.py")
    frame = np.zeros((16, 24, 3), np.uint8)
    maps = [np.full((16, 24), 0.2, np.float32), np.full((16, 24), 0.3, np.float32)]
    path = tmp_path / "out" / "l1_regions.jpg"
    regions.picture(frame, [(frame, "base"), (frame, "run")], maps, path)
    assert path.read_bytes()[:2] == b"\xff\xd8"   # a JPEG


def test_the_fades_bench_makes_fades_and_dissolves_of_the_frames():
    fades = load_bench_script("filter_fades.py")
    frames = np.full((48, 4, 4, 3), 200, np.uint8)
    other = np.full((48, 4, 4, 3), 40, np.uint8)
    clips = fades.made_up_clips(frames, other)
    assert np.array_equal(clips["as it is"], frames)
    out = clips["fade to black over 48 frames"][:, 0, 0, 0]
    assert out[0] == 200 and out[-1] == 4 and np.all(np.diff(out.astype(int)) <= 0)
    fade_in = clips["fade in from 5 % over 48 frames"][:, 0, 0, 0]
    assert fade_in[0] == 10 and fade_in[-1] > 190
    dissolve = clips["dissolve into another scene over 12 frames"][:, 0, 0, 0]
    assert np.all(dissolve[:13] == 200) and np.all(dissolve[24:] == 40)
    assert 40 < dissolve[18] < 200


def test_the_temporal_bench_names_a_run_from_its_own_stability_settings():
    label = load_bench_script("temporal.py").stability_label
    assert label({}) == label({"weight": 0.0, "temporal_weight": 0.0}) == \
        "trained, no stability terms"
    plain = {"weight": 100.0, "temporal_weight": 100.0}     # a checkpoint from before the options
    assert label(plain).endswith("--stability 100 --temporal-weight 100 "
                                 "--no-stability-detail-invariant")
    assert label({**plain, "detail_invariant": True}).endswith(" --stability-detail-invariant")
    assert label({**plain, "weight": 65.0, "scale_invariant": True}).endswith(
        "--stability 65 --temporal-weight 100 --stability-scale-invariant")
