"""Regenerates the committed Python stubs from translator.proto.

    python -m protos.generate          # write protos/translator_pb2*.py(i)
    python -m protos.generate --check  # exit 1 when the committed stubs are out of date

Run from anywhere; paths are resolved from this file. The proto is compiled with the repository
root as include path so that the generated gRPC module imports ``protos.translator_pb2``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PROTOS = Path(__file__).resolve().parent
ROOT = PROTOS.parent
PROTO = "protos/translator.proto"
OUTPUTS = ("translator_pb2.py", "translator_pb2.pyi", "translator_pb2_grpc.py")


def generate(out_root: Path) -> None:
    from grpc_tools import protoc  # dev-only dependency

    args = ["protoc", f"-I{ROOT}", f"--python_out={out_root}", f"--pyi_out={out_root}",
            f"--grpc_python_out={out_root}", str(ROOT / PROTO)]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {PROTO}")


def stale_outputs() -> list[str]:
    """Names of committed stubs whose content differs from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        return [name for name in OUTPUTS
                if (Path(tmp) / "protos" / name).read_bytes() != _read(PROTOS / name)]


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    if parser.parse_args().check:
        stale = stale_outputs()
        if stale:
            print(f"out of date: {', '.join(stale)}; run python -m protos.generate", file=sys.stderr)
            return 1
        print("stubs up to date")
        return 0
    generate(ROOT)
    print(f"wrote {', '.join(OUTPUTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
