"""Reliability tests run real servers on loopback (port 0) with the tiny real engines of
tests/conftest.py; the server fixtures are the server tests' own."""
from __future__ import annotations

from tests.server.conftest import make_server, server_config  # noqa: F401  (fixtures)
