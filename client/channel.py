"""Builds gRPC channels (sync and asyncio) from a ClientConfig: target syntax for several
replicas, round_robin load balancing, retries on UNAVAILABLE, message size, keepalive, TLS."""
from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path

import grpc

from pix2pix_stream.client.config import ClientConfig
from pix2pix_stream.client.errors import InputFileError, ServerUnavailableError

SERVICE = "pix2pix.v1.Translator"
HEALTH_SERVICE = "grpc.health.v1.Health"
USER_AGENT = "pix2pix-client/0.1"


def service_config(config: ClientConfig) -> str:
    """round_robin spreads calls over every address the target resolves to (each call picks
    the next ready server, so one client's streams land on all replicas); the retry policy
    replays calls that fail UNAVAILABLE before any reply came (a server restarting, a replica
    that just went away)."""
    method_config = {"name": [{"service": SERVICE}, {"service": HEALTH_SERVICE}]}
    if config.max_attempts > 1:
        method_config["retryPolicy"] = {
            "maxAttempts": config.max_attempts,
            "initialBackoff": "0.1s",
            "maxBackoff": "2s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }
    return json.dumps({"loadBalancingConfig": [{"round_robin": {}}],
                       "methodConfig": [method_config]})


def channel_target(config: ClientConfig) -> str:
    """One address or URI passes through; a list becomes ``ipv4:a:p,b:p`` (or ``ipv6:``), the
    C core's syntax for a static address list, since Python cannot register a custom resolver.
    Host names in a list are resolved once, here."""
    addresses = config.addresses
    if len(addresses) == 1:
        return addresses[0]
    resolved = [_resolve(a, config) for a in addresses]
    if all(isinstance(ip, ipaddress.IPv4Address) for ip, _ in resolved):
        return "ipv4:" + ",".join(f"{ip}:{port}" for ip, port in resolved)
    if all(isinstance(ip, ipaddress.IPv6Address) for ip, _ in resolved):
        return "ipv6:" + ",".join(f"[{ip}]:{port}" for ip, port in resolved)
    raise ServerUnavailableError("a list of servers must be all IPv4 or all IPv6 addresses",
                                 target=config.display_target)


def _resolve(address: str, config: ClientConfig) -> tuple[ipaddress._BaseAddress, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ServerUnavailableError(f"{address!r} is not HOST:PORT", target=config.display_target)
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host), int(port)
    except ValueError:
        pass
    try:  # prefer IPv4 so that a list of names and IPv4 literals can be mixed
        infos = sorted(socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM),
                       key=lambda info: info[0] != socket.AF_INET)
    except OSError as exc:
        raise ServerUnavailableError(f"cannot resolve {host!r}: {exc}",
                                     target=config.display_target) from exc
    return ipaddress.ip_address(infos[0][4][0]), int(port)


def channel_options(config: ClientConfig) -> list[tuple[str, object]]:
    options: list[tuple[str, object]] = [
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.keepalive_time_ms", int(config.keepalive_time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(config.keepalive_timeout_s * 1000)),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", service_config(config)),
        # Reconnect quickly to a server that is (re)starting; the default first wait is 1 s.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 5000),
        ("grpc.primary_user_agent", USER_AGENT),
    ]
    server_name = config.tls_server_name or _first_host_name(config)
    if config.tls and server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return options


def _first_host_name(config: ClientConfig) -> str | None:
    """A list of replicas is dialled by IP; their certificates carry the host name given."""
    if len(config.addresses) < 2:
        return None
    for address in config.addresses:
        host = address.rpartition(":")[0].strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return host
    return None


def channel_credentials(config: ClientConfig) -> grpc.ChannelCredentials | None:
    if not config.tls:
        return None
    if config.tls is True:
        return grpc.ssl_channel_credentials()
    path = Path(config.tls)
    try:
        root = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read TLS root certificate {path}: {exc.strerror}",
                             target=config.display_target) from exc
    return grpc.ssl_channel_credentials(root_certificates=root)


def call_metadata(config: ClientConfig) -> tuple[tuple[str, str], ...]:
    # Sent as plain metadata rather than call credentials: gRPC refuses call credentials on
    # plaintext channels, and a token over plaintext is still useful inside a private network.
    return (("authorization", f"Bearer {config.token}"),) if config.token else ()


def open_channel(config: ClientConfig) -> grpc.Channel:
    target, creds, options = channel_target(config), channel_credentials(config), channel_options(config)
    if creds is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, creds, options=options)


def open_aio_channel(config: ClientConfig) -> grpc.aio.Channel:
    target, creds, options = channel_target(config), channel_credentials(config), channel_options(config)
    if creds is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, creds, options=options)


def unreachable(config: ClientConfig) -> ServerUnavailableError:
    return ServerUnavailableError(
        f"no connection within {config.connect_timeout_s:g} s (is the server running and "
        f"reachable{', and speaking TLS' if config.tls else ''}?)",
        target=config.display_target, code=grpc.StatusCode.UNAVAILABLE)
