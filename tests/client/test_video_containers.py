"""`pix2pix-client video in.mp4 out.webm`: the encoder follows the output's container (VP9 and
Opus for WebM, the AAC transcoded) on both paths, read back with PyAV."""
from __future__ import annotations

import av
import pytest

from pix2pix_stream.client.cli import main
from pix2pix_stream.media.synthetic import probe


def codecs(path) -> tuple[str, str]:
    with av.open(str(path)) as container:
        return (container.streams.video[0].codec_context.name,
                container.streams.audio[0].codec_context.name)


@pytest.mark.parametrize("server_decode", [False, True], ids=["local", "server-decode"])
def test_video_into_webm(address, clip, tmp_path, capsys, server_decode):
    dst = tmp_path / "out.webm"
    extra = ["--server-decode"] if server_decode else []
    code = main(["video", str(clip), str(dst), "--model", "tiny", "--server", address, *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert codecs(dst) == ("vp9", "opus")
    written, src = probe(dst), probe(clip)
    assert written["frames"] == src["frames"] == 12 and written["has_audio"]
    assert written["fps"] == pytest.approx(src["fps"], rel=1e-3)
    assert "wrote" in out and "12 frames" in out
    if server_decode:
        assert "video: libvpx-vp9 64x48; audio: kept (encoded by the server)" in err
    else:
        assert "video: libvpx-vp9 64x48; audio: aac -> opus (webm cannot hold aac)" in err
