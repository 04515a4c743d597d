"""TranslateVideo end to end: clips encoded here with PyAV and the real clips of ../shared/data."""
from __future__ import annotations

import io
import logging
from pathlib import Path

import av
import grpc
import numpy as np
import pytest

from pix2pix_stream.server import images
from pix2pix_stream.media.synthetic import make_clip, probe
from tests.server.video_calls import translate_video
from tests.server.helpers import reference_translation


def remux(src: Path, dst: Path, **options) -> Path:
    """Copies src's streams into dst (e.g. movflags=faststart puts the MP4 index first)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options=options) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return dst


def same_timing(a: dict, b: dict) -> bool:
    return a["frames"] == b["frames"] and a["fps"] == pytest.approx(b["fps"], rel=1e-3) \
        and a["duration"] == pytest.approx(b["duration"], abs=0.05)


def luma(rgb: np.ndarray) -> np.ndarray:
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.reformat(format="yuv420p").to_ndarray()[: rgb.shape[0]]


def test_clip_keeps_frame_count_rate_duration_and_audio(stub, tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=12, width=64, height=48, fps=10, audio=True)
    result = translate_video(stub, clip.read_bytes(), chunk_size=4096)
    assert result.code == grpc.StatusCode.OK, result.details
    out = probe(result.save(tmp_path / "out.mp4"))
    assert same_timing(out, probe(clip)) and out["has_audio"]
    assert (out["width"], out["height"]) == (64, 48)
    assert result.progress[-1] == (12, 12)
    assert result.done.frames == 12 and result.done.has_audio and result.done.codec == "libx264"
    assert result.done.duration_s == pytest.approx(1.2, abs=0.05)


def test_frames_are_the_engine_output_in_order_with_the_input_timestamps(stub, tmp_path,
                                                                         tiny_backend):
    clip = make_clip(tmp_path / "in.mkv", frames=8, width=64, height=48, fps=12, audio=False)
    result = translate_video(stub, clip.read_bytes(), codec="ffv1", container="matroska")
    assert result.code == grpc.StatusCode.OK, result.details
    out_path = result.save(tmp_path / "out.mkv")
    with av.open(str(clip)) as inp, av.open(str(out_path)) as out:
        sources = [(f.pts * f.time_base, f.to_ndarray(format="rgb24")) for f in inp.decode(video=0)]
        outputs = [(f.pts * f.time_base, f.to_ndarray(format="yuv420p")[:48])
                   for f in out.decode(video=0)]
    assert [t for t, _ in outputs] == [t for t, _ in sources]
    for (_, source), (_, y_plane) in zip(sources, outputs):  # ffv1 is lossless
        # engine scale: 64x48 -> 171x128, padded to 256x128
        expected = reference_translation(tiny_backend, source, (171, 128), (256, 128))
        assert np.array_equal(y_plane, luma(expected))
    assert not probe(out_path)["has_audio"]


def test_side_by_side_and_output_size(stub, tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=5, width=64, height=48, audio=False)
    result = translate_video(stub, clip.read_bytes(), side_by_side=True, output_width=80,
                             output_height=60)
    assert result.code == grpc.StatusCode.OK, result.details
    out = probe(result.save(tmp_path / "out.mp4"))
    assert (out["width"], out["height"], out["frames"]) == (160, 60, 5)


def test_codec_and_container_are_configurable_and_audio_follows(stub, tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=10, fps=10, audio=True)
    result = translate_video(stub, clip.read_bytes(), codec="libvpx-vp9", container="webm",
                             bit_rate=200_000)
    assert result.code == grpc.StatusCode.OK, result.details
    out_path = result.save(tmp_path / "out.webm")
    out = probe(out_path)
    assert out["frames"] == 10 and out["has_audio"]  # AAC cannot go into WebM: re-encoded
    with av.open(str(out_path)) as container:
        assert container.streams.video[0].codec_context.name == "vp9"


def audio_packets(path: Path) -> tuple[str, list[bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return stream.codec_context.name, [bytes(p) for p in container.demux(stream) if p.size]


def test_audio_is_copied_packet_for_packet_into_a_container_that_holds_it(stub, tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=20, fps=10, audio=True)
    result = translate_video(stub, clip.read_bytes())
    assert result.code == grpc.StatusCode.OK, result.details
    assert audio_packets(result.save(tmp_path / "out.mp4")) == audio_packets(clip)


def test_the_bit_rate_setting_reaches_the_encoder(stub, tmp_path):
    """Noise frames make the encoder use every bit it is given."""
    clip = make_clip(tmp_path / "in.mp4", frames=20, width=128, height=128, fps=10,
                     audio=False)
    sizes = {}
    for bit_rate in (100_000, 2_000_000):
        result = translate_video(stub, clip.read_bytes(), bit_rate=bit_rate)
        assert result.code == grpc.StatusCode.OK, result.details
        sizes[bit_rate] = len(result.output)
        seconds = probe(result.save(tmp_path / f"out{bit_rate}.mp4"))["duration"]
        assert sizes[bit_rate] * 8 / seconds < bit_rate * 2.5  # near what was asked, not above
    assert sizes[2_000_000] > 3 * sizes[100_000]


@pytest.mark.parametrize("name", ["realshort_240p.mp4", "bigbuckbunny_720p.mp4"])
def test_real_clips_keep_their_timing_and_audio(stub, tmp_path, shared_data, name):
    clip = shared_data / "video" / name
    result = translate_video(stub, clip.read_bytes(), chunk_size=256 * 1024)
    assert result.code == grpc.StatusCode.OK, result.details
    out, source = probe(result.save(tmp_path / "out.mp4")), probe(clip)
    assert same_timing(out, source), (out, source)
    assert out["has_audio"] == source["has_audio"]
    assert (out["width"], out["height"]) == (source["width"], source["height"])


def test_a_faststart_mp4_decodes_while_it_uploads(stub, tmp_path):
    clip = remux(make_clip(tmp_path / "in.mp4", frames=10), tmp_path / "fast.mp4",
                 movflags="faststart")
    result = translate_video(stub, clip.read_bytes(), chunk_size=2048)
    assert result.code == grpc.StatusCode.OK, result.details
    assert same_timing(probe(result.save(tmp_path / "out.mp4")), probe(clip))


def decodable_frames(data: bytes) -> int:
    """How many frames FFmpeg gets out of ``data`` (decoded here, as the server does)."""
    frames = 0
    try:
        with av.open(io.BytesIO(data)) as container:
            video = container.streams.video[0]
            video.thread_type = "AUTO"
            for packet in container.demux(video):
                frames += len(packet.decode())
    except av.FFmpegError:
        pass  # what decoded before the error counts
    return frames


@pytest.mark.parametrize("suffix, codec, options, ffmpeg_says", [
    (".mkv", "libx264", {}, "File ended prematurely"),
    (".mp4", "libx264", {"movflags": "faststart"}, "partial file"),
    # The AVI demuxer logs a cut file only as a warning, and nothing at all as an error.
    (".avi", "mpeg4", {}, "Packet corrupt (stream = 0"),
])
@pytest.mark.parametrize("mark_last", [True, False], ids=["last", "half-closed"])
def test_a_truncated_upload_delivers_what_decoded_then_fails(stub, tmp_path, suffix, codec,
                                                             options, ffmpeg_says, mark_last):
    clip = make_clip(tmp_path / f"in{suffix}", frames=30, fps=10, audio=False, codec=codec)
    if options:
        clip = remux(clip, tmp_path / f"fast{suffix}", **options)
    data = clip.read_bytes()
    cut = data[: len(data) * 9 // 10]
    result = translate_video(stub, cut, mark_last=mark_last)
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "truncated or corrupt" in result.details
    assert "FFmpeg: " in result.details and ffmpeg_says in result.details, result.details
    delivered = probe(result.save(tmp_path / "partial.mp4"))
    assert delivered["frames"] == decodable_frames(cut) > 0  # every frame that decoded
    assert f"decoded {delivered['frames']} of" in result.details


@pytest.mark.parametrize("suffix, codec", [(".avi", "mpeg4"), (".webm", "libvpx"),
                                           (".webm", "libvpx-vp9")])
def test_avi_and_webm_uploads_keep_frame_count_and_rate(stub, tmp_path, suffix, codec):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    clip = make_clip(tmp_path / f"in{suffix}", frames=15, fps=12, audio=False, codec=codec)
    result = translate_video(stub, clip.read_bytes(), chunk_size=4096)
    assert result.code == grpc.StatusCode.OK, result.details
    out, source = probe(result.save(tmp_path / "out.mp4")), probe(clip)
    assert out["frames"] == source["frames"] == result.done.frames == 15
    assert out["fps"] == pytest.approx(12, rel=1e-3) and result.done.fps == pytest.approx(12)


@pytest.mark.parametrize("codec, container, size", [
    ("libx264", "mp4", (160, 120)),    # 4:2:0 H.264 needs even sizes: rounded down, logged
    ("ffv1", "matroska", (161, 121)),  # FFV1 takes the odd size as it is
])
def test_an_odd_sized_upload(stub, tmp_path, caplog, codec, container, size):
    clip = make_clip(tmp_path / "odd.avi", frames=6, width=161, height=121, fps=10,
                     audio=False, codec="mpeg4")
    with caplog.at_level(logging.INFO, logger="pix2pix.server"):
        result = translate_video(stub, clip.read_bytes(), codec=codec, container=container)
    assert result.code == grpc.StatusCode.OK, result.details
    out = probe(result.save(tmp_path / "out.bin"))
    assert (out["width"], out["height"]) == size == (result.done.width, result.done.height)
    assert out["frames"] == 6
    note = f"{codec} cannot encode 161x121 yuv420p: the output is scaled to 160x120"
    assert (note in caplog.text) == (size == (160, 120))


@pytest.mark.parametrize("make_data, reason", [
    (lambda clip: clip.read_bytes()[:-3000], "moov atom not found"),   # index at the end, cut
    (lambda clip: b"this is not a video" * 100, "Invalid data found when processing input"),
    (lambda clip: b"", "Invalid data found when processing input"),
])
def test_unreadable_uploads_carry_ffmpegs_reason(stub, tmp_path, make_data, reason):
    clip = make_clip(tmp_path / "in.mp4", frames=10)
    result = translate_video(stub, make_data(clip))
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in result.details and not result.output


def test_an_upload_without_video_is_refused(stub, tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        stream.layout = "mono"
        samples = np.zeros((1, 44100), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = 44100
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    result = translate_video(stub, path.read_bytes())
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "no video stream" in result.details


@pytest.mark.parametrize("config, code, message", [
    ({"codec": "no-such-codec"}, grpc.StatusCode.INVALID_ARGUMENT, "unknown video encoder"),
    ({"codec": "aac"}, grpc.StatusCode.INVALID_ARGUMENT, "not a video encoder"),
    ({"container": "nope"}, grpc.StatusCode.INVALID_ARGUMENT, "unknown output container"),
    ({"model": "nope"}, grpc.StatusCode.NOT_FOUND, "no model named 'nope'"),
    ({"output_width": 10}, grpc.StatusCode.INVALID_ARGUMENT, "output_width and output_height"),
])
def test_bad_video_configs(stub, tmp_path, config, code, message):
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    result = translate_video(stub, clip.read_bytes(), **config)
    assert result.code == code and message in result.details


def test_an_upload_over_the_limit_is_resource_exhausted(make_server, tmp_path):
    from tests.server.helpers import channel_stub

    server = make_server(max_video_bytes=10_000)
    clip = make_clip(tmp_path / "in.mp4", frames=30, width=128, height=96)
    assert clip.stat().st_size > 10_000
    channel, stub = channel_stub(server.port)
    result = translate_video(stub, clip.read_bytes(), chunk_size=4096)
    channel.close()
    assert result.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "10000 bytes" in result.details


def test_frames_over_the_pixel_limit_are_refused(make_server, tmp_path):
    from tests.server.helpers import channel_stub

    server = make_server(max_pixels=64 * 48 - 1)
    clip = make_clip(tmp_path / "in.mp4", frames=3, width=64, height=48, audio=False)
    channel, stub = channel_stub(server.port)
    result = translate_video(stub, clip.read_bytes())
    channel.close()
    assert result.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "64x48, more than the server's limit" in result.details
