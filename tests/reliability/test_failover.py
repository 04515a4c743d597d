"""Point 4: with two replicas, a frame stream or a local-decode video whose server drains or
vanishes continues on the other one from the first unanswered frame, with the same output as
an uninterrupted run; a server-side video job is retried elsewhere; a drain whose grace runs
out mid-video ends the call UNAVAILABLE and logs the call's close line."""
from __future__ import annotations

import logging
import threading

import grpc
import numpy as np
import pytest

from pix2pix_stream.client.errors import ServerUnavailableError
from pix2pix_stream.client.failover import ReplayableRequests
from pix2pix_stream.client.sync_client import TranslatorClient
from pix2pix_stream.media.synthetic import drawn_frame
from tests.reliability.clips import faststart_mp4
from tests.server.helpers import channel_stub, metric, scrape, stall_inference
from tests.server.video_calls import translate_video

FRAMES = 40


def frames(n: int = FRAMES):
    return [drawn_frame(i, 96, 80) for i in range(n)]


def serving(servers, method: str = "Translate"):
    """The server with an open call of ``method``."""
    for server in servers:
        if metric(scrape(server.metrics_port), "pix2pix_active_streams", method=method) >= 1:
            return server
    return None


def stop_serving_one_at(servers, grace_s: float, method: str = "Translate"):
    """A callback for the n-th output that stops whichever replica holds the call."""
    stopped = []

    def stop() -> None:
        server = serving(servers, method)
        assert server is not None
        stopped.append(server)
        threading.Thread(target=server.stop, args=(grace_s,), daemon=True).start()

    return stop, stopped


@pytest.fixture
def replicas(make_server):
    return [make_server(max_batch=1), make_server(max_batch=1)]


def client_for(servers, **options) -> TranslatorClient:
    return TranslatorClient([f"127.0.0.1:{s.port}" for s in servers], **options)


@pytest.mark.parametrize("grace_s", [2.0, 0.0], ids=["drain", "abrupt"])
def test_a_frame_stream_resumes_on_the_other_replica(replicas, grace_s):
    with client_for(replicas[:1]) as alone:
        expected = list(alone.translate_frames(frames(), model="tiny"))
    stop, stopped = stop_serving_one_at(replicas, grace_s)
    got = []
    with client_for(replicas) as client:
        for image in client.translate_frames(frames(), model="tiny"):
            got.append(image)
            if len(got) == 10:
                stop()
    assert len(stopped) == 1 and len(got) == FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_a_local_decode_video_resumes_with_the_same_bytes(replicas, tmp_path, monkeypatch):
    """The encoder gets the same pictures at the same timestamps, and the file the same audio,
    as from an uninterrupted run, so the file is the same bytes."""
    import av

    from pix2pix_stream.media.video_encode import VideoEncoder

    encoded: list[tuple[int, bytes]] = []
    write = VideoEncoder.write

    def recording(self, picture, pts, original=None):
        encoded.append((pts, np.ascontiguousarray(picture).tobytes()))
        return write(self, picture, pts, original)

    monkeypatch.setattr(VideoEncoder, "write", recording)

    def audio(path):
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(audio=0) if p.size]

    src = faststart_mp4(tmp_path / "in.mp4", frames=60, fps=25, audio=True)
    with client_for(replicas[:1]) as alone:
        alone.translate_video(src, tmp_path / "expected.mp4", model="tiny")
    expected, encoded[:] = list(encoded), []
    stop, stopped = stop_serving_one_at(replicas, 1.0)
    with client_for(replicas) as client:
        result = client.translate_video(src, tmp_path / "out.mp4", model="tiny",
                                        progress=lambda done, total: done == 12 and stop())
    assert stopped and result.complete and result.frames == 60
    assert len(encoded) == len(expected) == 60
    assert encoded == expected
    assert audio(tmp_path / "out.mp4") == audio(tmp_path / "expected.mp4")
    assert (tmp_path / "out.mp4").read_bytes() == (tmp_path / "expected.mp4").read_bytes()


def test_a_server_side_video_job_is_retried_elsewhere(replicas, tmp_path):
    src = faststart_mp4(tmp_path / "in.mp4", frames=60, fps=25, audio=True)
    for server in replicas:
        stall_inference(server, "tiny", seconds=0.05).set()
    stop, stopped = stop_serving_one_at(replicas, 0.5, method="TranslateVideo")
    with client_for(replicas) as client:
        result = client.translate_video(src, tmp_path / "out.mp4", model="tiny",
                                        server_decode=True,
                                        progress=lambda done, total: done >= 5 and not stopped
                                        and stop())
    assert stopped and result.complete and result.frames == 60


def test_retries_are_bounded(make_server, tmp_path):
    server = make_server()
    port = server.port
    server.stop(0)
    with TranslatorClient(f"127.0.0.1:{port}", connect_timeout_s=0.5, max_failovers=2) as client:
        with pytest.raises(ServerUnavailableError):
            client.list_models()


def test_a_drain_that_runs_out_mid_video_ends_unavailable_and_logs(make_server, tmp_path,
                                                                   caplog):
    server = make_server(max_batch=1)
    stall_inference(server, "tiny", seconds=0.2).set()
    data = faststart_mp4(tmp_path / "in.mp4", frames=60, fps=25, audio=False).read_bytes()
    channel, stub = channel_stub(server.port)
    result = {}

    def call():
        result["video"] = translate_video(stub, data)

    with caplog.at_level(logging.INFO, logger="pix2pix.server"), channel:
        thread = threading.Thread(target=call)
        thread.start()
        while serving([server], "TranslateVideo") is None:
            thread.join(0.05)
        server.stop(1.0)
        thread.join(30)
    video = result["video"]
    assert video.code == grpc.StatusCode.UNAVAILABLE, video.details
    assert "retry the whole job on another server" in video.details
    closed = [r.getMessage() for r in caplog.records if "TranslateVideo #" in r.getMessage()
              and "closed" in r.getMessage()]
    assert closed and "status=UNAVAILABLE" in closed[-1]


def test_replayable_requests_resend_what_was_not_answered():
    source = ReplayableRequests(frames(6))
    first = source.requests(config=None)
    next(first)  # the config
    sent = [next(first).frame.sequence for _ in range(4)]
    source.answered(1)
    again = source.requests(config=None)
    next(again)
    assert sent == [0, 1, 2, 3]
    assert [r.frame.sequence for r in again] == [2, 3, 4, 5]


def test_a_drain_that_runs_out_mid_stream_ends_unavailable_and_the_stream_resumes(replicas):
    slow = replicas[0]
    stall_inference(slow, "tiny", seconds=1.5).set()
    with client_for(replicas[1:]) as alone:
        expected = list(alone.translate_frames(frames(12), model="tiny"))
    got = []
    with client_for(replicas) as client:
        for image in client.translate_frames(frames(12), model="tiny"):
            got.append(image)
            if len(got) == 1 and serving([slow]) is not None:
                threading.Thread(target=slow.stop, args=(0.6,), daemon=True).start()
    assert len(got) == 12 and all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_a_stream_out_of_grace_ends_unavailable_with_its_close_line(make_server, caplog):
    server = make_server(max_batch=1, inflight_per_stream=4)
    stall_inference(server, "tiny", seconds=1.0).set()
    channel, stub = channel_stub(server.port)
    codes = []

    def call():
        from tests.server.helpers import raw_requests
        try:
            list(stub.Translate(raw_requests(8), timeout=30))
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as exc:
            codes.append((exc.code(), exc.details()))

    with caplog.at_level(logging.INFO, logger="pix2pix.server"), channel:
        thread = threading.Thread(target=call)
        thread.start()
        while metric(scrape(server.metrics_port), "pix2pix_frames_in_total", model="tiny") < 4:
            thread.join(0.05)  # the window is full: 4 frames of 1 s each, more than the grace
        server.stop(0.8)
        thread.join(30)
    code, details = codes[0]
    assert code == grpc.StatusCode.UNAVAILABLE and "could not answer every frame" in details
    closed = [r.getMessage() for r in caplog.records if "Translate #" in r.getMessage()
              and "closed" in r.getMessage()]
    assert closed and "status=UNAVAILABLE" in closed[-1]


@pytest.mark.parametrize("grace_s", [2.0, 0.0], ids=["drain", "abrupt"])
def test_the_asyncio_client_resumes_too(replicas, grace_s):
    import asyncio

    from pix2pix_stream.client.async_client import AsyncTranslatorClient

    with client_for(replicas[:1]) as alone:
        expected = list(alone.translate_frames(frames(), model="tiny"))
    stop, stopped = stop_serving_one_at(replicas, grace_s)

    async def run():
        got = []
        async with AsyncTranslatorClient([f"127.0.0.1:{s.port}" for s in replicas]) as client:
            async for image in client.translate_frames(frames(), model="tiny"):
                got.append(image)
                if len(got) == 10:
                    await asyncio.to_thread(stop)
        return got

    got = asyncio.run(run())
    assert len(stopped) == 1 and len(got) == FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_the_asyncio_client_sends_a_server_side_job_elsewhere(replicas, tmp_path):
    import asyncio

    from pix2pix_stream.client.async_client import AsyncTranslatorClient

    src = faststart_mp4(tmp_path / "in.mp4", frames=60, fps=25, audio=False)
    for server in replicas:
        stall_inference(server, "tiny", seconds=0.05).set()
    stop, stopped = stop_serving_one_at(replicas, 0.5, method="TranslateVideo")

    async def run():
        async with AsyncTranslatorClient([f"127.0.0.1:{s.port}" for s in replicas]) as client:
            return await client.translate_video(
                src, tmp_path / "out.mp4", model="tiny", server_decode=True,
                progress=lambda done, total: done >= 5 and not stopped and stop())

    result = asyncio.run(run())
    assert stopped and result.complete and result.frames == 60
