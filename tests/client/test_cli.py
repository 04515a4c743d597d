"""pix2pix-client end to end against a real server: every subcommand, and every failure's exit
code. Most run in-process (pix2pix_stream.client.cli.main); Ctrl-C and imports are checked in subprocesses."""
from __future__ import annotations

import re

import cv2
import pytest

from pix2pix_stream.client import exit_codes
from pix2pix_stream.client.cli import main
from pix2pix_stream.media.synthetic import drawn_frame, make_clip, probe


@pytest.fixture
def cli(address, capsys):
    """Runs pix2pix-client against the test server; returns (exit code, stdout, stderr)."""
    def run(*args: str, server: str | None = None):
        command, rest = args[0], list(args[1:])
        code = main([command, "--server", server or address, "--connect-timeout", "5", *rest])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_video_default_and_options(cli, clip, tmp_path):
    code, out, err = cli("video", str(clip), str(tmp_path / "out.mp4"), "--model", "tiny")
    assert code == 0, err
    assert "wrote" in out and "12 frames" in out
    # the progress bar reached the end, with elapsed time, ETA and frame rate
    assert re.search(r"12/12 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+frame/s\]", err), err
    assert probe(tmp_path / "out.mp4") == probe(clip)
    code, _, err = cli("video", str(clip), str(tmp_path / "sbs.mkv"), "--model", "tiny",
                       "--server-decode", "--side-by-side", "--size", "96x64")
    assert code == 0, err
    assert re.search(r"12/12 \[", err), err  # the server's progress messages carry the total
    sbs = probe(tmp_path / "sbs.mkv")
    assert (sbs["width"], sbs["height"], sbs["frames"]) == (192, 64, 12) and sbs["has_audio"]


@pytest.mark.parametrize("server_decode", [False, True], ids=["local", "server-decode"])
def test_video_odd_sized_input(cli, tmp_path, server_decode):
    """4:2:0 H.264 needs even sizes: rounded down (with a note, here or in the server log);
    an encoder that takes odd sizes (FFV1) keeps the exact one."""
    src = make_clip(tmp_path / "odd.avi", frames=6, width=161, height=121, fps=10, audio=False,
                    codec="mpeg4")
    extra = ["--server-decode"] if server_decode else []
    code, out, err = cli("video", str(src), str(tmp_path / "even.mp4"), "--model", "tiny", *extra)
    assert code == 0, err
    even = probe(tmp_path / "even.mp4")
    assert (even["width"], even["height"], even["frames"]) == (160, 120, 6)
    assert even["fps"] == pytest.approx(10) and "160x120" in out
    if not server_decode:
        assert "libx264 cannot encode 161x121" in err and "scaled to 160x120" in err
    code, _, err = cli("video", str(src), str(tmp_path / "exact.mkv"), "--model", "tiny",
                       "--codec", "ffv1", *extra)
    assert code == 0, err
    exact = probe(tmp_path / "exact.mkv")
    assert (exact["width"], exact["height"], exact["frames"]) == (161, 121, 6)
    assert "cannot encode" not in err


def test_webcam_record_with_an_odd_size(cli, tmp_path):
    device = make_clip(tmp_path / "camera.mp4", frames=10, fps=20, audio=False)
    record = tmp_path / "shown.mp4"
    code, out, err = cli("webcam", "--device", str(device), "--model", "tiny", "--no-realtime",
                         "--size", "81x61", "--record", str(record))
    assert code == 0, err
    assert "libx264 cannot encode 162x61" in out  # input | output, 2 x 81 wide
    shown = probe(record)
    assert (shown["width"], shown["height"], shown["frames"]) == (162, 60, 10)


@pytest.mark.data
def test_video_real_clip_with_side_by_side(cli, shared_data, tmp_path):
    src = shared_data / "video" / "realshort_240p.mp4"
    code, _, err = cli("video", str(src), str(tmp_path / "out.mp4"), "--model", "tiny",
                       "--side-by-side")
    assert code == 0, err
    out, original = probe(tmp_path / "out.mp4"), probe(src)
    assert out["width"] == 2 * original["width"] and out["height"] == original["height"]
    assert out["frames"] == original["frames"] == 36 and out["has_audio"]
    assert out["fps"] == pytest.approx(original["fps"], rel=1e-3)
    assert out["duration"] == pytest.approx(original["duration"], abs=0.05)


def test_images(cli, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    sizes = {"a.png": (64, 48), "b.jpg": (80, 60), "c.png": (128, 128)}
    for name, (w, h) in sizes.items():
        cv2.imwrite(str(src / name), drawn_frame(len(name), w, h))
    (src / "notes.txt").write_text("not an image; ignored")
    code, out, err = cli("images", str(src), str(tmp_path / "out"), "--model", "tiny")
    assert code == 0, err
    assert "wrote 3 images" in out
    for name, (w, h) in sizes.items():
        assert cv2.imread(str(tmp_path / "out" / name)).shape == (h, w, 3)
    code, _, _ = cli("images", str(src), str(tmp_path / "small"), "--model", "tiny",
                     "--size", "32x32")
    assert code == 0 and cv2.imread(str(tmp_path / "small" / "b.jpg")).shape == (32, 32, 3)


def test_webcam_with_a_file_as_device_and_record(cli, tmp_path):
    device = make_clip(tmp_path / "camera.mp4", frames=30, fps=20, audio=False)
    record = tmp_path / "shown.mp4"
    code, out, err = cli("webcam", "--device", str(device), "--model", "tiny",
                         "--record", str(record))
    assert code == 0, err
    assert re.search(r"fps +\d+\.\d +latency +\d+\.\d ms", out), out  # the once-a-second report
    translated = int(re.search(r"done: (\d+) frames translated", out).group(1))
    assert 0 < translated <= 30
    shown = probe(record)
    assert shown["frames"] == translated  # every frame shown was recorded
    assert (shown["width"], shown["height"]) == (128, 48)  # input | output
    assert shown["duration"] == pytest.approx(1.5, abs=0.5)  # recorded at the speed shown
    code, out, _ = cli("webcam", "--device", str(device), "--model", "tiny", "--max-frames", "3",
                       "--jpeg", "--size", "32x32")
    assert code == 0 and "done: 3 frames translated" in out
    code, out, _ = cli("webcam", "--device", str(device), "--model", "tiny", "--no-realtime",
                       "--record", str(tmp_path / "all.mkv"))
    assert code == 0 and "done: 30 frames translated, 0 dropped" in out  # none skipped
    assert probe(tmp_path / "all.mkv")["frames"] == 30


def test_models_and_health(cli):
    code, out, _ = cli("models")
    assert code == 0 and re.search(r"^tiny-canny +128x128 +x128 128x128\.\.3840x2176 +engine +canny",
                                   out, re.M), out
    code, out, _ = cli("models", "--json")
    assert code == 0 and '"name": "tiny"' in out
    code, out, _ = cli("health")
    assert code == 0 and "SERVING" in out
    code, out, _ = cli("health", "--model", "tiny")
    assert code == 0 and "tiny: SERVING" in out


def test_server_env_variable(monkeypatch, address, capsys):
    monkeypatch.setenv("PIX2PIX_SERVER", address)
    assert main(["health"]) == 0
    assert "SERVING" in capsys.readouterr().out


# -- failures and their exit codes ----------------------------------------------------------

def test_exit_code_server_unreachable(cli):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = cli("models", "--connect-timeout", "0.5", server=f"127.0.0.1:{port}")
    assert code == exit_codes.UNREACHABLE == 3
    assert f"127.0.0.1:{port}" in err and "no connection" in err


def test_exit_code_unknown_model(cli, clip, tmp_path):
    for extra in ([], ["--server-decode"]):
        code, _, err = cli("video", str(clip), str(tmp_path / "o.mp4"), "--model", "nope", *extra)
        assert code == exit_codes.UNKNOWN_MODEL == 4 and "nope" in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no empty output
    code, _, err = cli("health", "--model", "nope")
    assert code == exit_codes.UNKNOWN_MODEL


def test_exit_code_unreadable_input(cli, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00garbage" * 500)
    for args in (["video", str(tmp_path / "missing.mp4"), str(tmp_path / "o.mp4")],
                 ["video", str(junk), str(tmp_path / "o.mp4")],
                 ["video", str(junk), str(tmp_path / "o.mp4"), "--server-decode"],
                 ["images", str(tmp_path / "no-such-dir"), str(tmp_path / "out")],
                 ["webcam", "--device", str(tmp_path / "no-camera.mp4")]):
        code, _, err = cli(*args, "--model", "tiny")
        assert code == exit_codes.BAD_INPUT == 5, (args, err)
        assert "missing.mp4" in err or "junk.mp4" in err or "no-" in err, err
    bad_images = tmp_path / "bad"
    bad_images.mkdir()
    (bad_images / "broken.png").write_bytes(b"not a png")
    code, _, err = cli("images", str(bad_images), str(tmp_path / "out"), "--model", "tiny")
    assert code == exit_codes.BAD_INPUT and "broken.png" in err


def test_exit_code_unwritable_output(cli, clip, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args in (["video", str(clip), str(blocker / "o.mp4")],
                 ["video", str(clip), str(blocker / "o.mp4"), "--server-decode"],
                 ["video", str(clip), str(tmp_path / "o.unknownext"), "--server-decode"],
                 ["images", str(tmp_path), str(blocker / "out")]):
        if args[0] == "images":
            cv2.imwrite(str(tmp_path / "x.png"), drawn_frame(0))
        code, _, err = cli(*args, "--model", "tiny")
        assert code == exit_codes.BAD_OUTPUT == 6, (args, err)


def test_exit_code_auth(cli, token_server):
    server = f"127.0.0.1:{token_server.port}"
    code, _, err = cli("models", server=server)
    assert code == exit_codes.AUTH == 7 and "UNAUTHENTICATED" in err
    code, _, _ = cli("models", "--token", "s3cret", server=server)
    assert code == 0


def test_exit_code_show_without_gui(cli, clip):
    code, _, err = cli("webcam", "--device", str(clip), "--model", "tiny", "--show")
    assert code == exit_codes.UNSUPPORTED == 8
    assert "GUI" in err and "--record" in err and "pix2pix-client web" in err


def test_usage_errors_exit_2(address):
    with pytest.raises(SystemExit) as info:
        main(["video", "in.mp4", "out.mp4", "--model", "tiny", "--size", "big"])
    assert info.value.code == exit_codes.USAGE


def test_help_lists_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["video", "--help"])
    text = capsys.readouterr().out
    for phrase in ("server unreachable", "unknown model", "unwritable output", "Ctrl-C"):
        assert phrase in text


def test_tls_flags(tiny_engines_root, tls_files, capsys):
    from tests.client.conftest import serving

    cert, key = tls_files
    with serving(tiny_engines_root, tls_cert=cert, tls_key=key) as running:
        base = ["--server", f"localhost:{running.port}", "--connect-timeout", "3"]
        assert main(["models", *base, "--tls-ca", str(cert)]) == 0
        assert "tiny" in capsys.readouterr().out
        replicas = ["--server", f"127.0.0.1:{running.port},127.0.0.1:{running.port}",
                    "--connect-timeout", "3"]
        assert main(["health", *replicas, "--tls-ca", str(cert),
                     "--tls-server-name", "localhost"]) == 0
        capsys.readouterr()
        assert main(["models", *base]) == exit_codes.UNREACHABLE  # plaintext to a TLS server
        capsys.readouterr()
        assert main(["models", *base, "--tls-ca", str(tls_files[1].parent / "missing.pem")]) \
            == exit_codes.BAD_INPUT


def test_scale_reaches_the_server_from_every_subcommand(cli, tmp_path, address):
    """--scale native gives what the library gives with scale="native", which differs from the
    default (engine) scale; a bad value is a usage error."""
    import numpy as np

    from pix2pix_stream.client.sync_client import TranslatorClient

    folder = tmp_path / "in"
    folder.mkdir()
    image = drawn_frame(5, 200, 120)
    cv2.imwrite(str(folder / "a.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    code, _, err = cli("images", str(folder), str(tmp_path / "out"), "--model", "tiny",
                       "--scale", "native")
    assert code == 0, err
    written = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "a.png")), cv2.COLOR_BGR2RGB)
    with TranslatorClient(address) as client:
        native = client.translate_image(image, model="tiny", scale="native")
        engine = client.translate_image(image, model="tiny")
    assert np.array_equal(written, native) and not np.array_equal(native, engine)
    clip = make_clip(tmp_path / "in.mp4", frames=4, width=200, height=120, audio=False)
    for extra in ([], ["--server-decode"]):
        out = tmp_path / f"out{len(extra)}.mp4"
        code, _, err = cli("video", str(clip), str(out), "--model", "tiny", "--scale", "160",
                           *extra)
        assert code == 0, err
        assert (probe(out)["width"], probe(out)["height"], probe(out)["frames"]) == (200, 120, 4)
    with pytest.raises(SystemExit) as exit_info:
        cli("images", str(folder), str(tmp_path / "out"), "--model", "tiny", "--scale", "big")
    assert exit_info.value.code == 2
