"""Bearer-token authentication: every call must carry ``authorization: Bearer <token>``.

Health checks and reflection stay open on purpose: load balancers and Kubernetes gRPC probes
call Health without credentials, and reflection only describes the API (no data, no models).
"""
from __future__ import annotations

import hmac

import grpc

OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
                 "/grpc.reflection.v1.ServerReflection/")


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str, on_denied=None):
        self._expected = f"Bearer {token}".encode()
        self._on_denied = on_denied  # called with the method name, for metrics

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_SERVICES):
            return handler
        if self._authorized(details.invocation_metadata or ()):
            return handler
        if self._on_denied is not None:
            self._on_denied(details.method.rsplit("/", 1)[-1])
        return _denying(handler)

    def _authorized(self, metadata) -> bool:
        for key, value in metadata:
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._expected)
        return False


async def _deny(_request, context: grpc.aio.ServicerContext):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                        "missing or wrong credentials: send metadata 'authorization: Bearer <token>'")


def _denying(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that rejects the call before reading it."""
    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(_deny, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
