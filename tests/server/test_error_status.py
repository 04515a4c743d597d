"""server.errors.status_for: every server error that can end a call has one status, and the
most specific class listed for an exception gives its status, whatever the table's order."""
from __future__ import annotations

import inspect

import grpc
import pytest

from pix2pix_stream.engines.runtime import errors as engine_errors
from pix2pix_stream.server import errors
from pix2pix_stream.server.errors import STATUS_CODES, status_for

# Raised while the server starts or by the base class only: no call is open to end.
NOT_FOR_CALLS = {errors.ServerError, errors.ConfigError, errors.StartupError}


def call_errors() -> list[type]:
    return [kind for kind in vars(errors).values() if inspect.isclass(kind)
            and issubclass(kind, errors.ServerError) and kind not in NOT_FOR_CALLS]


@pytest.mark.parametrize("kind", call_errors(), ids=lambda kind: kind.__name__)
def test_every_server_error_is_listed_under_one_status(kind):
    listed = [code for code, kinds in STATUS_CODES.items() if kind in kinds]
    assert len(listed) == 1
    assert status_for(kind("why")) == listed[0]


def test_no_class_is_listed_twice():
    listed = [kind for kinds in STATUS_CODES.values() for kind in kinds]
    assert len(listed) == len(set(listed))


def test_a_subclass_gets_its_own_status_before_its_bases():
    # InputError and EngineNotFoundError are EngineErrors, which are INTERNAL
    assert status_for(engine_errors.EngineError("why")) == grpc.StatusCode.INTERNAL
    assert status_for(engine_errors.InputError("why")) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_for(engine_errors.EngineNotFoundError("why")) == grpc.StatusCode.NOT_FOUND
    # a class not listed gets the status of its nearest listed base
    assert status_for(engine_errors.ProfileShapeError("why")) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_for(KeyError("anything else")) == grpc.StatusCode.INTERNAL

