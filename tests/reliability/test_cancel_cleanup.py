"""Point 3: a cancelled video job stops its decoder, encoder and their threads and removes its
files: after 50 jobs cancelled mid-encoding, threads, fds and the spool folder are back at their
baseline."""
from __future__ import annotations

import threading
import time

import grpc
import pytest

from pix2pix_stream.media.synthetic import make_clip
from tests.reliability.resources import gc_paused, held, settle
from tests.server.helpers import channel_stub
from tests.server.video_calls import translate_video, upload_requests

JOBS = 50
AT_ONCE = 5


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "c.mp4", frames=60, width=128,
                     height=96, fps=25).read_bytes()


def cancel_once_encoding(stub, data: bytes) -> bool:
    """One call, cancelled at its first progress message (frames are being encoded); True
    when it was cancelled before finishing."""
    call = stub.TranslateVideo(upload_requests(data, chunk_size=4096))
    try:
        for reply in call:
            if reply.WhichOneof("msg") == "progress" and reply.progress.frames_done > 0:
                call.cancel()
                return True
            if reply.WhichOneof("msg") in ("chunk", "done"):
                return False
    except grpc.RpcError as exc:
        return exc.code() == grpc.StatusCode.CANCELLED
    return False


def test_cancelled_jobs_leave_nothing_behind(make_server, tmp_path, clip):
    spool = tmp_path / "spool"
    spool.mkdir()
    server = make_server(video_tmp_dir=spool, max_batch=2)
    channel, stub = channel_stub(server.port)
    with channel:
        # Warm up every lazily started thread (worker pool, gRPC's own) before the baseline.
        assert translate_video(stub, clip).done is not None
        cancel_once_encoding(stub, clip)
        baseline = held(spool)
        settle(baseline, spool, timeout_s=5)
        with gc_paused():
            baseline = held(spool)
            cancelled = []
            for _ in range(JOBS // AT_ONCE):
                run_together(lambda: cancelled.append(cancel_once_encoding(stub, clip)),
                             [()] * AT_ONCE)
            assert len(cancelled) == JOBS and sum(cancelled) >= JOBS * 0.8, cancelled
            assert settle(baseline, spool) == {}
        assert translate_video(stub, clip).done is not None  # still serving


def cancel_during_upload(stub, data: bytes) -> None:
    """A call cancelled while its upload is still arriving (the decoder waits for bytes)."""
    def slow_upload():
        yield from upload_requests(data[: len(data) // 2], chunk_size=2048, mark_last=False)
        time.sleep(5)

    cancel_after(stub.TranslateVideo(slow_upload()), 0.3)


def cancel_after(call, delay_s: float) -> None:
    """Reads ``call`` to its end, cancelling it after ``delay_s`` if it is still going."""
    timer = threading.Timer(delay_s, call.cancel)
    timer.start()
    try:
        for _ in call:
            pass
    except grpc.RpcError:
        pass
    timer.cancel()


def run_together(target, args_list) -> None:
    threads = [threading.Thread(target=target, args=args) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def test_failed_and_cut_uploads_leave_nothing_behind(make_server, tmp_path, clip):
    spool = tmp_path / "spool"
    spool.mkdir()
    server = make_server(video_tmp_dir=spool)
    channel, stub = channel_stub(server.port)
    kinds = [lambda: translate_video(stub, clip[: len(clip) * 2 // 3]),       # cut: INVALID_ARGUMENT
             lambda: translate_video(stub, bytes(range(256)) * 200),         # not a video
             lambda: cancel_during_upload(stub, clip),
             lambda: translate_video(stub, scrambled_middle(clip))]           # fails mid-decode
    with channel:
        assert translate_video(stub, clip).done is not None
        for kind in kinds:
            kind()
        with gc_paused():
            baseline = held(spool)
            for _ in range(6):
                for kind in kinds:
                    kind()
            assert settle(baseline, spool) == {}


def test_a_job_failing_mid_decode_releases_its_decoder_at_once(make_server, tmp_path, clip):
    """The decode error is re-raised as the job's error ``from None``; the one it replaced
    stays its ``__context__``, whose frames hold the decoder: closing the job must clear those
    too, or H.264's frame threads live until the garbage collector runs."""
    spool = tmp_path / "spool"
    spool.mkdir()
    server = make_server(video_tmp_dir=spool)
    channel, stub = channel_stub(server.port)
    with channel:
        assert translate_video(stub, clip).done is not None
        with gc_paused():
            baseline = held(spool)
            result = translate_video(stub, scrambled_middle(clip))
            assert result.code == grpc.StatusCode.INVALID_ARGUMENT
            assert "decoding stopped after frame" in result.details
            assert settle(baseline, spool, timeout_s=5) == {}


def test_a_disconnect_storm_leaves_nothing_behind(make_server, tmp_path, clip):
    """Calls cut at random moments on channels that are dropped right after."""
    import random

    spool = tmp_path / "spool"
    spool.mkdir()
    server = make_server(video_tmp_dir=spool)
    rng = random.Random(3)

    def one(delay_s: float) -> None:
        channel, stub = channel_stub(server.port)
        cancel_after(stub.TranslateVideo(upload_requests(clip, chunk_size=2048)), delay_s)
        channel.close()

    run_together(one, [(10.0,)] * 8)  # grows the server's thread pools to their size
    with gc_paused():
        baseline = held(spool)
        for _ in range(3):
            run_together(one, [(rng.uniform(0.01, 0.6),) for _ in range(8)])
        assert settle(baseline, spool) == {}


def scrambled_middle(data: bytes) -> bytes:
    """The clip with its middle third overwritten by seeded noise: it opens and its first
    frames decode, then H.264 fails."""
    import random

    noise = random.Random(1)
    scrambled = bytearray(data)
    for i in range(len(data) // 3, len(data) * 2 // 3, 7):
        scrambled[i] = noise.randrange(256)
    return bytes(scrambled)
