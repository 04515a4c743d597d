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
