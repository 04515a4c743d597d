"""The local web app of ``pix2pix-client web``: serves the page (static/) and its WebSocket.

It binds to 127.0.0.1 by default: the page shows a camera, and whoever reaches the port can
use the gRPC service with this client's token."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, web

from pix2pix_stream.client.async_client import AsyncTranslatorClient
from pix2pix_stream.client.config import ClientConfig
from pix2pix_stream.client.frames import TEMPORAL_FILTERS
from pix2pix_stream.client.web.bridge import BridgeTimings, LiveSession

_CLIENT = web.AppKey("client", AsyncTranslatorClient)
_CONFIG = web.AppKey("config", object)
_SOCKETS = web.AppKey("sockets", set)


@dataclass(frozen=True)
class WebConfig:
    client: ClientConfig = field(default_factory=ClientConfig)
    model: str | None = None         # the model the page starts with; None = the first listed
    host: str = "127.0.0.1"
    port: int = 8080                 # 0 = a free port
    timings: BridgeTimings = field(default_factory=BridgeTimings)
    temporal: str = "off"            # the server's temporal filter the page starts with

    def __post_init__(self):
        if self.temporal not in TEMPORAL_FILTERS:
            raise ValueError(f"temporal must be one of {', '.join(TEMPORAL_FILTERS)}, "
                             f"got {self.temporal!r}")


CLOSE_TIMEOUT_S = 2.0
SHUTDOWN_TIMEOUT_S = 3.0


def static_dir() -> Path:
    """The page's files, shipped as package data."""
    return Path(str(resources.files("pix2pix_stream.client.web") / "static"))


def make_app(config: WebConfig) -> web.Application:
    app = web.Application()
    app[_CONFIG] = config
    app[_SOCKETS] = set()
    app.cleanup_ctx.append(_client_context)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/", _index)
    app.router.add_get("/ws", _socket)
    app.router.add_static("/static/", static_dir())
    return app


async def _client_context(app: web.Application):
    """One gRPC channel for every page, opened in the app's event loop (grpc.aio binds a
    channel to the loop it is made in) and closed when the app stops."""
    client = AsyncTranslatorClient(app[_CONFIG].client)
    app[_CLIENT] = client
    yield
    await client.close()


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(static_dir() / "index.html")


async def _socket(request: web.Request) -> web.WebSocketResponse:
    # Browsers let any site open a WebSocket to localhost; only this app's own page may use
    # the service (and the token) through it.
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise web.HTTPForbidden(text=f"WebSocket from another site ({origin}) refused")
    # timeout: how long closing waits for the page's answer (Ctrl-C closes every page).
    ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024, timeout=CLOSE_TIMEOUT_S)
    await ws.prepare(request)
    config = request.app[_CONFIG]
    request.app[_SOCKETS].add(ws)
    try:
        await LiveSession(ws, request.app[_CLIENT], config.model, config.timings,
                          config.temporal).run()
    finally:
        request.app[_SOCKETS].discard(ws)
    return ws


async def _close_sockets(app: web.Application) -> None:
    """Open pages would otherwise hold the shutdown (Ctrl-C) until aiohttp's timeout."""
    for ws in list(app[_SOCKETS]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"pix2pix-client web stopped")


async def serve(config: WebConfig, ready: Callable[[str], None] = print) -> None:
    """Runs until cancelled; ``ready`` gets the page's URL once the port is bound."""
    # A page's handler that does not end once its socket is closed may hold Ctrl-C this long
    # (aiohttp's default is 60 s).
    runner = web.AppRunner(make_app(config), shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        port = runner.addresses[0][1]
        host = f"[{config.host}]" if ":" in config.host else config.host
        ready(f"http://{host}:{port}/")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
