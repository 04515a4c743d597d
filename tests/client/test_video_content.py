"""What a translated video file holds, frame by frame and packet by packet, on every public
surface (the pix2pix-client CLI, TranslatorClient, AsyncTranslatorClient) and both paths
(decoded here, the default, and --server-decode): each output frame is the engine's own
translation of the input frame shown at the same time, and every audio packet is the input's,
unchanged and at its time.

FFV1 is lossless, so the only change between the engine's RGB output and the decoded file is the
conversion into the encoder's pixel format; the expected frames go through that same conversion
(PyAV's), so frames must match exactly. The count/rate/duration checks of test_video.py cannot
see a frame written one place late or a dropped audio packet; these can."""
from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pix2pix_stream.client import AsyncTranslatorClient, TranslatorClient
from pix2pix_stream.client.cli import main as client_cli
from pix2pix_stream.media.synthetic import make_clip

WIDTH, HEIGHT = 64, 48
MATROSKA_TICK_S = 0.001  # Matroska stores times in milliseconds


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """2 s of drawn frames (each one distinct) with an AAC tone: about 90 audio packets."""
    return make_clip(tmp_path_factory.mktemp("content") / "in.mp4", frames=20, width=WIDTH,
                     height=HEIGHT, fps=10, audio=True)


@pytest.fixture(scope="module")
def expected(source, tiny_engine_dir) -> list[tuple[Fraction, np.ndarray]]:
    """(time, RGB) of the engine's translation of every input frame, computed here: the input
    brought to its compute size by the server's default policy (media.geometry, whose own tests
    check it against an independent reference), run alone, cropped and resized back."""
    from pix2pix_stream.engines.runtime.metadata import read_metadata
    from pix2pix_stream.engines.runtime.registry import load_backend
    from pix2pix_stream.media.geometry import plan_compute

    geometry = read_metadata(tiny_engine_dir).geometry
    plan = plan_compute(WIDTH, HEIGHT, "engine", geometry)
    with load_backend(tiny_engine_dir, "onnxruntime") as backend, av.open(str(source)) as clip:
        return [(frame.pts * frame.time_base,
                 plan.finish(backend.infer(plan.prepare(frame.to_ndarray(format="rgb24"))[None])[0],
                             (WIDTH, HEIGHT)))
                for frame in clip.decode(video=0)]


def translate_with_cli(address, src, dst, server_decode):
    extra = ["--server-decode"] if server_decode else []
    code = client_cli(["video", str(src), str(dst), "--model", "tiny", "--codec", "ffv1",
                       "--server", address, *extra])
    assert code == 0


def translate_with_library(address, src, dst, server_decode):
    with TranslatorClient(address) as client:
        result = client.translate_video(src, dst, model="tiny", codec="ffv1",
                                        server_decode=server_decode)
    assert result.complete


def translate_with_asyncio(address, src, dst, server_decode):
    async def run():
        async with AsyncTranslatorClient(address) as client:
            return await client.translate_video(src, dst, model="tiny", codec="ffv1",
                                                server_decode=server_decode)

    assert asyncio.run(run()).complete


SURFACES = {"cli": translate_with_cli, "library": translate_with_library,
            "asyncio": translate_with_asyncio}


@pytest.fixture(scope="module", params=[(s, d) for s in SURFACES for d in (False, True)],
                ids=lambda p: f"{p[0]}-{'server-decode' if p[1] else 'local'}")
def translated(request, address, source, tmp_path_factory) -> Path:
    surface, server_decode = request.param
    dst = tmp_path_factory.mktemp("out") / "out.mkv"
    SURFACES[surface](address, source, dst, server_decode)
    return dst


def video_frames(path: Path) -> list[tuple[Fraction, str, np.ndarray]]:
    """(time, pixel format, planes as PyAV returns them) of every decoded frame."""
    with av.open(str(path)) as container:
        return [(frame.pts * frame.time_base, frame.format.name, frame.to_ndarray())
                for frame in container.decode(video=0)]


def audio_packets(path: Path) -> list[tuple[bytes, float]]:
    """(payload, time in seconds) of every audio packet, in file order."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(bytes(packet), float(packet.pts * packet.time_base))
                for packet in container.demux(stream) if packet.size]


def in_format(rgb: np.ndarray, pixel_format: str) -> np.ndarray:
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pixel_format).to_ndarray()


def test_every_frame_is_the_engines_translation_of_the_input_frame_at_its_time(translated,
                                                                                expected):
    got = video_frames(translated)
    assert len(got) == len(expected)
    # Matroska cannot start below zero: the AAC priming delay shifts every stream alike.
    shift = got[0][0] - expected[0][0]
    assert 0 <= shift < 0.05
    for i, ((time, pixel_format, planes), (source_time, rgb)) in enumerate(zip(got, expected)):
        assert float(time - shift) == pytest.approx(float(source_time), abs=MATROSKA_TICK_S), i
        assert np.array_equal(planes, in_format(rgb, pixel_format)), f"frame {i} differs"


def test_every_audio_packet_is_copied_unchanged_at_its_time(translated, source):
    got, sent = audio_packets(translated), audio_packets(source)
    assert len(sent) > 50 and len(got) == len(sent)
    assert [payload for payload, _ in got] == [payload for payload, _ in sent]
    shift = video_frames(translated)[0][0] - video_frames(source)[0][0]  # as for the video
    for i, ((_, time), (_, source_time)) in enumerate(zip(got, sent)):
        assert time - float(shift) == pytest.approx(source_time, abs=MATROSKA_TICK_S), i
