"""pix2pix_stream.media.video_encode: encoder per container, audio copied or transcoded, sizes
the encoder takes, timestamps kept; real PyAV encodes read back with PyAV."""
from __future__ import annotations

import concurrent.futures
from fractions import Fraction

import av
import pytest

from pix2pix_stream.media.errors import VideoWriteError
from pix2pix_stream.media.synthetic import make_clip, probe
from pix2pix_stream.media.video_decode import VideoDecoder
from pix2pix_stream.media.video_encode import (VideoEncoder, check_container, check_video_encoder,
                                               encodable_size)


def transcode(src, dst, **options) -> VideoEncoder:
    """Decodes ``src`` and encodes every frame and its audio into ``dst``, as a job does."""
    with VideoDecoder(src, audio=True) as decoder:
        info = decoder.info
        encoder = VideoEncoder(dst, size=(info.width, info.height), rate=info.rate,
                               time_base=info.time_base, audio_source=decoder.audio, **options)
        with encoder:
            for frame in decoder.frames(on_audio=encoder.write_audio):
                encoder.write(frame.rgb, frame.pts, frame.rgb)
    return encoder


def streams(path) -> tuple[str, str | None]:
    with av.open(str(path)) as container:
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return container.streams.video[0].codec_context.name, audio


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def test_webm_gets_vp9_and_the_aac_is_transcoded_to_opus(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=10, fps=10)
    encoder = transcode(clip, tmp_path / "out.webm")
    assert encoder.description == ("video: libvpx-vp9 64x48; audio: aac -> opus "
                                   "(webm cannot hold aac)")
    assert streams(tmp_path / "out.webm") == ("vp9", "opus")
    out, src = probe(tmp_path / "out.webm"), probe(clip)
    assert out["frames"] == src["frames"] == 10 and out["has_audio"]
    assert out["fps"] == pytest.approx(10, rel=1e-3)


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_h264_containers_copy_the_aac_packet_for_packet(tmp_path, suffix):
    clip = make_clip(tmp_path / "in.mp4", frames=10, fps=10)
    encoder = transcode(clip, tmp_path / f"out{suffix}")
    assert encoder.description == "video: libx264 64x48; audio: aac copied"
    assert streams(tmp_path / f"out{suffix}") == ("h264", "aac")
    assert audio_packets(tmp_path / f"out{suffix}") == audio_packets(clip)


def test_a_named_codec_overrides_the_containers_choice_and_keeps_timestamps(tmp_path):
    clip = make_clip(tmp_path / "in.mkv", frames=8, fps=12, audio=False)
    encoder = transcode(clip, tmp_path / "out.mkv", codec="ffv1", side_by_side=True)
    assert encoder.description == "video: ffv1 128x48; audio: none"

    def times(path):
        with av.open(str(path)) as container:
            return [float(f.time) for f in container.decode(video=0)]

    assert streams(tmp_path / "out.mkv") == ("ffv1", None)
    assert times(tmp_path / "out.mkv") == times(clip)


def test_odd_sizes_are_rounded_only_for_encoders_that_refuse_them(tmp_path):
    assert encodable_size("libx264", "yuv420p", 161, 121) == (160, 120)
    assert encodable_size("ffv1", "yuv420p", 161, 121) == (161, 121)
    encoder = VideoEncoder(tmp_path / "odd.mp4", size=(161, 121), rate=10,
                           time_base=Fraction(1, 10))
    encoder.close()
    assert (encoder.width, encoder.height) == (160, 120)
    assert encoder.size_note == ("libx264 cannot encode 161x121 yuv420p: the output is scaled "
                                 "to 160x120")


def test_unknown_encoders_and_containers_are_refused_by_name(tmp_path):
    with pytest.raises(VideoWriteError, match="unknown video encoder 'nope'"):
        check_video_encoder("nope")
    with pytest.raises(VideoWriteError, match="'aac' is not a video encoder"):
        check_video_encoder("aac")
    with pytest.raises(VideoWriteError, match="unknown output container 'nope'"):
        check_container("nope")
    with pytest.raises(VideoWriteError, match="cannot set up libx264 in webm"):
        VideoEncoder(tmp_path / "x.webm", codec="libx264", size=(64, 48), rate=10,
                     time_base=Fraction(1, 10))


@pytest.mark.parametrize("name", ["out.mp4", "out.webm"])
def test_the_same_frames_encode_to_the_same_bytes(tmp_path, name):
    """Issue 12's "same clip in, same bytes out" at the encoder, with encodes running side by side
    as a server's jobs do. Without libx264's CPU-independent mode, its AVX-512 code made
    different files from one clip (in 10 of 10 runs of this test on an AVX-512 CPU); without
    bitexact containers, WebM files differed in their random track UIDs."""
    src = make_clip(tmp_path / "in.mp4", frames=40, width=160, height=120, fps=25, audio=False)
    outputs = set()
    for _ in range(3):  # the first encodes in a fresh process tend to agree; later ones did not
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda run: transcode(src, tmp_path / f"{run}-{name}"), range(8)))
        outputs |= {(tmp_path / f"{run}-{name}").read_bytes() for run in range(8)}
    assert len(outputs) == 1
