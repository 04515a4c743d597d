"""The server's temporal filter end to end: a real server, the real tiny ONNX engine. Filtered
replies equal the media filter run in order over the backend's outputs, the same clip gives the
same bytes, streams never share state, and the server default / per-stream choice work."""
from __future__ import annotations

import threading

import cv2
import grpc
import numpy as np
import pytest

from pix2pix_stream.media.synthetic import make_clip
from pix2pix_stream.media.temporal_filter import TemporalFilter, temporal_settings
from pix2pix_stream.protos import translator_pb2 as pb
from tests.server.helpers import channel_stub, config, decode_reply, frame, raw_image
from tests.server.video_calls import translate_video


def panning_frames(n: int, seed: int = 0, size: int = 128, step: int = 2) -> list[np.ndarray]:
    """A smooth texture sliding by ``step`` px per frame: the filter has motion to follow."""
    noise = np.random.default_rng(seed).integers(0, 256, (size, size + n * step, 3)).astype(np.uint8)
    big = cv2.GaussianBlur(noise, (0, 0), 2.0)
    return [np.ascontiguousarray(big[:, t * step:t * step + size]) for t in range(n)]


def requests(frames, **cfg):
    yield config(**cfg)
    for i, pixels in enumerate(frames):
        yield frame(i, raw_image(pixels))


def translated(stub, frames, **cfg) -> list[np.ndarray]:
    return [decode_reply(r) for r in stub.Translate(requests(frames, **cfg))]


def live_replies(stub, frames, temporal=pb.TEMPORAL_STRONG) -> list[pb.TranslateResponse]:
    """A LIVE stream sent in lock step (the next frame only after the reply to the one
    before), so that LIVE mode drops none."""
    import queue

    replied: queue.Queue = queue.Queue()

    def lock_step():
        yield config(mode=pb.LIVE, temporal=temporal)
        for i, pixels in enumerate(frames):
            yield frame(i, raw_image(pixels))
            replied.get(timeout=30)

    replies = []
    for reply in stub.Translate(lock_step()):
        replies.append(reply)
        replied.put(None)
    return replies


def offline(backend, frames, level: str) -> list[np.ndarray]:
    outputs = backend.infer(np.stack(frames))
    smoother = TemporalFilter(temporal_settings(level))
    return [smoother(src, out) for src, out in zip(frames, outputs)]


def test_filtered_stream_equals_the_filter_run_in_order_over_the_backend(stub, tiny_backend):
    frames = panning_frames(10)
    got = translated(stub, frames, temporal=pb.TEMPORAL_STRONG)
    want = offline(tiny_backend, frames, "strong")
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    plain = tiny_backend.infer(np.stack(frames))
    assert np.array_equal(got[0], plain[0])                  # nothing before the first frame
    assert not all(np.array_equal(a, b) for a, b in zip(got, plain))   # the filter did act


def test_the_filter_follows_the_camera_frame_not_the_engines_input(stub, tiny_engines_root):
    """With an input transform (Canny edges) the flow comes from the frame itself."""
    from pix2pix_stream.engines.runtime.registry import load_backend

    frames = panning_frames(6)
    got = translated(stub, frames, model="tiny-canny", temporal=pb.TEMPORAL_STRONG)
    with load_backend(tiny_engines_root / "tiny-canny", "onnxruntime", threads=1) as backend:
        edges = np.stack([backend.metadata.transform(f) for f in frames])
        outputs = backend.infer(edges)
    smoother = TemporalFilter(temporal_settings("strong"))
    want = [smoother(src, out) for src, out in zip(frames, outputs)]
    assert all(np.array_equal(a, b) for a, b in zip(got, want))




def test_same_clip_gives_the_same_bytes_with_and_without_the_filter(stub):
    frames = panning_frames(8)
    for level in (pb.TEMPORAL_OFF, pb.TEMPORAL_LIGHT, pb.TEMPORAL_STRONG):
        first = [r.image.SerializeToString() for r in stub.Translate(requests(frames, temporal=level))]
        again = [r.image.SerializeToString() for r in stub.Translate(requests(frames, temporal=level))]
        assert first == again


def test_concurrent_streams_do_not_share_filter_state(server, stub):
    clips = [panning_frames(8, seed=s) for s in (1, 2, 3)]
    alone = [translated(stub, clip, temporal=pb.TEMPORAL_STRONG) for clip in clips]
    together: list = [None] * len(clips)

    def run(i):
        channel, own = channel_stub(server.port)
        with channel:
            together[i] = translated(own, clips[i], temporal=pb.TEMPORAL_STRONG)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clips))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for solo, mixed in zip(alone, together):
        assert all(np.array_equal(a, b) for a, b in zip(solo, mixed))


def test_server_default_applies_unless_the_stream_chooses(make_server, tiny_backend):
    running = make_server(temporal="strong")
    frames = panning_frames(6)
    channel, stub = channel_stub(running.port)
    with channel:
        default = translated(stub, frames)
        off = translated(stub, frames, temporal=pb.TEMPORAL_OFF)
    assert all(np.array_equal(a, b) for a, b in zip(default, offline(tiny_backend, frames, "strong")))
    assert all(np.array_equal(a, b) for a, b in zip(off, tiny_backend.infer(np.stack(frames))))


def test_an_unknown_filter_value_is_invalid_argument(stub):
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Translate(requests(panning_frames(1), temporal=42)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "temporal" in info.value.details()


def test_video_job_filter_is_deterministic_and_changes_the_output(stub, tmp_path):
    data = make_clip(tmp_path / "in.mp4", frames=10, width=128, height=128, audio=False).read_bytes()
    off = translate_video(stub, data, temporal=pb.TEMPORAL_OFF)
    strong = translate_video(stub, data, temporal=pb.TEMPORAL_STRONG)
    again = translate_video(stub, data, temporal=pb.TEMPORAL_STRONG)
    assert off.code == strong.code == grpc.StatusCode.OK
    assert strong.done.frames == 10
    assert strong.output == again.output
    assert strong.output != off.output


def test_turns_filter_in_reservation_order_whatever_runs_first():
    """Frames of a stream finish translating in any order; the filter must still see them in
    the order they arrived, and a frame that failed (released, never applied) must not block."""
    import asyncio
    import concurrent.futures

    from pix2pix_stream.server.temporal_filter import OrderedFilter

    frames = panning_frames(5)
    outputs = [np.ascontiguousarray(f[:, ::-1]) for f in frames]   # any per-frame "translation"

    async def run():
        ordered = OrderedFilter("strong")
        turns = [ordered.reserve() for _ in frames]
        turns[2].release()                                          # frame 2 failed
        kept = [i for i in range(len(frames)) if i != 2]
        pool = concurrent.futures.ThreadPoolExecutor(2)

        async def translate(i):
            turns[i].start(frames[i], pool)
            return await turns[i].apply(outputs[i])

        tasks = {i: asyncio.create_task(translate(i)) for i in reversed(kept)}  # last-first
        return {i: await asyncio.wait_for(task, 10) for i, task in tasks.items()}

    got = asyncio.run(run())
    smoother = TemporalFilter(temporal_settings("strong"))
    for i in (0, 1, 3, 4):
        assert np.array_equal(got[i], smoother(frames[i], outputs[i]))


@pytest.mark.parametrize("cpus, where", [(1, "inline"), (4, "worker")])
def test_a_live_stream_runs_the_filter_where_the_cores_allow_with_the_same_result(
        stub, tiny_backend, monkeypatch, cpus, where):
    """LIVE on a CPU backend (the test server's has 1 thread): when its threads fill the
    cores, the estimate and the warp run inline before the model (a worker beside the model
    would slow its threads); when it leaves a core, on a worker while the frame is in the
    model. Either way the replies are the same filter's."""
    from pix2pix_stream.server import cpus as server_cpus
    from pix2pix_stream.server.temporal_filter import FilterTurn

    def refused(self, *args):
        raise AssertionError(f"a LIVE frame's filter did not run {where}")

    monkeypatch.setattr(server_cpus, "usable_cpus", lambda: cpus)
    monkeypatch.setattr(FilterTurn, "start" if where == "inline" else "start_inline", refused)
    frames = panning_frames(6)
    got = []
    for reply in live_replies(stub, frames):
        assert not reply.HasField("error"), reply.error.message
        got.append(decode_reply(reply))
    want = offline(tiny_backend, frames, "strong")
    assert len(got) == len(frames)
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


def test_an_inline_turn_waits_for_the_frame_before_to_be_blended():
    import asyncio

    from pix2pix_stream.server.temporal_filter import OrderedFilter

    frames = panning_frames(3)

    async def run():
        ordered = OrderedFilter("strong")
        first, second = ordered.reserve(), ordered.reserve()
        assert first.start_inline(frames[0])
        assert not second.start_inline(frames[1])   # frame 0 not blended yet: nothing done
        out0 = await first.apply(frames[0])
        assert second.start_inline(frames[1])
        return out0, await second.apply(frames[1])

    got = asyncio.run(run())
    smoother = TemporalFilter(temporal_settings("strong"))
    assert all(np.array_equal(g, smoother(f, f)) for g, f in zip(got, frames[:2]))


@pytest.mark.parametrize("cpus", [1, 4], ids=["inline", "worker"])
def test_a_filter_failure_answers_the_frame_and_frees_its_batch_slot(server, stub, monkeypatch,
                                                                      cpus):
    """The estimate raising, inline (before the frame reached the model) or on a worker beside
    the model: that frame gets an error reply, its reserved batch slot is given back (else the
    batcher would keep waiting for it), and the next frames are translated."""
    from pix2pix_stream.media.errors import TransformError
    from pix2pix_stream.media.temporal_filter import TemporalFilter
    from pix2pix_stream.server import cpus as server_cpus

    monkeypatch.setattr(server_cpus, "usable_cpus", lambda: cpus)
    original = TemporalFilter.estimate
    calls = []

    def fails_once(self, source):
        calls.append(1)
        if len(calls) == 2:
            raise TransformError("estimate broke")
        return original(self, source)

    monkeypatch.setattr(TemporalFilter, "estimate", fails_once)
    replies = live_replies(stub, panning_frames(4))
    assert [r.HasField("error") for r in replies] == [False, True, False, False]
    assert "estimate broke" in replies[1].error.message
    assert server._runtime.models.get("tiny").batcher._coming == 0
