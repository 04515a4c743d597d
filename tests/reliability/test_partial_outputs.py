"""Point 5: a partial result never replaces an existing output (it goes beside it, named
partial, and the CLI says so), and a truncated input is reported the same way whether the
client or the server decodes it."""
from __future__ import annotations

import re
import threading

import pytest

from pix2pix_stream.client.cli import main as client_main
from pix2pix_stream.client.errors import InputFileError, InvalidInputError, ServerUnavailableError
from pix2pix_stream.client.sync_client import TranslatorClient
from pix2pix_stream.media.synthetic import probe
from tests.reliability.clips import faststart_mp4, truncated


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    whole = faststart_mp4(folder / "whole.mp4", frames=36, fps=12, audio=False)
    return truncated(whole, folder / "cut.mp4")


def test_a_dying_server_does_not_replace_an_existing_output(make_server, tmp_path):
    server = make_server(max_batch=1)
    src = faststart_mp4(tmp_path / "long.mp4", frames=200, fps=25, audio=False)
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"an earlier, finished output")

    def kill_at(done, total):
        if done == 5:
            threading.Thread(target=server.stop, args=(0,), daemon=True).start()

    with TranslatorClient(f"127.0.0.1:{server.port}", max_attempts=1, connect_timeout_s=1) as client, \
            pytest.raises(ServerUnavailableError) as info:
        client.translate_video(src, dst, model="tiny", progress=kill_at)
    assert dst.read_bytes() == b"an earlier, finished output"
    partial = tmp_path / "out.partial.mp4"
    path, frames = info.value.partial_output
    assert path == str(partial) and 5 <= frames < 200
    assert probe(partial)["frames"] == frames


@pytest.mark.parametrize("server_decode", [False, True], ids=["local", "server-decode"])
def test_a_truncated_input_is_reported_alike_on_both_paths(make_server, tmp_path, cut_clip,
                                                           server_decode, capsys):
    server = make_server()
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"an earlier output")
    argv = ["video", str(cut_clip), str(dst), "--model", "tiny",
            "--server", f"127.0.0.1:{server.port}"] + (["--server-decode"] if server_decode else [])
    assert client_main(argv) == 5
    err = capsys.readouterr().err
    assert "truncated or corrupt: decoded" in err and " of 36 frames" in err, err
    assert dst.read_bytes() == b"an earlier output"
    partial = tmp_path / "out.partial.mp4"
    assert f"frames done were kept in {partial} (partial output" in err
    decoded = int(re.search(r"decoded (\d+) of 36", err).group(1))
    assert 0 < decoded < 36 and probe(partial)["frames"] == decoded  # every decoded frame


@pytest.mark.parametrize("server_decode", [False, True], ids=["local", "server-decode"])
def test_a_truncated_input_without_an_earlier_output_keeps_its_frames(make_server, tmp_path,
                                                                      cut_clip, server_decode):
    server = make_server()
    dst = tmp_path / "fresh.mp4"
    with TranslatorClient(f"127.0.0.1:{server.port}") as client, \
            pytest.raises((InputFileError, InvalidInputError)) as info:
        client.translate_video(cut_clip, dst, model="tiny", server_decode=server_decode)
    path, frames = info.value.partial_output
    assert path == str(dst) and probe(dst)["frames"] == frames
