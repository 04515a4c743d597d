"""Embedding the client in someone else's service: a fresh virtual environment with only the
client extra, a project folder that has its own `client.py` and `server.py`, and a real server.

Before the project installed as one package, `pip install pix2pix-stream[client]` claimed the
top-level names client, server, engines and protos, and the user's own modules either shadowed
the library or were shadowed by it."""
from __future__ import annotations

import os
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

from pix2pix_stream.server.app import start_server
from pix2pix_stream.server.config import ServerConfig

ROOT = Path(__file__).resolve().parents[1]

USER_CODE = """
import sys

import numpy as np

import client, server   # the user's own modules, found first in the user's folder
from pix2pix_stream.client import TranslatorClient

assert client.WHO == "user client" and server.WHO == "user server"
for heavy in ("torch", "onnxruntime", "openvino", "tensorrt"):
    try:
        __import__(heavy)
    except ImportError:
        continue
    raise SystemExit(f"the client extra pulled {heavy}")
with TranslatorClient(sys.argv[1]) as translator:
    names = [model.name for model in translator.list_models()]
    out = translator.translate_image(np.full((64, 64, 3), 100, np.uint8), model="tiny")
print("models", names, "shape", out.shape, out.dtype)
"""


@pytest.fixture(scope="module")
def client_only_python(tmp_path_factory) -> Path:
    """A new venv holding the project installed (not editable) with only the client extra."""
    where = tmp_path_factory.mktemp("client-venv")
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", f"{ROOT}[client]"],
                             capture_output=True, text=True, timeout=900)
    if install.returncode != 0 and "No matching distribution" in install.stderr:
        pytest.skip(f"no package registry reachable for the fresh venv: {install.stderr[-300:]}")
    assert install.returncode == 0, install.stderr[-2000:]
    return python


@pytest.mark.slow
def test_client_extra_embeds_beside_user_modules_named_client_and_server(
        client_only_python, tmp_path, tiny_engines_root):
    project = tmp_path / "users_service"
    project.mkdir()
    (project / "client.py").write_text('WHO = "user client"\n')
    (project / "server.py").write_text('WHO = "user server"\n')
    (project / "main.py").write_text(textwrap.dedent(USER_CODE))
    running = start_server(ServerConfig(engines_dir=tiny_engines_root, address="127.0.0.1:0",
                                        backend="onnxruntime", inference_threads=1,
                                        metrics_port=0, grace_s=1.0))
    try:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        out = subprocess.run([str(client_only_python), "main.py", f"127.0.0.1:{running.port}"],
                             cwd=project, capture_output=True, text=True, timeout=120, env=env)
    finally:
        running.stop(0)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "'tiny'" in out.stdout and "shape (64, 64, 3) uint8" in out.stdout


def test_installed_top_level_names_are_only_pix2pix_stream():
    """What the installed distribution claims: one top-level package, pix2pix_stream."""
    import importlib.metadata as md

    top = md.distribution("pix2pix-stream").read_text("top_level.txt").split()
    assert top == ["pix2pix_stream"]
