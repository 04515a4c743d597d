"""TranslateVideo's early stop (VideoRequest.stop, what a client sends on Ctrl-C): the server
finishes the output with the frames translated so far and ends OK; CANCELLED when there were
none. A cut-off upload is then no error."""
from __future__ import annotations

import threading

import av
import grpc
import numpy as np
import pytest

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.media.synthetic import make_clip, probe
from tests.server.video_calls import collect, stopping_requests


def frame_interval(path) -> float:
    with av.open(str(path)) as container:
        times = sorted(float(f.time) for f in container.decode(video=0))
    return float(np.median(np.diff(times)))


def stop_after(frames: int, send: threading.Event):
    """A progress callback that asks for the stop once ``frames`` are done."""
    return lambda done: send.set() if done >= frames else None


def test_a_stop_after_the_upload_finishes_the_frames_done_so_far(stub, tmp_path):
    clip = make_clip(tmp_path / "long.mp4", frames=400, fps=30, audio=True)
    send = threading.Event()
    call = stub.TranslateVideo(stopping_requests(clip.read_bytes(), send))
    # The clip's first audio packet follows its 32nd video packet: stopping after 40 frames
    # means the decoder has met audio, however far ahead of the encoder it ran.
    result = collect(call, stop_after(40, send))
    assert result.code == grpc.StatusCode.OK, result.details
    out_path = result.save(tmp_path / "partial.mp4")
    out = probe(out_path)
    assert 40 <= result.done.frames < 400 and out["frames"] == result.done.frames
    assert result.progress[-1][0] == result.done.frames
    assert frame_interval(out_path) == pytest.approx(1 / 30, abs=1e-4)
    assert out["has_audio"]


def test_a_stop_during_the_upload_is_no_truncation_error(stub, tmp_path):
    clip = make_clip(tmp_path / "long.mkv", frames=300, fps=25, audio=False)
    data = clip.read_bytes()
    send = threading.Event()
    call = stub.TranslateVideo(stopping_requests(data, send, upload_bytes=len(data) // 2,
                                                 chunk_size=2048))
    result = collect(call, stop_after(1, send))
    assert result.code == grpc.StatusCode.OK, result.details
    out = probe(result.save(tmp_path / "partial.mp4"))
    assert 0 < out["frames"] == result.done.frames < 300


def test_a_stop_before_any_frame_is_cancelled_without_output(stub):
    requests = iter([pb.VideoRequest(config=pb.VideoConfig(model="tiny")),
                     pb.VideoRequest(stop=True)])
    result = collect(stub.TranslateVideo(requests))
    assert result.code == grpc.StatusCode.CANCELLED
    assert "before any frame was translated" in result.details
    assert not result.output and result.done is None
