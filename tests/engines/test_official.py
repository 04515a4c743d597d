"""Official pytorch-CycleGAN-and-pix2pix generators import with the right key mapping: the engine
gives the official network's frames in eval mode."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pix2pix_stream.engines.runtime.errors import OfficialCheckpointError
from pix2pix_stream.engines.runtime.graph import to_frames, to_generator_input
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.build.official import (export_official, load_official_generator, official_key_map,
                              options_from, read_train_opt)
from pix2pix_stream.engines.runtime.registry import load_backend
from pix2pix_stream.networks.models import GeneratorConfig, UnetGenerator
from tests.engines.official_reference import (TRAIN_OPT, NestedUnet, save_like_official,
                                              trained_looking)
from tests.engines.pixels import assert_parity, frames

DEPTH = {"unet_128": 7, "unet_256": 8}


def official_frames(net, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return to_frames(net.eval()(to_generator_input(torch.from_numpy(batch)))).numpy()


@pytest.mark.parametrize("netG, norm", [("unet_128", "batch"), ("unet_128", "instance"),
                                        ("unet_256", "batch"), ("unet_256", "instance")])
def test_engine_matches_official_network(tmp_path, netG, norm):
    reference = trained_looking(NestedUnet(num_downs=DEPTH[netG], ngf=4, norm=norm), seed=7)
    save_like_official(reference, tmp_path / "latest_net_G.pth")
    size = 128 if netG == "unet_128" else 256
    options = options_from(netG=netG, ngf=4, norm=norm, crop_size=size)
    engine = export_official(tmp_path / "latest_net_G.pth", tmp_path / "engine", options)
    batch = frames(2, size=size, seed=3)
    want = official_frames(reference, batch)
    assert want.std() > 10  # the reference draws a real image, so a wrong mapping would show
    assert_parity(load_backend(engine, "onnxruntime").infer(batch), want)
    meta = read_metadata(engine)
    assert meta.generator["netG"] == netG and meta.generator["norm"] == norm
    assert "official" in meta.training["source"]


@pytest.mark.parametrize("netG", ["unet_128", "unet_256"])
@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_key_map_covers_the_official_state_dict_exactly(netG, norm):
    config = GeneratorConfig(netG=netG, ngf=4, norm=norm)
    mapping = official_key_map(config)
    official = NestedUnet(num_downs=DEPTH[netG], ngf=4, norm=norm).state_dict()
    ours = UnetGenerator(**config.to_dict()).state_dict()
    assert set(mapping) == set(ours)
    assert set(mapping.values()) == set(official)
    assert all(ours[k].shape == official[v].shape for k, v in mapping.items())


def test_parameter_count_of_official_unet_256():
    net = NestedUnet(num_downs=8, ngf=64, norm="batch")
    assert sum(p.numel() for p in net.parameters()) == 54_413_955  # as the official code prints


def test_options_from_train_opt(tmp_path):
    opt = tmp_path / "train_opt.txt"
    opt.write_text(TRAIN_OPT.format(crop=256, netG="unet_256", ngf=32, norm="instance"))
    raw = read_train_opt(opt)
    assert raw["netG"] == "unet_256" and raw["dataroot"] == "./datasets/facades"
    options = options_from(opt)
    assert (options.netG, options.ngf, options.norm, options.direction, options.crop_size,
            options.name) == ("unet_256", 32, "instance", "BtoA", 256, "facades_pix2pix")
    assert options_from(opt, ngf=16).ngf == 16  # command-line flags win over the file


def test_wrong_configuration_is_named(tmp_path):
    save_like_official(NestedUnet(num_downs=7, ngf=4, norm="batch"), tmp_path / "g.pth")
    with pytest.raises(OfficialCheckpointError, match="wrong shapes.*--ngf"):
        load_official_generator(tmp_path / "g.pth", options_from(netG="unet_128", ngf=8))
    with pytest.raises(OfficialCheckpointError, match="unexpected keys"):
        load_official_generator(tmp_path / "g.pth", options_from(netG="unet_128", ngf=4, norm="instance"))
    with pytest.raises(OfficialCheckpointError, match="missing"):
        load_official_generator(tmp_path / "g.pth", options_from(netG="unet_256", ngf=4))


def test_bad_files_and_options(tmp_path):
    with pytest.raises(OfficialCheckpointError, match="not found"):
        load_official_generator(tmp_path / "none.pth", options_from())
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(OfficialCheckpointError, match="cannot read"):
        load_official_generator(tmp_path / "junk.pth", options_from())
    with pytest.raises(OfficialCheckpointError, match="resnet_9blocks"):
        options_from(netG="resnet_9blocks")
    with pytest.raises(OfficialCheckpointError, match="norm 'none'"):
        options_from(norm="none")


def test_dataparallel_prefix_and_old_instance_norm_buffers(tmp_path):
    reference = trained_looking(NestedUnet(num_downs=7, ngf=4, norm="instance"), seed=1)
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    state["module.model.model.1.model.2.running_mean"] = torch.zeros(8)  # PyTorch < 0.4 leftovers
    torch.save(state, tmp_path / "g.pth")
    generator = load_official_generator(tmp_path / "g.pth", options_from(netG="unet_128", ngf=4,
                                                                          norm="instance"))
    batch = frames(1, size=128)
    with torch.no_grad():
        ours = to_frames(generator(to_generator_input(torch.from_numpy(batch)))).numpy()
    assert_parity(ours, official_frames(reference, batch))
