"""Point 1: what a TranslateVideo job may produce is bounded (output bytes, output pixels x
frames, frames, wall time), impossible requests are refused before decoding, a disk reserve is
kept, and no status message shows a server path."""
from __future__ import annotations

import errno
import time

import grpc
import pytest

from pix2pix_stream.media.synthetic import make_clip
from pix2pix_stream.server.errors import describe, status_for
from pix2pix_stream.server.limits import JobLimits
from tests.server.helpers import channel_stub, metric, scrape, stall_inference
from tests.server.video_calls import translate_video


@pytest.fixture(scope="module")
def tiny_frames_mkv(tmp_path_factory):
    """400 frames of 16x16 in Matroska (no frame count in the header), a few KB."""
    return make_clip(tmp_path_factory.mktemp("clips") / "many.mkv", frames=400, width=16,
                     height=16, fps=25, audio=False).read_bytes()


@pytest.fixture(scope="module")
def clip_mp4(tmp_path_factory):
    """12 frames of 64x48 in MP4 (the header lists the frame count)."""
    return make_clip(tmp_path_factory.mktemp("clips") / "c.mp4", frames=12).read_bytes()


def spool(tmp_path):
    folder = tmp_path / "spool"
    folder.mkdir()
    return folder


def run(server, data, **config):
    channel, stub = channel_stub(server.port)
    with channel:
        return translate_video(stub, data, **config)


def test_the_tiny_upload_huge_raw_output_job_is_refused_up_front(make_server, tmp_path, clip_mp4):
    """The reproduction: a small clip asked back as raw 4096x2160 video. With the default
    4 GiB output limit, 12 frames fit (~160 MB) but the header-listed count decides up front
    for raw codecs, so lower the limit to what a small server would set."""
    folder = spool(tmp_path)
    server = make_server(video_tmp_dir=folder,
                         job_limits=JobLimits(max_output_bytes=100 * 1024 ** 2))
    started = time.monotonic()
    result = run(server, clip_mp4, codec="rawvideo", container="matroska",
                 output_width=4096, output_height=2160)
    assert result.code == grpc.StatusCode.RESOURCE_EXHAUSTED, result.details
    assert "rawvideo output of 12 frames of 4096x2160" in result.details
    assert not result.progress and not result.output  # nothing was decoded or encoded
    assert time.monotonic() - started < 10
    assert list(folder.iterdir()) == []
    assert metric(scrape(server.metrics_port), "pix2pix_streams_refused_total",
                  method="TranslateVideo", reason="job_limit") == 1


def test_output_bytes_stop_a_job_whose_frame_count_is_unknown(make_server, tmp_path,
                                                              tiny_frames_mkv):
    folder = spool(tmp_path)
    server = make_server(video_tmp_dir=folder,
                         job_limits=JobLimits(max_output_bytes=2 * 1024 ** 2))
    result = run(server, tiny_frames_mkv, codec="rawvideo", container="matroska",
                 output_width=1024, output_height=1024)
    assert result.code == grpc.StatusCode.RESOURCE_EXHAUSTED, result.details
    assert "output passed the server's limit of 2 MiB" in result.details
    assert not result.output  # a job ended by a limit sends nothing back
    assert list(folder.iterdir()) == []


def test_pixel_frames_are_refused_up_front(make_server, clip_mp4):
    server = make_server(job_limits=JobLimits(max_output_pixel_frames=64 * 48 * 10))
    result = run(server, clip_mp4)
    assert result.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "12 frames of 64x48" in result.details and not result.progress


def test_frame_count_up_front_and_while_running(make_server, clip_mp4, tiny_frames_mkv):
    server = make_server(job_limits=JobLimits(max_frames=5))
    listed = run(server, clip_mp4)
    assert listed.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "lists 12 frames, more than the server's limit of 5" in listed.details
    unlisted = run(server, tiny_frames_mkv, container="matroska")
    assert unlisted.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "limit of 5 frames" in unlisted.details


def test_wall_time(make_server, clip_mp4):
    server = make_server(job_limits=JobLimits(max_job_s=0.5), max_batch=1)
    stall_inference(server, "tiny", seconds=0.3).set()
    result = run(server, clip_mp4)
    assert result.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "ran longer than the server's limit of 0.5 s" in result.details


def test_the_disk_reserve_refuses_jobs_without_naming_paths(make_server, tmp_path, clip_mp4):
    folder = spool(tmp_path)
    server = make_server(video_tmp_dir=folder, job_limits=JobLimits(disk_reserve_bytes=10 ** 18))
    result = run(server, clip_mp4)
    assert result.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "low on disk space" in result.details and str(tmp_path) not in result.details
    assert metric(scrape(server.metrics_port), "pix2pix_streams_refused_total",
                  method="TranslateVideo", reason="disk_reserve") == 1


def test_an_unusable_spool_folder_shows_no_path(make_server, tmp_path, clip_mp4):
    server = make_server(video_tmp_dir=tmp_path / "gone" / "spool")
    result = run(server, clip_mp4)
    assert result.code == grpc.StatusCode.INTERNAL
    assert str(tmp_path) not in result.details and "/gone/" not in result.details


def test_a_full_disk_is_resource_exhausted_without_the_path():
    exc = OSError(errno.ENOSPC, "No space left on device", "/tmp/pix2pix-video-x/output.mkv")
    assert status_for(exc) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "/tmp" not in describe(exc) and "No space left on device" in describe(exc)
    wrapped = RuntimeError("[Errno 28] No space left on device: '/tmp/pix2pix-video-x/out.mkv'")
    assert "/tmp/" not in describe(wrapped)


def test_limits_refuse_nonsense_settings():
    from pix2pix_stream.server.errors import ConfigError

    for bad in (dict(max_output_bytes=0), dict(max_job_s=0), dict(disk_reserve_bytes=-1)):
        with pytest.raises(ConfigError):
            JobLimits(**bad)
