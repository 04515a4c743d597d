"""pix2pix_stream.media.video_decode: frames, timestamps, stream info and display rotation,
on clips encoded here with PyAV."""
from __future__ import annotations

import gc
import threading
import time

import av
import numpy as np
import pytest

from pix2pix_stream.media.errors import NoVideoStreamError, VideoOpenError
from pix2pix_stream.media.synthetic import make_clip
from pix2pix_stream.media.video_decode import VideoDecoder


def test_frames_come_with_their_timestamps_and_the_audio_packets(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=12, width=64, height=48, fps=10)
    with av.open(str(clip)) as container:
        expected = [(f.pts, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    audio = []
    with VideoDecoder(clip, audio=True) as decoder:
        info = decoder.info
        frames = list(decoder.frames(on_audio=audio.append))
        # (a packet's stream must not be touched once its container is closed: PyAV crashes)
        assert audio and all(p.stream is decoder.audio for p in audio)
    assert (info.width, info.height, info.rotation, info.frames) == (64, 48, 0, 12)
    assert info.rate == 10 and info.has_audio and info.duration_s == pytest.approx(1.2, abs=0.05)
    assert [f.pts for f in frames] == [pts for pts, _ in expected]
    assert all(np.array_equal(f.rgb, rgb) for f, (_, rgb) in zip(frames, expected))
    assert [f.index for f in frames] == list(range(12))
    assert {f.time_base for f in frames} == {info.time_base}


def test_closing_a_decoder_that_stopped_early_ends_its_codec_threads_at_once(tmp_path):
    """Stopping after the first frame leaves the demux generator suspended; close() must still
    free the codec context (and H.264's frame threads) without waiting for the garbage
    collector, which a server does not run between jobs."""
    clip = make_clip(tmp_path / "in.mp4", frames=30, width=128, height=96)
    before = _codec_threads()
    gc.collect()
    gc.disable()
    try:
        with VideoDecoder(clip, audio=True) as decoder:
            next(decoder.frames())
            assert _codec_threads() > before  # frame threads run: the check below means something
        del decoder  # as a caller's local goes when its function returns
        deadline = time.monotonic() + 5
        while _codec_threads() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _codec_threads() == before
    finally:
        gc.enable()


def _codec_threads() -> int:
    """FFmpeg's H.264 frame threads in this process (threading.enumerate() does not see them)."""
    import os

    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                names.append(comm.read().strip())
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return sum(name.startswith("av:h264") for name in names)


def test_audio_is_left_alone_unless_asked_for(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    met = []
    with VideoDecoder(clip) as decoder:
        assert decoder.info.has_audio and decoder.audio is None
        assert len(list(decoder.frames(on_audio=met.append))) == 4
    assert not met


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_a_clip_tagged_rotate_90_decodes_upright(tmp_path, suffix):
    """A phone's portrait clip: stored 64x48 with rotate=90 (turn 90 degrees clockwise)."""
    clip = make_clip(tmp_path / f"phone{suffix}", frames=3, width=64, height=48, audio=False,
                     rotate=90)
    with av.open(str(clip)) as container:
        stored = next(container.decode(video=0))
        assert stored.rotation == -90  # FFmpeg itself reads the tag back as a clockwise turn
        stored = stored.to_ndarray(format="rgb24")
    with VideoDecoder(clip) as decoder:
        info = decoder.info
        upright = next(decoder.frames()).rgb
    assert (info.width, info.height, info.rotation) == (48, 64, 270)
    assert decoder.coded_size == (64, 48)
    assert upright.shape == (64, 48, 3)
    assert np.array_equal(upright, np.rot90(stored, -1))
    # drawn_frame's red grows left to right: turned clockwise, it grows top to bottom.
    red = upright[:, :, 0].astype(int).mean(axis=1)
    assert red[-1] - red[0] > 150


def test_unreadable_inputs_raise_typed_errors(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(VideoOpenError, match="Invalid data") as info:
        VideoDecoder(junk)
    assert info.value.reason.startswith("Invalid data")
    with pytest.raises(VideoOpenError):
        VideoDecoder(tmp_path / "missing.mp4")
    tone = tmp_path / "tone.m4a"
    with av.open(str(tone), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="flt",
                                           layout="mono")
        frame.sample_rate = 44100
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(NoVideoStreamError):
        VideoDecoder(tone)
