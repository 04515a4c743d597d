"""The server's temporal filter chosen by the client: ``temporal=`` on the sync and asyncio
libraries, ``--temporal`` on pix2pix-client video (decoded here and --server-decode). What comes
back is compared with the filter of pix2pix_stream.media.temporal_filter run here, in order, over
the engine's own outputs (tests/server/test_temporal_filter.py checks the server against the
same reference), so a level that never reaches the server, or reaches it as another level,
fails. Video outputs are FFV1 (lossless), compared after the same pixel-format conversion, as in
test_video_content.py."""
from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pix2pix_stream.client import AsyncTranslatorClient, InvalidOptionError, TranslatorClient
from pix2pix_stream.client import exit_codes
from pix2pix_stream.client.cli import main as client_cli
from tests.client.conftest import serving
from tests.client.test_video_content import in_format, video_frames
from tests.server.test_temporal_filter import offline, panning_frames

LEVELS = (None, "off", "light", "strong")
NO_SERVER = "127.0.0.1:1"  # nothing listens there


@pytest.fixture(scope="module")
def off_server(tiny_engines_root) -> str:
    """A server whose default is no filter (pix2pix-serve --temporal off)."""
    with serving(tiny_engines_root, temporal="off", inference_threads=1) as running:
        yield f"127.0.0.1:{running.port}"


@pytest.fixture(scope="module")
def backend(tiny_engine_dir):
    """The engine the server runs, run here for the reference outputs."""
    from pix2pix_stream.engines.runtime.registry import load_backend

    with load_backend(tiny_engine_dir, "onnxruntime", max_batch=8, threads=1) as loaded:
        yield loaded


def reference(backend, frames, level: str | None) -> list[np.ndarray]:
    """What the server sends for ``level`` (None: its default, off here)."""
    if level in (None, "off"):
        return list(backend.infer(np.stack(frames)))
    return offline(backend, frames, level)


def same(got: list[np.ndarray], want: list[np.ndarray]) -> bool:
    return len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(got, want))


def test_sync_and_asyncio_clients_choose_the_filter_per_stream(off_server, backend):
    frames = panning_frames(8)
    with TranslatorClient(off_server) as client:
        synced = {level: list(client.translate_frames(frames, model="tiny", temporal=level))
                  for level in LEVELS}

    async def run():
        async with AsyncTranslatorClient(off_server) as client:
            return {level: [out async for out in client.translate_frames(
                frames, model="tiny", temporal=level)] for level in LEVELS}

    for outputs in (synced, asyncio.run(run())):
        for level in LEVELS:
            assert same(outputs[level], reference(backend, frames, level)), level
    assert not same(synced["strong"], synced["off"])  # the filter did act on this clip


def test_no_choice_is_the_servers_default_not_off(tiny_engines_root, backend):
    frames = panning_frames(6)
    with serving(tiny_engines_root, temporal="strong", inference_threads=1) as running, \
            TranslatorClient(f"127.0.0.1:{running.port}") as client:
        default = list(client.translate_frames(frames, model="tiny"))
        off = list(client.translate_frames(frames, model="tiny", temporal="off"))
    assert same(default, reference(backend, frames, "strong"))
    assert same(off, reference(backend, frames, "off"))


def panning_clip(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """The frames as a lossless (FFV1) video, so the server sees them as they are."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], \
            "yuv444p"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize("server_decode", [False, True], ids=["local", "server-decode"])
def test_cli_video_sends_temporal_on_both_paths(off_server, backend, tmp_path, server_decode):
    src = panning_clip(tmp_path / "pan.mkv", panning_frames(8))
    with av.open(str(src)) as clip:  # the frames as the decoder gives them (here or there)
        decoded = [frame.to_ndarray(format="rgb24") for frame in clip.decode(video=0)]
    extra = ["--server-decode"] if server_decode else []
    outputs = {}
    for level in LEVELS:
        dst = tmp_path / f"{level}.mkv"
        choice = ["--temporal", level] if level else []
        code = client_cli(["video", str(src), str(dst), "--model", "tiny", "--codec", "ffv1",
                           "--server", off_server, *extra, *choice])
        assert code == 0, level
        outputs[level] = [planes for _, _, planes in video_frames(dst)]
    pixel_format = video_frames(tmp_path / "strong.mkv")[0][1]
    for level in LEVELS:
        want = [in_format(rgb, pixel_format) for rgb in reference(backend, decoded, level)]
        assert same(outputs[level], want), level
    assert not same(outputs["strong"], outputs["off"])


@pytest.mark.parametrize("server_decode", [False, True], ids=["local", "server-decode"])
def test_asyncio_translate_video_sends_temporal_on_both_paths(off_server, backend, tmp_path,
                                                              server_decode):
    src = panning_clip(tmp_path / "pan.mkv", panning_frames(6))
    with av.open(str(src)) as clip:
        decoded = [frame.to_ndarray(format="rgb24") for frame in clip.decode(video=0)]

    async def run():
        async with AsyncTranslatorClient(off_server) as client:
            await client.translate_video(src, tmp_path / "out.mkv", model="tiny", codec="ffv1",
                                         server_decode=server_decode, temporal="strong")

    asyncio.run(run())
    got = video_frames(tmp_path / "out.mkv")
    want = [in_format(rgb, got[0][1]) for rgb in reference(backend, decoded, "strong")]
    assert same([planes for _, _, planes in got], want)


class RecordingClient(TranslatorClient):
    """The real client, keeping what one stream sent and got back: the webcam command's frames
    come from OpenCV, so the reference is computed from the frames it actually sent."""

    def stream(self, frames, **options):
        self.sent, self.received = [], []

        def recorded():
            for frame in frames:
                self.sent.append(frame.copy())
                yield frame

        for reply in super().stream(recorded(), **options):
            self.received.append(reply.image)
            yield reply


def test_cli_webcam_sends_temporal(off_server, backend, tmp_path, capsys):
    from pix2pix_stream.client import commands
    from pix2pix_stream.client.cli import build_parser

    src = panning_clip(tmp_path / "pan.mkv", panning_frames(8))
    with RecordingClient(off_server) as client:
        for level in LEVELS:
            choice = ["--temporal", level] if level else []
            args = build_parser().parse_args(["webcam", "--device", str(src), "--model", "tiny",
                                              "--no-realtime", *choice])
            assert commands.webcam(client, args) == exit_codes.OK
            assert len(client.sent) == 8, level
            assert same(client.received, reference(backend, client.sent, level)), level


def test_a_bad_level_is_a_usage_error_before_anything_is_sent(off_server, tmp_path, capsys):
    src = panning_clip(tmp_path / "pan.mkv", panning_frames(2))
    for extra in ([], ["--server-decode"]):
        with pytest.raises(SystemExit) as exit_info:
            client_cli(["video", str(src), str(tmp_path / "out.mkv"), "--model", "tiny",
                        "--server", off_server, "--temporal", "max", *extra])
        assert exit_info.value.code == exit_codes.USAGE
    with pytest.raises(SystemExit) as exit_info:
        client_cli(["webcam", "--device", str(src), "--model", "tiny", "--server", off_server,
                    "--temporal", "Strong"])
    assert exit_info.value.code == exit_codes.USAGE
    assert "off, light, strong" in capsys.readouterr().err
    # The library: the typed error, naming the allowed values, before it even connects (no
    # server listens there) and before an output file is made.
    with TranslatorClient(NO_SERVER, connect_timeout_s=1) as client:
        for server_decode in (False, True):
            with pytest.raises(InvalidOptionError, match="off, light, strong"):
                client.translate_video(src, tmp_path / "lib.mkv", model="tiny",
                                       server_decode=server_decode, temporal="max")
        with pytest.raises(InvalidOptionError, match="off, light, strong"):
            next(client.translate_frames(panning_frames(1), model="tiny", temporal="max"))
    assert not (tmp_path / "out.mkv").exists() and not (tmp_path / "lib.mkv").exists()
    assert exit_codes.for_error(InvalidOptionError("x")) == exit_codes.USAGE

    async def run():
        async with AsyncTranslatorClient(NO_SERVER, connect_timeout_s=1) as client:
            with pytest.raises(InvalidOptionError):
                await client.translate_video(src, tmp_path / "lib.mkv", model="tiny",
                                             temporal=1)
            with pytest.raises(InvalidOptionError):
                await anext(client.translate_frames(panning_frames(1), model="tiny",
                                                    temporal="max"))

    asyncio.run(run())
