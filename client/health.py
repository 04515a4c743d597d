"""The standard gRPC health check (grpc.health.v1), sync and asyncio."""
from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pix2pix_stream.client.errors import ModelNotFoundError, from_rpc_error


def _status_name(reply: health_pb2.HealthCheckResponse) -> str:
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def _error(exc: grpc.RpcError, service: str, target: str) -> Exception:
    if exc.code() == grpc.StatusCode.NOT_FOUND:  # the health service's answer to an unknown name
        return ModelNotFoundError(f"the server reports no health for {service!r}",
                                  target=target, code=exc.code())
    return from_rpc_error(exc, target, "health check")


def check(channel: grpc.Channel, service: str, *, metadata, timeout: float, target: str) -> str:
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), metadata=metadata,
                           timeout=timeout)
    except grpc.RpcError as exc:
        raise _error(exc, service, target) from None
    return _status_name(reply)


async def check_async(channel: grpc.aio.Channel, service: str, *, metadata, timeout: float,
                      target: str) -> str:
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service),
                                 metadata=metadata, timeout=timeout)
    except grpc.RpcError as exc:
        raise _error(exc, service, target) from None
    return _status_name(reply)
