"""Point 7: engine.json problems are reported with the file and the reason; a model file that
changed since export, or an onnx_file outside the engine folder, is refused at load."""
from __future__ import annotations

import json
import logging
import shutil

import pytest

from pix2pix_stream.engines.runtime.errors import CorruptEngineError
from pix2pix_stream.engines.runtime.registry import discover_engines, load_backend
from pix2pix_stream.server.errors import StartupError
from pix2pix_stream.server.app import start_server
from tests.reliability.conftest import server_config


@pytest.fixture
def engine_copy(tiny_engine_dir, tmp_path):
    return shutil.copytree(tiny_engine_dir, tmp_path / "engines" / "tiny")


def edit_json(engine_dir, **changes):
    path = engine_dir / "engine.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("changes, reason", [
    ({"input_width": None}, "lacks input_width"),
    ({"input_width": "256"}, "'input_width' must be a positive integer"),
    ({"input_height": 0}, "'input_height' must be a positive integer"),
    ({"input_height": True}, "'input_height' must be a positive integer"),
    ({"onnx_file": 5}, "'onnx_file' must be a string"),
    ({"name": ""}, "'name' must be a non-empty string"),
    ({"artifacts": []}, "'artifacts' must be an object"),
])
def test_a_broken_engine_json_is_named_with_its_reason(engine_copy, changes, reason, caplog):
    edit_json(engine_copy, **changes)
    with caplog.at_level(logging.WARNING):
        assert discover_engines(engine_copy.parent) == []
    assert reason in caplog.text and str(engine_copy / "engine.json") in caplog.text
    with pytest.raises(StartupError) as info:
        start_server(server_config(engine_copy.parent))
    assert "no engines found" in str(info.value) and reason in str(info.value)


def test_a_changed_model_file_is_refused_at_load(engine_copy):
    model = engine_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4000] = bytes(b ^ 0xFF for b in data[middle:middle + 4000])
    model.write_bytes(bytes(data))
    with pytest.raises(CorruptEngineError, match="does not match the sha256 recorded"):
        load_backend(engine_copy, "onnxruntime")
    with pytest.raises(CorruptEngineError):
        start_server(server_config(engine_copy.parent))


@pytest.mark.parametrize("onnx_file", ["../outside.onnx", "/etc/passwd", "sub/../../x.onnx"])
def test_an_onnx_file_outside_the_engine_folder_is_refused(engine_copy, onnx_file):
    shutil.copy(engine_copy / "model.onnx", engine_copy.parent / "outside.onnx")
    edit_json(engine_copy, onnx_file=onnx_file, onnx_sha256="")
    with pytest.raises(CorruptEngineError, match="outside the engine directory"):
        load_backend(engine_copy, "onnxruntime")


def test_a_symlink_leading_out_of_the_folder_is_refused(engine_copy):
    shutil.copy(engine_copy / "model.onnx", engine_copy.parent / "elsewhere.onnx")
    (engine_copy / "link.onnx").symlink_to(engine_copy.parent / "elsewhere.onnx")
    edit_json(engine_copy, onnx_file="link.onnx")
    with pytest.raises(CorruptEngineError, match="outside the engine directory"):
        load_backend(engine_copy, "onnxruntime")


def test_an_intact_engine_still_loads(engine_copy):
    with load_backend(engine_copy, "onnxruntime") as backend:
        assert backend.info.name == "tiny"
