"""Point 3: a cancelled video job stops its decoder, encoder and their threads and removes its
files: after 50 jobs cancelled mid-encoding, threads, fds and the spool folder are back at their
baseline."""
from __future__ import annotations

import threading

import grpc
import pytest

from pix2pix_stream.media.synthetic import make_clip
from tests.reliability.resources import held, settle
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
        baseline = held(spool)
        cancelled = []
        for _ in range(JOBS // AT_ONCE):
            threads = [threading.Thread(target=lambda: cancelled.append(
                cancel_once_encoding(stub, clip))) for _ in range(AT_ONCE)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        assert len(cancelled) == JOBS and sum(cancelled) >= JOBS * 0.8, cancelled
        assert settle(baseline, spool) == {}
        assert translate_video(stub, clip).done is not None  # still serving
