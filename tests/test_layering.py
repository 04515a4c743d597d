"""The direction of dependencies, checked on the source (docs/ARCHITECTURE.md draws it):

    media (numpy, OpenCV, PyAV)  <-  everyone
    networks (torch)             <-  pix2pix (training), engines.build, the torch backend
    engines.runtime              <-  server, engines.build, pix2pix.cli
    protos                       <-  server, client
    pix2pix (training)           <-  engines.build, pix2pix.cli

Every import statement counts, including the lazy ones inside functions, because a lazy import
of the wrong package is still a dependency a user would have to install. Project imports are
named by their installed names (pix2pix_stream.client, ...); the folders' own names (client,
server, ...) would collide with a user's modules and are never imported."""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "pix2pix_stream"
FOLDERS = ("media", "networks", "pix2pix", "engines", "server", "client", "protos")
HEAVY = {"torch", "onnxruntime", "openvino", "tensorrt", "cuda", "onnx", "onnxconverter_common"}

# Folder (or subfolder) -> the project parts it may import (its own folder always allowed).
ALLOWED_PARTS = {
    "media": set(),
    "networks": set(),
    "engines": set(),
    "protos": set(),
    "pix2pix": {"media", "networks"},
    "pix2pix/cli": {"media", "networks", "pix2pix", "engines.runtime", "engines.build"},
    "engines/runtime": {"media", "engines.runtime", "networks"},
    "engines/build": {"media", "networks", "engines.runtime", "engines.build", "pix2pix"},
    "server": {"media", "protos", "engines.runtime"},
    "client": {"media", "protos"},
}
# Folder -> third-party packages it must never import.
FORBIDDEN_PACKAGES = {
    "media": HEAVY | {"grpc", "google", "PIL", "tensorboard"},
    "networks": {"grpc", "google", "onnxruntime", "openvino", "tensorrt", "cv2", "av"},
    "protos": HEAVY | {"cv2", "av"},
    "pix2pix": {"grpc", "google"},
    "pix2pix/cli": {"grpc", "google"},
    "engines": HEAVY | {"grpc", "google"},
    "engines/runtime": {"grpc", "google"},
    "engines/build": {"grpc", "google"},
    "server": HEAVY | {"PIL"},  # frame codecs are the media layer's (OpenCV)
    "client": HEAVY | {"PIL"},
}
# Only these runtime modules may import a heavy package: each is imported only when chosen.
HEAVY_ALLOWED_IN_RUNTIME = {"backends", "graph.py", "fp16.py", "quality.py", "tensorrt_build.py",
                            "tensorrt_plan.py", "onnx_graph.py", "uint8_io.py", "hardware.py",
                            "model_card.py"}


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """(dotted module, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == PROJECT:
                found += [(f"{PROJECT}.{alias.name}", id(node) in top_level) for alias in node.names]
            else:
                found.append((node.module, id(node) in top_level))
    return found


def rule_for(path: Path) -> str:
    """The most specific key of ALLOWED_PARTS that contains the file."""
    relative = path.relative_to(ROOT).as_posix()
    return max((key for key in ALLOWED_PARTS if relative.startswith(key + "/")), key=len)


def part_of(module: str) -> str:
    """pix2pix_stream.engines.runtime.registry -> engines.runtime; pix2pix_stream.client.x -> client."""
    parts = module.split(".")[1:]
    if parts[:1] == ["engines"] and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0] if parts else ""


def own_part(key: str) -> str:
    """The part a folder's files belong to: engines/runtime -> engines.runtime, pix2pix/cli -> pix2pix."""
    return "pix2pix" if key == "pix2pix/cli" else key.replace("/", ".")


def violations_in(path: Path) -> list[str]:
    key = rule_for(path)
    folder = key.split("/")[0]
    found = []
    for module, _ in imports_of(path):
        top = module.split(".")[0]
        if top in FOLDERS:
            found.append(f"imports {module!r}: use the installed name {PROJECT}.{module}")
        elif top == PROJECT:
            part = part_of(module)
            if part and part not in ALLOWED_PARTS[key] | {own_part(key)}:
                found.append(f"imports {module} ({key} may import {sorted(ALLOWED_PARTS[key])})")
        elif top in FORBIDDEN_PACKAGES[key]:
            found.append(f"imports {top}")
    return found


def project_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", FOLDERS)
def test_each_folder_imports_only_what_its_layer_allows(folder):
    violations = [f"{path.relative_to(ROOT)} {what}" for path in project_files(folder)
                  for what in violations_in(path)]
    assert not violations, "\n".join(violations)


def test_runtime_imports_heavy_packages_only_in_modules_chosen_at_run_time():
    """engines/runtime's registry, backend interface and metadata are what the server imports
    at start-up: they must not pull torch, onnxruntime, TensorRT or OpenVINO."""
    violations = []
    for path in project_files("engines/runtime"):
        relative = path.relative_to(ROOT / "engines/runtime")
        if relative.parts[0] in HEAVY_ALLOWED_IN_RUNTIME:
            continue
        for module, _ in imports_of(path):
            if module.split(".")[0] in HEAVY:
                violations.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not violations, "\n".join(violations)


def test_the_rules_catch_a_violation(tmp_path):
    """The checker itself: a server module importing training code is reported."""
    bad = ROOT / "server" / "_layering_probe.py"
    assert not bad.exists()
    try:
        bad.write_text("from pix2pix_stream.pix2pix.train import train\nimport torch\nimport client\n")
        found = violations_in(bad)
    finally:
        bad.unlink()
    assert len(found) == 3, found


@pytest.mark.parametrize("folder", ["bench", "scripts"])
def test_tools_import_the_installed_package_not_paths_or_tests(folder):
    """bench/ and scripts/ run against the installed package: no sys.path edits, no tests.*."""
    violations = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        text = path.read_text()
        if "sys.path.insert" in text or "sys.path.append" in text:
            violations.append(f"{path.relative_to(ROOT)} edits sys.path")
        for module, _ in imports_of(path):
            if module.split(".")[0] in set(FOLDERS) | {"tests"}:
                violations.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not violations, "\n".join(violations)


def test_every_folder_is_installed_under_the_project_name():
    """setup.py maps each folder to pix2pix_stream.<folder>; a new folder must be listed."""
    text = (ROOT / "setup.py").read_text()
    for folder in FOLDERS:
        assert f'"{folder}"' in text, f"setup.py does not install {folder}/"


def test_each_extra_installs_what_its_users_need_and_no_more():
    """pyproject's extras: the client alone pulls no torch and no onnxruntime; training pulls
    torch and tensorboard; serving pulls onnxruntime; GPU hosts get tensorrt from its extra."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements):
        return {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in requirements}

    core, extras = names(project["dependencies"]), project["optional-dependencies"]
    client = core | names(extras["client"])
    assert not client & {"torch", "onnxruntime", "onnxruntime-gpu", "tensorrt", "openvino"}
    assert {"torch", "tensorboard"} <= names(extras["train"])
    assert "onnxruntime" in names(extras["serve"]) and "torch" not in names(extras["serve"])
    assert any(name.startswith("tensorrt") for name in names(extras["tensorrt"]))
    # one CUDA major per GPU extra: its TensorRT wheel and cuda-python pinned to the same major
    for extra, major in (("tensorrt", 12), ("tensorrt-cu13", 13)):
        pins = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower(): r for r in extras[extra]}
        assert f"tensorrt-cu{major}" in pins, extra
        assert pins["cuda-python"].replace(" ", "") == f"cuda-python>={major}.0,<{major + 1}", extra
    assert "pytest" in names(extras["dev"])
    scripts = project["scripts"]
    assert {"pix2pix-train", "pix2pix-export", "pix2pix-serve", "pix2pix-client"} <= set(scripts)
    assert all(target.startswith(f"{PROJECT}.") for target in scripts.values())


def test_stdlib_names_do_not_shadow():
    """No folder is named like a standard-library module (it would shadow it in the repo)."""
    assert not set(FOLDERS) & set(sys.stdlib_module_names)
