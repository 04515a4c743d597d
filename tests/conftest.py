"""Fixtures shared by every test area. Area-specific fixtures live in tests/<area>/conftest.py."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("PIX2PIX_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the project root; tests that need it skip cleanly when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    # The CI machine has 2 cores; keep torch from oversubscribing when a test runs a server too.
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(min(2, os.cpu_count() or 1))


# --- engines: small real engines for the server and client tests --------------------------------
TINY_ENGINE_SIZE = 128


@pytest.fixture(scope="session")
def tiny_engines_root(tmp_path_factory) -> Path:
    """A folder with two real exported engines (untrained unet_128, ngf 8, randomised BatchNorm
    statistics, 128x128, about 2.6 MB each): ``tiny`` (no input transform) and ``tiny-canny``
    (Canny edges input transform). Without the int8 artifact, so ``auto`` does not pick the int8
    route; load with an explicit backend ("onnxruntime") to compare bytes."""
    from pix2pix_stream.engines.build.export import export_generator
    from pix2pix_stream.engines.build.synthetic import synthetic_generator
    from pix2pix_stream.media.transforms import InputTransform

    root = tmp_path_factory.mktemp("engines")
    export_generator(synthetic_generator("unet_128", ngf=8, seed=1), root / "tiny", name="tiny",
                     input_size=TINY_ENGINE_SIZE, description="untrained test engine")
    export_generator(synthetic_generator("unet_128", ngf=8, seed=2), root / "tiny-canny",
                     name="tiny-canny", input_size=TINY_ENGINE_SIZE,
                     input_transform=InputTransform("canny", {"low": 50, "high": 150}),
                     description="untrained test engine with a canny input transform")
    return root


@pytest.fixture(scope="session")
def tiny_engine_dir(tiny_engines_root) -> Path:
    """One real engine directory (``tiny`` of tiny_engines_root): load it with
    pix2pix_stream.engines.runtime.registry.load_backend(tiny_engine_dir, "onnxruntime")."""
    return tiny_engines_root / "tiny"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 and its key (openssl command line)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key
