"""Bearer-token authentication: every call must carry ``authorization: Bearer <token>``.

Health checks and reflection stay open on purpose: load balancers and Kubernetes gRPC probes
call Health without credentials, and reflection only describes the API (no data, no models).

The scheme is matched case-insensitively (RFC 7235: "bearer" is "Bearer"); the token itself
exactly, in constant time. A server may accept several tokens (one per client or team, given
comma-separated); per-token stream caps (server.admission) then tell the holders apart.
Refused calls are logged with the peer and the method, never with the token text, and at most
once per LOG_INTERVAL_S per peer, so a client retrying with a wrong token cannot flood the log.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time

import grpc

OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/",
                 "/grpc.reflection.v1.ServerReflection/")
LOG_INTERVAL_S = 10.0
log = logging.getLogger("pix2pix.server")


def split_tokens(token: str | None) -> tuple[str, ...]:
    """The accepted tokens of a --token value: comma-separated, blanks ignored."""
    return tuple(t.strip() for t in (token or "").split(",") if t.strip())


def token_fingerprint(token: str) -> str:
    """A name for a token that is safe to log and to use as a metrics or cap key."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:8]


def presented_token(metadata) -> str | None:
    """The token of an ``authorization: Bearer ...`` header (any case of the scheme), or None."""
    for key, value in metadata or ():
        if key != "authorization":
            continue
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return None


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str, on_denied=None):
        self._expected = [t.encode() for t in split_tokens(token)]
        self._on_denied = on_denied  # called with the method name, for metrics
        self._last_logged: dict[str, float] = {}

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_SERVICES):
            return handler
        if self._authorized(details.invocation_metadata or ()):
            return handler
        method = details.method.rsplit("/", 1)[-1]
        if self._on_denied is not None:
            self._on_denied(method)
        return _denying(handler, lambda peer: self._log_refusal(peer, method))

    def _authorized(self, metadata) -> bool:
        token = presented_token(metadata)
        if token is None:
            return False
        given = token.encode()
        # Compare with every token, not stopping at a match, so timing says nothing about which.
        return sum(hmac.compare_digest(given, expected) for expected in self._expected) > 0

    def _log_refusal(self, peer: str, method: str) -> None:
        host = peer.rpartition(":")[0] or peer
        now = time.monotonic()
        if now - self._last_logged.get(host, -LOG_INTERVAL_S) < LOG_INTERVAL_S:
            return
        if len(self._last_logged) > 10_000:  # many peers: forget the old ones, stay bounded
            self._last_logged.clear()
        self._last_logged[host] = now
        log.warning("refused %s from %s: missing or wrong credentials (further refusals of "
                    "this peer are not logged for %.0f s)", method, peer, LOG_INTERVAL_S)


def _denying(handler: grpc.RpcMethodHandler, on_refused) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that rejects the call before reading it."""
    async def deny(_request, context: grpc.aio.ServicerContext):
        on_refused(context.peer())
        await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                            "missing or wrong credentials: send metadata "
                            "'authorization: Bearer <token>'")

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(deny, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
