"""The direction of dependencies, checked on the source: protos <- server, client; pix2pix never
imports gRPC; the server reaches models only through engines; the client needs no ML runtime.

Every import statement counts, including the lazy ones inside functions, because a lazy import
of the wrong package is still a dependency a user would have to install."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "pix2pix": {"grpc", "protos", "server", "client"},
    "engines": {"grpc", "protos", "server", "client"},
    "server": {"pix2pix", "client", "torch", "onnxruntime", "openvino", "tensorrt"},
    "client": {"pix2pix", "engines", "server", "torch", "onnxruntime", "openvino", "tensorrt"},
    "protos": {"pix2pix", "engines", "server", "client"},
}


def imported_top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package):
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        wrong = imported_top_level_names(path) & FORBIDDEN[package]
        if wrong:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(wrong)}")
    assert not violations, "\n".join(violations)


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
    assert {"tensorrt", "cuda-python"} <= names(extras["tensorrt"])
    assert "pytest" in names(extras["dev"])
    scripts = project["scripts"]
    assert {"pix2pix-train", "pix2pix-export", "pix2pix-serve", "pix2pix-client"} <= set(scripts)
