"""ListModels, health, reflection, metrics, cancellation and graceful stop of a real server."""
from __future__ import annotations

import json
import logging
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.media.synthetic import make_clip
from tests.server.helpers import (channel_stub, config, drawn_frames, frame, held_open_requests,
                                  metric, raw_image, raw_requests, scrape,
                                  stall_inference)
from tests.server.video_calls import upload_requests

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_list_models_reports_the_loaded_engines(stub):
    models = {m.name: m for m in stub.ListModels(pb.ListModelsRequest()).models}
    assert sorted(models) == ["tiny", "tiny-canny"]
    tiny, canny = models["tiny"], models["tiny-canny"]
    assert (tiny.input_width, tiny.input_height, tiny.backend) == (128, 128, "onnxruntime")
    assert tiny.input_transform == "none" and tiny.max_batch == 8
    assert canny.input_transform == "canny"
    assert json.loads(canny.input_transform_params) == {"low": 50, "high": 150}
    assert json.loads(tiny.metadata_json)["name"] == "tiny"
    # geometry: any multiple of 128 from 128x128 to 3840x2176, crop size 128, the default policy
    assert (tiny.size_multiple, tiny.min_width, tiny.min_height, tiny.max_width,
            tiny.max_height, tiny.crop_size, tiny.scale) == (128, 128, 128, 3840, 2176, 128,
                                                             "engine")


def test_health_is_serving_overall_per_service_and_per_model(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ["", "pix2pix.v1.Translator", "tiny", "tiny-canny"]:
            assert health.Check(health_pb2.HealthCheckRequest(service=name)).status == SERVING
        with pytest.raises(grpc.RpcError) as info:
            health.Check(health_pb2.HealthCheckRequest(service="no-such-model"))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services_and_describes_the_api(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(
                        file_containing_symbol="pix2pix.v1.Translator")]
        listed, described = list(reflection.ServerReflectionInfo(iter(requests)))
    names = {s.name for s in listed.list_services_response.service}
    assert {"pix2pix.v1.Translator", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= names
    assert described.file_descriptor_response.file_descriptor_proto


def test_metrics_endpoint_counts_frames_and_streams(make_server):
    server = make_server()
    channel, stub = channel_stub(server.port)
    list(stub.Translate(raw_requests(5)))
    channel.close()
    text = scrape(server.metrics_port)
    assert metric(text, "pix2pix_frames_in_total", model="tiny") == 5
    assert metric(text, "pix2pix_frames_out_total", model="tiny") == 5
    assert metric(text, "pix2pix_inference_seconds_count", model="tiny") >= 1
    assert metric(text, "pix2pix_queue_wait_seconds_count", model="tiny") == 5
    assert wait_for(lambda: metric(scrape(server.metrics_port), "pix2pix_active_streams",
                                   method="Translate") == 0)  # the call's bookkeeping ends last


def test_a_cancelled_frame_stream_frees_its_slot_at_once(make_server, caplog):
    caplog.set_level(logging.INFO, logger="pix2pix.server")
    server = make_server(max_streams=1)
    channel, stub = channel_stub(server.port)
    endless = threading.Event()

    def requests():
        yield config()
        for i, pixels in enumerate(drawn_frames(1000)):
            if endless.is_set():
                return
            yield frame(i, raw_image(pixels))

    call = stub.Translate(requests())
    for _ in range(3):
        next(call)
    assert metric(scrape(server.metrics_port), "pix2pix_active_streams", method="Translate") == 1
    call.cancel()
    endless.set()
    assert wait_for(lambda: metric(scrape(server.metrics_port), "pix2pix_active_streams",
                                   method="Translate") == 0)
    assert len(list(stub.Translate(raw_requests(2)))) == 2  # the only slot is free again
    channel.close()
    assert any("status=CANCELLED" in r.getMessage() for r in caplog.records)


def test_a_cancelled_video_job_removes_its_files(make_server, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    server = make_server(video_tmp_dir=spool)
    channel, stub = channel_stub(server.port)
    data = make_clip(tmp_path / "in.mkv", frames=40, audio=False).read_bytes()
    hold = threading.Event()

    def slow_upload():  # half the file, then nothing until the test lets go
        requests = upload_requests(data, chunk_size=2048)
        for i, request in enumerate(requests):
            if i * 2048 > len(data) // 2:
                hold.wait(30)
                return
            yield request

    call = stub.TranslateVideo(slow_upload())
    assert next(call).WhichOneof("msg") == "progress"  # decoding is under way
    assert any(spool.iterdir())
    call.cancel()
    assert wait_for(lambda: not any(spool.iterdir())), list(spool.iterdir())
    hold.set()
    channel.close()


def test_stop_turns_health_not_serving_and_drains_open_streams(make_server):
    server = make_server(grace_s=5)
    channel, stub = channel_stub(server.port)
    health = health_pb2_grpc.HealthStub(channel)
    watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
    assert next(watch).status == SERVING
    release = threading.Event()
    call = stub.Translate(held_open_requests(3, release))
    got = [next(call).sequence for _ in range(3)]
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    assert next(watch).status == NOT_SERVING
    watch.cancel()  # an open Watch would hold the drain for the whole grace period
    with pytest.raises(grpc.RpcError) as info:  # ends once every frame it read is answered
        list(call)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in info.value.details()
    assert got == [0, 1, 2]
    stopper.join(10)
    assert not stopper.is_alive() and server.wait(0)
    release.set()
    channel.close()


def test_a_drain_answers_the_frames_in_flight_and_refuses_new_calls(make_server):
    """Stop while frames are read but not yet translated (inference held up): each of them is
    answered, in order, before the stream ends UNAVAILABLE; a call opened meanwhile is refused."""
    server = make_server(grace_s=15, inflight_per_stream=4)
    stall = stall_inference(server, "tiny", seconds=0.4)
    channel, stub = channel_stub(server.port)
    release = threading.Event()
    call = stub.Translate(held_open_requests(12, release))
    got = [next(call).sequence]
    stall.set()

    def in_flight() -> float:
        text = scrape(server.metrics_port)
        return (metric(text, "pix2pix_frames_in_total", model="tiny")
                - metric(text, "pix2pix_frames_out_total", model="tiny"))

    assert wait_for(lambda: in_flight() >= 3), "frames never queued up behind the stall"
    read_at_stop = metric(scrape(server.metrics_port), "pix2pix_frames_in_total", model="tiny")
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    assert wait_for(lambda: server._runtime.draining.is_set(), timeout=5)
    time.sleep(0.2)  # a late caller: the service itself refuses it, gRPC has not closed the port
    with pytest.raises(grpc.RpcError) as refused:
        list(stub.Translate(raw_requests(1)))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in refused.value.details()
    with pytest.raises(grpc.RpcError) as ended:
        for reply in call:
            got.append(reply.sequence)
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert got == list(range(len(got))) and len(got) >= read_at_stop
    assert len(got) < 12  # the drain stopped reading: frames never read are not waited for
    stopper.join(20)
    assert not stopper.is_alive()
    release.set()
    channel.close()


def test_a_server_runs_opencv_on_one_thread_unless_told(make_server, monkeypatch):
    """OpenCV's own pool competes with ONNX Runtime's threads (server/app.py); an operator's
    OPENCV_FOR_THREADS_NUM still decides."""
    import cv2

    before = cv2.getNumThreads()
    try:
        monkeypatch.delenv("OPENCV_FOR_THREADS_NUM", raising=False)
        cv2.setNumThreads(2)
        make_server()
        assert cv2.getNumThreads() == 1
        monkeypatch.setenv("OPENCV_FOR_THREADS_NUM", "2")
        cv2.setNumThreads(2)
        make_server()
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)
