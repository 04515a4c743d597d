"""Web page tests: the bridge over a real WebSocket (aiohttp) to real servers serving the tiny
ONNX engines of tests/conftest.py; the browser test drives Debian's Chromium with Playwright."""
from __future__ import annotations

import pytest

from tests.client.conftest import serving


@pytest.fixture(scope="session")
def address(tiny_engines_root):
    with serving(tiny_engines_root) as running:
        yield f"127.0.0.1:{running.port}"


@pytest.fixture(scope="session")
def token_address(tiny_engines_root):
    with serving(tiny_engines_root, token="s3cret") as running:
        yield f"127.0.0.1:{running.port}"
