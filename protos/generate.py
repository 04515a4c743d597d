"""Regenerates the committed Python stubs from translator.proto.

    python -m pix2pix_stream.protos.generate          # write protos/translator_pb2*.py(i)
    python -m pix2pix_stream.protos.generate --check  # exit 1 when the committed stubs are out of date

Run from anywhere; paths are resolved from this file. The proto is compiled from a temporary tree
where it sits at ``pix2pix_stream/protos/translator.proto``, so that the generated gRPC module
imports ``pix2pix_stream.protos.translator_pb2`` (the installed name; the folder is ``protos/``).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

PROTOS = Path(__file__).resolve().parent
PROTO = "pix2pix_stream/protos/translator.proto"
OUTPUTS = ("translator_pb2.py", "translator_pb2.pyi", "translator_pb2_grpc.py")


def generate(out_dir: Path) -> None:
    """Writes the stubs into out_dir."""
    from grpc_tools import protoc  # dev-only dependency

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "src"
        (source / PROTO).parent.mkdir(parents=True)
        shutil.copyfile(PROTOS / "translator.proto", source / PROTO)
        built = Path(tmp) / "out"
        built.mkdir()
        args = ["protoc", f"-I{source}", f"--python_out={built}", f"--pyi_out={built}",
                f"--grpc_python_out={built}", str(source / PROTO)]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {PROTO}")
        for name in OUTPUTS:
            shutil.copyfile(built / "pix2pix_stream" / "protos" / name, out_dir / name)


def stale_outputs() -> list[str]:
    """Names of committed stubs whose content differs from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        return [name for name in OUTPUTS
                if (Path(tmp) / name).read_bytes() != _read(PROTOS / name)]


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    if parser.parse_args().check:
        stale = stale_outputs()
        if stale:
            print(f"out of date: {', '.join(stale)}; run python -m pix2pix_stream.protos.generate",
                  file=sys.stderr)
            return 1
        print("stubs up to date")
        return 0
    generate(PROTOS)
    print(f"wrote {', '.join(OUTPUTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
