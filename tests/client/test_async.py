"""AsyncTranslatorClient: the same calls over grpc.aio, against the real server."""
from __future__ import annotations

import asyncio
import threading

import pytest

from pix2pix_stream.client import AsyncTranslatorClient, AuthError, ModelNotFoundError, ServerUnavailableError
from pix2pix_stream.media.synthetic import drawn_frame, probe


def run(coro):
    return asyncio.run(coro)


def test_frames_images_models_health(address):
    async def main():
        async with AsyncTranslatorClient(address) as client:
            async def frames():
                for i in range(5):
                    await asyncio.sleep(0)
                    yield drawn_frame(i)

            outs = [o async for o in client.translate_frames(frames(), model="tiny")]
            replies = [r async for r in client.stream([drawn_frame(0)] * 3, model="tiny")]
            image = await client.translate_image(drawn_frame(1), model="tiny", size=(32, 32))
            names = [m.name for m in await client.list_models()]
            return outs, replies, image, names, await client.health("tiny")

    outs, replies, image, names, health = run(main())
    assert [o.shape for o in outs] == [(48, 64, 3)] * 5
    assert [r.sequence for r in replies] == [0, 1, 2]
    assert image.shape == (32, 32, 3)
    assert "tiny" in names and health == "SERVING"


def test_concurrent_streams_on_one_channel(address):
    async def one(client, n):
        return [o async for o in client.translate_frames([drawn_frame(i) for i in range(n)],
                                                         model="tiny")]

    async def main():
        async with AsyncTranslatorClient(address) as client:
            return await asyncio.gather(*(one(client, n) for n in (3, 4, 5)))

    assert [len(r) for r in run(main())] == [3, 4, 5]


def test_frames_are_consumed_lazily_while_replies_arrive(address):
    """As the sync client's test: frame i + 1 is made only once frame i's reply arrived."""
    async def main():
        replied = asyncio.Event()
        waited_in_vain, outputs = [], []

        async def frames():
            for i in range(4):
                replied.clear()
                yield drawn_frame(i)
                try:
                    await asyncio.wait_for(replied.wait(), 10)
                except asyncio.TimeoutError:
                    waited_in_vain.append(i)

        async with AsyncTranslatorClient(address) as client:
            async for out in client.translate_frames(frames(), model="tiny"):
                outputs.append(out)
                replied.set()
        return outputs, waited_in_vain

    outputs, waited_in_vain = run(main())
    assert len(outputs) == 4 and not waited_in_vain


@pytest.mark.parametrize("server_decode", [False, True], ids=["local", "server-decode"])
def test_translate_video(address, clip, tmp_path, server_decode):
    async def main():
        async with AsyncTranslatorClient(address) as client:
            return await client.translate_video(clip, tmp_path / "out.mp4", model="tiny",
                                                side_by_side=True, server_decode=server_decode)

    result = run(main())
    out = probe(tmp_path / "out.mp4")
    assert out["frames"] == result.frames == 12 and out["has_audio"]
    assert (out["width"], out["height"]) == (128, 48)


def test_typed_errors(address):
    async def unknown_model():
        async with AsyncTranslatorClient(address) as client:
            await client.translate_image(drawn_frame(0), model="nope")

    with pytest.raises(ModelNotFoundError, match="nope"):
        run(unknown_model())

    async def unreachable():
        async with AsyncTranslatorClient("127.0.0.1:1", connect_timeout_s=0.3) as client:
            await client.list_models()

    with pytest.raises(ServerUnavailableError, match="127.0.0.1:1"):
        run(unreachable())


def test_stream_errors_keep_their_status(address, token_server):
    """Streams the server ends at once (unknown model, wrong token) report NOT_FOUND and
    UNAUTHENTICATED every time, despite grpc.aio's write race (grpc/grpc#36066)."""
    async def translate(target, model, token=None):
        async with AsyncTranslatorClient(target, token=token) as client:
            await client.translate_image(drawn_frame(0), model=model)

    for _ in range(4):
        with pytest.raises(ModelNotFoundError):
            run(translate(address, "nope"))
        with pytest.raises(AuthError):
            run(translate(f"127.0.0.1:{token_server.port}", "tiny", token="wrong"))
    run(translate(f"127.0.0.1:{token_server.port}", "tiny", token="s3cret"))


@pytest.mark.parametrize("server_decode", [False, True], ids=["local", "server-decode"])
def test_translate_video_stop_keeps_the_frames_done_so_far(address, tmp_path, server_decode):
    from pix2pix_stream.media.synthetic import make_clip

    src = make_clip(tmp_path / "long.mp4", frames=400, fps=25, audio=False)
    stop = threading.Event()

    async def main():
        async with AsyncTranslatorClient(address) as client:
            return await client.translate_video(
                src, tmp_path / "part.mp4", model="tiny", server_decode=server_decode, stop=stop,
                progress=lambda done, total: done >= 5 and stop.set())

    result = run(main())
    assert not result.complete and 5 <= result.frames < 400
    assert probe(tmp_path / "part.mp4")["frames"] == result.frames


def test_translate_video_unknown_model_leaves_no_file(address, clip, tmp_path):
    async def main(server_decode):
        async with AsyncTranslatorClient(address) as client:
            await client.translate_video(clip, tmp_path / "o.mp4", model="nope",
                                         server_decode=server_decode)

    for server_decode in (False, True):
        with pytest.raises(ModelNotFoundError):
            run(main(server_decode))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_a_local_failure_during_a_server_side_job_leaves_no_file(address, clip, tmp_path):
    def progress(done, total):
        raise RuntimeError("the caller's progress callback failed")

    async def main():
        async with AsyncTranslatorClient(address) as client:
            await client.translate_video(clip, tmp_path / "o.mp4", model="tiny",
                                         server_decode=True, progress=progress)

    with pytest.raises(RuntimeError, match="progress callback"):
        run(main())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # nor a pending file
