"""pix2pix-export end to end: checkpoint and official exports, --fp16, --list, errors, --help."""
from __future__ import annotations

import pytest

from pix2pix_stream.engines.build.cli import main
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.registry import load_backend
from pix2pix_stream.engines.build.synthetic import synthetic_generator
from tests.engines.official_reference import (TRAIN_OPT, NestedUnet, save_like_official,
                                              trained_looking)


def test_help_explains_every_mode(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--out", "--from-official", "--opt-file", "--tensorrt", "--fp16", "--list",
                 "--build-tensorrt", "--max-batch", "train_opt.txt"):
        assert flag in text


def test_export_checkpoint_with_fp16_then_list(tmp_path, capsys):
    from pix2pix_stream.pix2pix.checkpoint import save_checkpoint

    generator = synthetic_generator(seed=4)
    ckpt = save_checkpoint({"generator_config": generator.config.to_dict(),
                            "generator": generator.state_dict(), "image_size": 128,
                            "input_transform": {"name": "canny", "params": {}}},
                           tmp_path / "run" / "last.pt")
    assert main([str(ckpt), "--out", str(tmp_path / "engines" / "edges"), "--fp16",
                 "--description", "edges to things"]) == 0
    out = capsys.readouterr().out
    assert "model.fp16.onnx" in out and "dB PSNR" in out
    meta = read_metadata(tmp_path / "engines" / "edges")
    assert meta.name == "edges" and meta.description == "edges to things"
    assert "onnx_fp16" in meta.artifacts
    assert main(["--list", str(tmp_path / "engines")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["NAME", "SIZE", "TRANSFORM"]
    assert table[1].split()[:5] == ["edges", "128x128", "canny", "AtoB", "unet_128/ngf8/batch"]


def test_official_export_reads_train_opt_beside_the_checkpoint(tmp_path, capsys):
    run = tmp_path / "checkpoints" / "facades_pix2pix"
    run.mkdir(parents=True)
    save_like_official(trained_looking(NestedUnet(num_downs=7, ngf=4, norm="instance"), 2),
                       run / "latest_net_G.pth")
    (run / "train_opt.txt").write_text(TRAIN_OPT.format(crop=128, netG="unet_128", ngf=4,
                                                        norm="instance"))
    out_dir = tmp_path / "engines" / "facades"
    assert main([str(run / "latest_net_G.pth"), "--from-official", "--out", str(out_dir)]) == 0
    assert "options from" in capsys.readouterr().out
    meta = read_metadata(out_dir)
    assert (meta.direction, meta.input_width, meta.generator["norm"]) == ("BtoA", 128, "instance")
    assert meta.training["experiment"] == "facades_pix2pix"
    assert load_backend(out_dir, "onnxruntime").info.name == "facades"


def test_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main([str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    save_like_official(NestedUnet(num_downs=7, ngf=4), tmp_path / "g.pth")
    assert main([str(tmp_path / "g.pth"), "--from-official", "--netG", "unet_256", "--ngf", "4",
                 "--out", str(tmp_path / "y")]) == 2
    assert "--netG" in capsys.readouterr().err
    assert main(["--list", str(tmp_path / "nowhere")]) == 2
    with pytest.raises(SystemExit):
        main([str(tmp_path / "g.pth")])  # no --out: argparse usage error


def test_tensorrt_build_without_tensorrt_says_how_to_install(tiny_engine_dir, capsys):
    pytest.importorskip("torch")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("tensorrt installed here")
    except ImportError:
        pass
    assert main(["--build-tensorrt", str(tiny_engine_dir)]) == 2
    assert "pypi.nvidia.com" in capsys.readouterr().err


def test_export_with_a_calibration_folder_measures_on_frames_it_held_back(tmp_path, capsys):
    """--calibration DIR of 8 images: 6 calibrate the int8 graph and 2 measure it; the printed
    line says how many convolutions stayed float."""
    import cv2

    from pix2pix_stream.pix2pix.checkpoint import save_checkpoint
    from tests.engines.pixels import frames

    generator = synthetic_generator(seed=5)
    ckpt = save_checkpoint({"generator_config": generator.config.to_dict(),
                            "generator": generator.state_dict(), "image_size": 128},
                           tmp_path / "run" / "last.pt")
    folder = tmp_path / "calibration"
    folder.mkdir()
    for i, image in enumerate(frames(8, size=160)):
        cv2.imwrite(str(folder / f"{i}.png"), image[:, :, ::-1])
    assert main([str(ckpt), "--out", str(tmp_path / "e"), "--calibration", str(folder)]) == 0
    assert "convolutions kept float" in capsys.readouterr().out
    record = read_metadata(tmp_path / "e").artifacts["onnx_int8"]
    assert record["calibration"].startswith("6 given frames")
    assert record["psnr_measured_on"].startswith("2 given frames")
